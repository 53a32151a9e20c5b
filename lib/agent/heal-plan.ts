/**
 * Heal planning, pure: from a scan of mount namespaces, which lxcfs mounts the
 * agent may re-attach, which it must probe first, and which it refuses (vocabulary:
 * agent.ts).
 *
 * The plan only narrows what is worth sending: the helper checks every request's
 * mount ID again right before acting, so a plan built on a stale scan fails safe.
 */
import { carriedAttributes, LXCFS_FSTYPE, MountEntry, topMounts } from './mountinfo';
import { HelperRequest, isCanonicalPath, MAX_PIDS, requestProblem } from './protocol';
import { NamespaceMounts } from './scan';

export interface PlanContext {
  /** This agent's lxcfs: mounts on it need nothing. */
  readonly ownDevice: string;
  /** Only lxcfs mounts of this FUSE source are considered (heal-scope state-dir). */
  readonly scopeSource?: string;
  /** Live lxcfs instances being taken over: device → FUSE source. */
  readonly takeover: ReadonlyMap<string, string>;
  /** Agents' private lxcfs mounts live here (in any agent's namespace): never a container's. */
  readonly instancesDir: string;
  /** The host path; in the agent's and the host's namespace it is handled separately. */
  readonly lxcfsPath: string;
  /** The agent's and the host's mount namespaces. */
  readonly agentNamespaces: ReadonlySet<string>;
}

/** A mount of one namespace, with what the agent plans for it. */
export interface Candidate {
  readonly ns: NamespaceMounts;
  readonly mount: MountEntry;
  /** `namespace mountID`: the identity of this mount across passes. */
  readonly key: string;
}

export interface Refusal {
  readonly key: string;
  readonly namespace: string;
  readonly mountPoint: string;
  readonly reason: string;
}

export interface NamespacePlan {
  /** Mounts on an lxcfs being taken over: re-attach without probing. */
  readonly takeover: Candidate[];
  /** Mounts on some other lxcfs: re-attach only if a probe finds it dead. */
  readonly probe: Candidate[];
  /** Mounts the agent will not act on, and why. */
  readonly refused: Refusal[];
  /**
   * Mounts on this agent's own lxcfs, each of which the agent would re-attach if that lxcfs died:
   * kept between passes, they let a restart re-attach without reading any mount table first.
   */
  readonly own: Candidate[];
}

/** lxcfs serves a fixed set of plain names; anything else in a mount's root is not an lxcfs file. */
const LXCFS_ROOT = /^\/(?:[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*)?$/;

export function planNamespace(ns: NamespaceMounts, ctx: PlanContext): NamespacePlan {
  const plan: NamespacePlan = { takeover: [], probe: [], refused: [], own: [] };
  const inAgentNamespace = ctx.agentNamespaces.has(ns.namespace);
  // Stacking is judged over the whole table: a container's own file over an lxcfs file hides it.
  for (const m of topMounts(ns.mounts)) {
    if (m.fsType !== LXCFS_FSTYPE) continue;
    if (ctx.scopeSource !== undefined && m.source !== ctx.scopeSource) continue;
    if (isUnder(m.mountPoint, ctx.instancesDir)) continue;
    if (inAgentNamespace && m.mountPoint === ctx.lxcfsPath) continue;
    const key = `${ns.namespace} ${m.mountId}`;
    const why = refusalReason(m);
    if (m.device === ctx.ownDevice) {
      // Healthy now; refused later, from a fresh table, if it ever needs healing.
      if (why === undefined) plan.own.push({ ns, mount: m, key });
      continue;
    }
    if (why !== undefined) {
      plan.refused.push({ key, namespace: ns.namespace, mountPoint: m.mountPoint, reason: why });
      continue;
    }
    const c = { ns, mount: m, key };
    if (ctx.takeover.get(m.device) === m.source) plan.takeover.push(c);
    else plan.probe.push(c);
  }
  return plan;
}

/** Why a mount cannot be named to the helper exactly (so the agent must not act on it). */
export function refusalReason(m: MountEntry): string | undefined {
  if (!m.exact) return 'its mount point or root is not valid UTF-8, so it cannot be named exactly';
  if (!isCanonicalPath(m.mountPoint)) return 'its mount point is not an absolute canonical path the helper accepts (too long?)';
  if (!LXCFS_ROOT.test(m.root) || m.root.split('/').some((c) => c === '.' || c === '..')) return `its root ${JSON.stringify(m.root)} is not a file lxcfs serves`;
  return undefined;
}

/**
 * For probing: one candidate per device not decided yet, skipping candidates already tried
 * (a probe that met a changed mount or an exited namespace says nothing about the device).
 */
export function nextProbes(candidates: readonly Candidate[], decided: ReadonlySet<string>, tried: ReadonlySet<string>): Candidate[] {
  const picked = new Map<string, Candidate>();
  for (const c of candidates) {
    const dev = deviceKey(c.mount);
    if (decided.has(dev) || picked.has(dev) || tried.has(c.key)) continue;
    picked.set(dev, c);
  }
  return [...picked.values()];
}

/** Device numbers are reused as soon as a FUSE connection ends: with its source, it names one lxcfs. */
export function deviceKey(m: MountEntry): string {
  return `${m.device} ${m.source}`;
}

/** The request that checks whether the lxcfs behind a candidate still answers. */
export function checkRequest(c: Candidate, namespaceInode: bigint): HelperRequest {
  return { mode: 'check', pids: entryPids(c.ns), namespaceInode, mountId: c.mount.mountId, device: c.mount.device, source: '', target: c.mount.mountPoint, attributes: [] };
}

/** The request that re-attaches a candidate to the lxcfs mounted at `instanceMountDir`. */
export function replaceRequest(c: Candidate, namespaceInode: bigint, instanceMountDir: string): HelperRequest {
  const source = c.mount.root === '/' ? instanceMountDir : `${instanceMountDir}${c.mount.root}`;
  return {
    mode: 'replace',
    pids: entryPids(c.ns),
    namespaceInode,
    mountId: c.mount.mountId,
    device: c.mount.device,
    source,
    target: c.mount.mountPoint,
    // A read-only injection stays read-only: the helper fails the request rather than drop `ro`.
    attributes: carriedAttributes(c.mount.options),
  };
}

/** Requests the helper would refuse are dropped here, with the reason. */
export function splitExpressible(requests: readonly HelperRequest[]): { ok: HelperRequest[]; refused: { request: HelperRequest; reason: string }[] } {
  const ok: HelperRequest[] = [];
  const refused: { request: HelperRequest; reason: string }[] = [];
  for (const r of requests) {
    const reason = requestProblem(r);
    if (reason === undefined) ok.push(r);
    else refused.push({ request: r, reason });
  }
  return { ok, refused };
}

function entryPids(ns: NamespaceMounts): readonly number[] {
  return ns.pids.length <= MAX_PIDS ? ns.pids : ns.pids.slice(0, MAX_PIDS);
}

export function isUnder(p: string, dir: string): boolean {
  return p === dir || p.startsWith(`${dir}/`);
}
