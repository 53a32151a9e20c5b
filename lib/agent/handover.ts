/**
 * The handover between an old and a new agent on one node, as pure decisions over the node
 * state (state.ts): who serves the host path, when an agent that is told to stop may stop its
 * lxcfs, and what it leaves behind. agent.ts reads the state, asks here, and acts; keeping the
 * rules apart lets them be tested without root, lxcfs or a second process.
 *
 * The states of one agent towards the node:
 * - serving: the serving record names our lxcfs instance; our reconciles heal the node;
 * - superseded: a live newer agent's record replaced ours; we stop healing and wait to be stopped;
 * - claiming: no record, a record of a dead agent, or (on our first pass) a live predecessor's:
 *   we write ours, and take over the predecessor's still-live lxcfs mounts.
 */
import type { ServingRecord } from './state';

/** Who we are, as the serving record and the agents directory name us. */
export interface OwnAgent {
  readonly pid: number;
  readonly instance: string;
  readonly startedAt: number;
}

export type ProcessAlive = (pid: number) => boolean;

/** What a reconcile pass does about the serving record, decided under the node lock. */
export type ServingDecision =
  /** Another live agent serves the node: stop healing, it does. */
  | { readonly kind: 'superseded'; readonly by: number }
  /** Write our own record, and take over the mounts of a live predecessor's lxcfs when there is one. */
  | { readonly kind: 'claim'; readonly takeover?: { readonly pid: number; readonly device: string; readonly source: string } }
  /** The record is ours already. */
  | { readonly kind: 'serve' };

/**
 * `claim` is true on the agent's first pass after its lxcfs serves: a new agent replaces the
 * record of a live old one (the takeover); later passes yield to whichever newer agent did that
 * to them. A record written by this very process (an earlier lxcfs of ours) is never a predecessor.
 */
export function decideServing(serving: ServingRecord | undefined, own: OwnAgent, claim: boolean, alive: ProcessAlive): ServingDecision {
  if (serving === undefined) return { kind: 'claim' };
  if (serving.instance === own.instance) return { kind: 'serve' };
  const liveOther = serving.pid !== own.pid && alive(serving.pid);
  if (!liveOther) return { kind: 'claim' };
  if (!claim) return { kind: 'superseded', by: serving.pid };
  return { kind: 'claim', takeover: { pid: serving.pid, device: serving.device, source: serving.source } };
}

/** One look, while told to stop, at whether to keep serving for a successor that is starting. */
export type SuccessorWait =
  /** Stop now: nobody is taking over, or the successor has every mount (or died trying). */
  | { readonly kind: 'stop' }
  /** A successor has our record but has not moved every mount yet. */
  | { readonly kind: 'wait-attached' }
  /** Newer agents are starting and have not taken over yet. */
  | { readonly kind: 'wait-successor'; readonly successors: readonly number[] };

export function successorWait(
  serving: ServingRecord | undefined,
  own: OwnAgent,
  otherAgents: readonly { readonly pid: number; readonly startedAt: number }[],
  alive: ProcessAlive,
): SuccessorWait {
  if (serving === undefined) return { kind: 'stop' };
  if (serving.instance !== own.instance) {
    return serving.attached !== false || !alive(serving.pid) ? { kind: 'stop' } : { kind: 'wait-attached' };
  }
  // Agents started before us are older ones on their way out, never our successors.
  const successors = otherAgents.filter((a) => a.startedAt >= own.startedAt).map((a) => a.pid);
  return successors.length === 0 ? { kind: 'stop' } : { kind: 'wait-successor', successors };
}

/** At shutdown, under the node lock: what the host path needs from the stopping agent. */
export type StopDecision =
  /** Ours and nobody took over: detach the host path and clear the record. */
  | { readonly kind: 'detach' }
  /** Another agent serves: leave its mounts, wait for ours to be released, then drain. */
  | { readonly kind: 'handed-over'; readonly to: number }
  /** No record: this agent never served. */
  | { readonly kind: 'never-served' };

export function decideStop(serving: ServingRecord | undefined, own: Pick<OwnAgent, 'instance'>): StopDecision {
  if (serving === undefined) return { kind: 'never-served' };
  if (serving.instance === own.instance) return { kind: 'detach' };
  return { kind: 'handed-over', to: serving.pid };
}
