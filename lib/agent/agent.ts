/**
 * The node agent: keeps one lxcfs serving at the lxcfs path and keeps every
 * container's lxcfs mounts attached to it — after lxcfs restarts (stale
 * mounts answer ENOTCONN) and when a new agent takes over from an old one
 * during a rolling update (the old lxcfs is still alive, but about to stop).
 *
 * Vocabulary, used the same way in every module of the agent:
 * - re-attach: put a fresh lxcfs file in place of one lxcfs mount (helper `replace`);
 * - heal: re-attach every dead lxcfs mount of every container (heal.ts, planned by heal-plan.ts);
 * - takeover: re-attach every mount of a predecessor's still-live lxcfs to ours;
 * - reconcile: one pass under the node lock — the host path first (mount-ops.ts), then heal and takeover.
 *
 * Parts: supervision of lxcfs and acting on the handover between agents (here; its rules in
 * handover.ts), lxcfs processes
 * (lxcfs.ts), restart policy (backoff.ts), the helper and its wire format (helper.ts,
 * protocol.ts, native/), mountinfo (mountinfo.ts, scan.ts), node state and lock (state.ts),
 * health (health.ts), metrics (metrics.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import { getHeapStatistics } from 'v8';
import { DEFAULT_BACKOFF, RestartBackoff } from './backoff';
import { HealPhases, Healer } from './heal';
import { decideServing, decideStop, OwnAgent, successorWait } from './handover';
import { isUnder } from './heal-plan';
import { startHealthServer, HealthSource } from './health';
import { HelperOutcome, MAX_PARALLEL_HELPERS, MountHelper } from './helper';
import { LxcfsInstance, removeInstanceDir } from './lxcfs';
import { AgentMetrics } from './metrics';
import { MountOps } from './mount-ops';
import { LXCFS_FSTYPE, stackAt, topMounts } from './mountinfo';
import { mountNamespaceOf, readMounts, scanNamespaces } from './scan';
import { NodeState, processAlive } from './state';
import type { LineLog } from '../log';

export interface AgentConfig {
  readonly lxcfsPath: string;
  readonly lxcfsBinary: string;
  /** Final lxcfs flags (without -f, -p and the mount point, which the agent adds). */
  readonly lxcfsArgs: readonly string[];
  readonly helperPath: string;
  readonly stateDir: string;
  readonly reconcileIntervalMs: number;
  /**
   * Set with --heal-scope=state-dir (otherwise every dead lxcfs mount on the node is healed): the FUSE source name (`-o fsname=`) every lxcfs of this state dir
   * gets, so that its mounts can be told from other lxcfs setups' in any mountinfo (device numbers
   * are reused as soon as they are free, so they cannot tell them apart).
   */
  readonly scopeSource?: string;
  readonly healthAddress: string;
  readonly healthPort: number;
  /** When set, this file exists exactly while the agent is ready (for an exec readiness probe). */
  readonly readyFile?: string;
  /** The host's cgroup namespace when the agent runs in another one; lxcfs is started in it. */
  readonly cgroupNamespace?: string;
  /** lxcfs restarts allowed in a row before each start waits (see backoff.ts). */
  readonly restartBurst?: number;
  readonly log: LineLog;
}

interface ReconcileSummary {
  readonly healed: number;
  readonly failed: number;
  /** Failed mounts that will be tried again (host path, or targets not given up on). */
  readonly pending: number;
  /** Container mounts given up on after repeated failures (they stay until their pod is recreated). */
  readonly givenUp: number;
  readonly namespaces: number;
  readonly seconds: number;
  /** CPU time of the agent's own thread during the pass (helpers not included). */
  readonly cpuMs: number;
  /** Where the pass spent its time (ms), for /status and the benchmark. */
  readonly phases: PassPhases;
  /** Container mounts on this agent's lxcfs that it knows without a scan (re-attached first if that lxcfs dies). */
  readonly indexed: number;
}

interface PassPhases extends HealPhases {
  readonly hostPathMs: number;
}

const QUICK_RETRIES = 5;
/** How long an agent told to stop waits for a newer agent to take over (keep below the pod's grace period). */
const SUCCESSOR_WAIT_MS = 20000;
/** Retry delay while mounts are pending (the agent is not ready until they are attached). */
const PENDING_RETRY_MS = 200;
/** How long an agent that was taken over waits for the last mounts on its lxcfs to move before stopping it. */
const RELEASE_WAIT_MS = 5000;
/**
 * Grace for reads in flight on the old lxcfs after a handover. lxcfs exits by itself once its last
 * mount and open file are gone, but only 1.5 s or more later, so this also bounds a slow exit.
 */
const DRAIN_MS = 3000;

export class Agent implements HealthSource {
  readonly metrics = new AgentMetrics();
  private readonly state: NodeState;
  private readonly helper: MountHelper;
  private healingSupported = false;
  private healingProblem = '';
  private instance: LxcfsInstance | undefined;
  private superseded = false;
  private supersededBy: number | undefined;
  private firstReconcileDone = false;
  /**
   * Mounts the last pass failed to re-attach and will try again (targets given up on after
   * MAX_TARGET_FAILURES attempts are not counted). The agent is ready only at zero: during a
   * handover the old lxcfs must keep serving those mounts.
   */
  private pendingMounts = 0;
  private stopping = false;
  /**
   * Live lxcfs instances whose mounts this agent takes over: device → FUSE source. Only while
   * their agent lives; a device number is reused by the next FUSE mount as soon as it is free.
   */
  private readonly takeoverDevices = new Map<string, string>();
  /**
   * This agent's own lxcfs instances that exited: device → FUSE source. Their mounts are known
   * dead without a probe (after a restart every container waits on the pass that re-attaches
   * them). Entries go as soon as a pass finds no mount on the device (its number may be reused).
   */
  private readonly retiredDevices = new Map<string, string>();
  private predecessorPid: number | undefined;
  private reconcileChain: Promise<unknown> = Promise.resolve();
  private lastSummary: ReconcileSummary | undefined;
  private reconcileCount = 0;
  private quickRetries = 0;
  private restarts = 0;
  private timers: NodeJS.Timeout[] = [];
  /** Resolves once stop() was called; every wait in the supervisor races against it. */
  private readonly stopSignal: Promise<void>;
  private resolveStop: () => void = () => undefined;
  private server: (Awaited<ReturnType<typeof startHealthServer>>) | undefined;
  private healthPort = 0;
  private readonly ownNamespace: string | undefined;
  private readonly startedAt = Date.now();
  private readonly healer: Healer;
  private readonly mounts: MountOps;
  private readonly backoff: RestartBackoff;
  /** Delay before the next lxcfs start while in a crash loop (0 otherwise), for /status. */
  private restartDelayMs = 0;

  constructor(readonly config: AgentConfig) {
    this.state = new NodeState(config.stateDir);
    // Helpers on standby, so that a restart of lxcfs re-attaches without waiting for spawns: one
    // per lane, and one each for the steps of a restart before and beside them (the new lxcfs's
    // first check, the dead instance's umount, the host path).
    this.helper = new MountHelper(config.helperPath, undefined, MAX_PARALLEL_HELPERS + 3);
    this.backoff = new RestartBackoff(config.restartBurst === undefined ? undefined : { ...DEFAULT_BACKOFF, burst: config.restartBurst });
    this.ownNamespace = mountNamespaceOf('self');
    this.healer = new Healer({
      helper: this.helper,
      metrics: this.metrics,
      log: config.log,
      scopeSource: config.scopeSource,
      lxcfsPath: config.lxcfsPath,
      instancesDir: this.state.instancesDir,
      ownNamespace: this.ownNamespace,
      takeover: this.takeoverDevices,
      retired: this.retiredDevices,
    });
    this.mounts = new MountOps({
      helper: this.helper,
      log: config.log,
      lxcfsPath: config.lxcfsPath,
      ownNamespace: this.ownNamespace,
      takeover: this.takeoverDevices,
      retired: this.retiredDevices,
      healingSupported: () => this.healingSupported,
    });
    this.stopSignal = new Promise((r) => (this.resolveStop = r));
  }

  // ---- health -------------------------------------------------------------

  async liveProblem(): Promise<string | undefined> {
    // A successor owns the path now; our liveness no longer depends on it.
    if (this.superseded) return undefined;
    const inst = this.instance;
    if (!inst?.running || !inst.device) return undefined;
    // Only our own lxcfs decides liveness (a container's hung mount never restarts the agent), and
    // it is asked through the helper with a deadline: a hung lxcfs fails the probe, never blocks it.
    const [own] = stackAt(readMounts('self') ?? [], inst.mountDir);
    if (own === undefined || own.device !== inst.device) return undefined;
    const state = await this.mounts.mountState(process.pid, own);
    if (state === 'dead') return `the lxcfs mount at ${this.config.lxcfsPath} answers "Transport endpoint is not connected"`;
    if (state === 'hung') return `the lxcfs mount at ${this.config.lxcfsPath} does not answer within ${this.helper.requestTimeoutMs} ms`;
    return undefined;
  }

  readyProblem(): string | undefined {
    if (this.stopping) return 'stopping';
    if (this.superseded) return `another agent (pid ${String(this.supersededBy)}) serves lxcfs on this node now`;
    if (!this.instance?.running || !this.instance.device) return 'lxcfs is not serving yet';
    if (!this.firstReconcileDone) return 'the first reconcile has not finished';
    if (this.pendingMounts > 0) return `${this.pendingMounts} lxcfs mount(s) not re-attached to this agent's lxcfs yet (retrying; see the log)`;
    return undefined;
  }

  status(): Record<string, unknown> {
    const inst = this.instance;
    return {
      pid: process.pid,
      ready: this.readyProblem() === undefined,
      readyProblem: this.readyProblem() ?? null,
      serving: !this.superseded && !!inst?.running,
      superseded: this.superseded,
      healingSupported: this.healingSupported,
      healingProblem: this.healingProblem || null,
      lxcfsPath: this.config.lxcfsPath,
      lxcfsPid: inst?.running ? inst.pid : null,
      lxcfsDevice: inst?.device || null,
      lxcfsServingSince: inst?.servingSince || null,
      instance: inst?.id ?? null,
      restarts: this.restarts,
      restartDelayMs: this.restartDelayMs,
      crashStreak: this.backoff.crashStreak,
      lxcfsSource: inst?.fsSource || null,
      reconciles: this.reconcileCount,
      lastReconcile: this.lastSummary ?? null,
      healthPort: this.healthPort,
      memoryMiB: memoryMiB(),
    };
  }

  // ---- lifecycle ----------------------------------------------------------

  /** Runs until stop() is called; returns after a clean shutdown. */
  async run(): Promise<void> {
    const probe = this.helper.probe();
    this.healingSupported = probe.supported;
    this.healingProblem = probe.reason;
    this.metrics.healingSupported.set(probe.supported ? 1 : 0);
    if (!probe.supported) {
      this.config.log(
        `WARNING: this kernel lacks open_tree/move_mount (Linux 5.2+): ${probe.reason}. The agent serves lxcfs at ${this.config.lxcfsPath}, ` +
          'but cannot re-attach stale lxcfs mounts inside running containers: after an lxcfs restart, pods on this node must be recreated ' +
          '(metric lxcfs_kit_agent_healing_supported is 0).',
      );
    }
    this.state.ensure();
    this.state.registerAgent(this.startedAt);
    await this.removeLeftoverInstances();
    await this.startHealth();
    const interval = setInterval(() => this.requestReconcile('periodic'), this.config.reconcileIntervalMs);
    this.timers.push(interval);
    this.timers.push(setInterval(() => this.watchPredecessor(), 250));
    await this.supervise();
    await this.shutdown();
  }

  /** Ask the agent to stop (SIGTERM). */
  stop(): void {
    this.stopping = true;
    this.updateReadyFile();
    this.resolveStop();
  }

  private async supervise(): Promise<void> {
    // The dead instance's directory is cleaned while its successor starts: containers wait on neither.
    let previousCleanup: Promise<void> = Promise.resolve();
    while (!this.stopping) {
      const inst = LxcfsInstance.start({
        binary: this.config.lxcfsBinary,
        args: this.config.lxcfsArgs,
        helperPath: this.config.helperPath,
        cgroupNamespace: this.config.cgroupNamespace,
        instancesDir: this.state.instancesDir,
        log: this.config.log,
      });
      this.instance = inst;
      try {
        await Promise.race([inst.waitServing((m) => this.mounts.mountState(process.pid, m)), this.stopSignal]);
        if (this.stopping) break;
        this.retiredDevices.delete(inst.device);
        this.metrics.lxcfsUp.set(1);
        this.config.log(`lxcfs ${inst.pid} serves ${inst.mountDir} (device ${inst.device})`);
        await previousCleanup;
        await this.reconcile('lxcfs started', true);
      } catch (err) {
        this.config.log(`lxcfs failed to start: ${(err as Error).message}`, undefined, 'error');
        await inst.stop((t) => this.mounts.umountOwn(t));
      }
      await Promise.race([inst.exited, this.stopSignal]);
      if (this.stopping) {
        if (!inst.running) await removeInstanceDir(inst.dir, (t) => this.mounts.umountOwn(t));
        break;
      }
      this.metrics.lxcfsUp.set(0);
      this.config.log(`lxcfs ${inst.pid} ${inst.exitDescription}; restarting it`, undefined, 'warn');
      if (inst.device) this.retiredDevices.set(inst.device, inst.fsSource);
      // Deferred past the next lxcfs start: a spawn blocks the event loop until the child runs.
      previousCleanup = new Promise((r) => setImmediate(r))
        .then(() => removeInstanceDir(inst.dir, (t) => this.mounts.umountOwn(t)))
        .catch((err: unknown) => this.config.log(`cannot clean up ${inst.dir}: ${(err as Error).message}`, undefined, 'warn'));
      if (this.superseded) {
        await previousCleanup;
        // The successor serves every container; restarting ours would only fight it.
        await this.stopSignal;
        break;
      }
      this.restarts++;
      this.metrics.lxcfsRestarts.inc();
      const delay = this.backoff.next(inst.servingSince > 0 ? Date.now() - inst.servingSince : 0);
      this.restartDelayMs = delay;
      this.metrics.restartDelaySeconds.set(delay / 1000);
      if (delay > 0) {
        this.config.log(
          inst.servingSince > 0
            ? `lxcfs crashed ${this.backoff.crashStreak} times in a row shortly after serving; next start in ${delay} ms (crash loop: see its log above)`
            : `lxcfs keeps exiting before it serves; next start in ${delay} ms`,
        );
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([new Promise<void>((r) => (timer = setTimeout(r, delay))), this.stopSignal]);
        clearTimeout(timer);
      }
    }
    await previousCleanup;
  }

  private async shutdown(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.reconcileChain.catch(() => undefined);
    this.helper.close();
    const inst = this.instance;
    if (inst) await this.awaitSuccessor(inst);
    let handedOver = false;
    if (inst) {
      await this.state
        .withLock(async () => {
          const decision = decideStop(this.state.readServing(), this.own(inst));
          switch (decision.kind) {
            case 'detach':
              // No successor (drain, uninstall, plain restart): leave no mount on the host path; the
              // containers' mounts go stale with lxcfs and the next agent re-attaches them.
              this.state.clearServing(inst.id);
              await this.mounts.detachHostPath(inst.device);
              this.config.log(`stopping without a successor: detached ${this.config.lxcfsPath}; containers' lxcfs files fail until the next agent starts`, undefined, 'warn');
              break;
            case 'handed-over':
              this.config.log(`another agent serves lxcfs now (pid ${decision.to}); stopping without touching its mounts`);
              handedOver = true;
              break;
            case 'never-served':
              this.config.log('stopping before this agent served');
          }
        })
        .catch((err: unknown) => this.config.log(`shutdown: ${(err as Error).message}`, undefined, 'error'));
      // Outside the lock: the successor needs it to move the last mounts.
      if (handedOver) {
        await this.awaitReleased(inst);
        await this.drain(inst);
      }
      await inst.stop((t) => this.mounts.umountOwn(t));
    }
    this.metrics.lxcfsUp.set(0);
    this.updateReadyFile();
    this.state.unregisterAgent();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server?.closeAllConnections();
  }

  /**
   * Told to stop while still serving, with a newer agent starting on the node
   * (a rolling update whose readiness signal arrived early): keep serving until
   * it has taken over, so the handover stays invisible to containers.
   */
  private async awaitSuccessor(inst: LxcfsInstance): Promise<void> {
    const deadline = Date.now() + SUCCESSOR_WAIT_MS;
    let announced = false;
    while (Date.now() < deadline && inst.running) {
      const wait = successorWait(this.state.readServing(), this.own(inst), this.state.otherAgents(), processAlive);
      if (wait.kind === 'stop') return;
      if (wait.kind === 'wait-successor' && !announced) {
        this.config.log(`a newer agent (pid ${wait.successors.join(', ')}) is starting; serving until it takes over (at most ${SUCCESSOR_WAIT_MS / 1000} s)`);
        announced = true;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * After a takeover, before stopping our lxcfs: wait (bounded) until no mount outside our own
   * instance directory uses it any more, so that no container is left on a dead lxcfs by a
   * successor that missed one of its mounts.
   */
  private async awaitReleased(inst: LxcfsInstance): Promise<void> {
    if (!inst.running || !inst.device) return;
    const deadline = Date.now() + RELEASE_WAIT_MS;
    let users = this.mountsUsing(inst);
    if (users.length === 0) return;
    while (users.length > 0 && Date.now() < deadline && inst.running) {
      await new Promise((r) => setTimeout(r, 100));
      users = this.mountsUsing(inst);
    }
    if (users.length > 0) {
      this.config.log(
        `stopping lxcfs ${inst.pid} although ${users.length} mount(s) still use it after ${RELEASE_WAIT_MS / 1000} s ` +
          `(the agent that took over will re-attach them when they fail): ${users.slice(0, 5).join(', ')}`,
      );
    } else {
      this.config.log(`the last mounts on lxcfs ${inst.pid} moved to the agent that took over; stopping it`);
    }
  }

  /**
   * A reader that opened an lxcfs file just before its mount moved still reads through our
   * lxcfs. Detach our own mount and let lxcfs finish by itself: its FUSE connection ends, and
   * lxcfs exits, once the last mount and the last open file are gone. Bounded: a process that
   * keeps a file open for good gets an error on its next read after the kill.
   */
  private async drain(inst: LxcfsInstance): Promise<void> {
    if (!inst.running) return;
    await this.mounts.umountOwn(inst.mountDir);
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      inst.exited.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), DRAIN_MS))),
    ]);
    clearTimeout(timer);
    if (!finished) {
      this.config.log(
        `lxcfs ${inst.pid} did not exit by itself within ${DRAIN_MS / 1000} s of the handover; stopping it ` +
          '(a process that still holds one of its files open gets an error on its next read)',
      );
    }
  }

  /** `namespace mountpoint` of every mount on this instance's lxcfs, other than our own private ones. */
  private mountsUsing(inst: LxcfsInstance): string[] {
    const out: string[] = [];
    for (const ns of scanNamespaces().withLxcfs) {
      for (const m of topMounts(ns.mounts)) {
        if (m.device !== inst.device || m.source !== inst.fsSource || isUnder(m.mountPoint, this.state.instancesDir)) continue;
        out.push(`${ns.namespace} ${m.mountPoint}`);
      }
    }
    return out;
  }

  private async startHealth(): Promise<void> {
    const tryListen = async (): Promise<boolean> => {
      try {
        this.server = await startHealthServer(this.config.healthAddress, this.config.healthPort, this, this.metrics);
        this.healthPort = this.server.port;
        this.config.log(`health and metrics on http://${this.config.healthAddress}:${this.healthPort} (/healthz /readyz /metrics /status)`);
        return true;
      } catch (err) {
        if (!(err as Error).message.includes('in use')) throw err;
        return false;
      }
    };
    if (await tryListen()) return;
    // During a rolling update the old agent holds the host port until it exits (hostNetwork).
    this.config.log(`port ${this.config.healthPort} is in use (the agent being replaced?); retrying every second`, undefined, 'warn');
    const retry = setInterval(() => {
      if (this.stopping) return clearInterval(retry);
      tryListen().then(
        (ok) => ok && clearInterval(retry),
        (err: unknown) => this.config.log(`health server: ${(err as Error).message}`, undefined, 'error'),
      );
    }, 1000);
    this.timers.push(retry);
  }

  private updateReadyFile(): void {
    const file = this.config.readyFile;
    if (!file) return;
    try {
      if (this.readyProblem() === undefined) fs.writeFileSync(file, `${process.pid}\n`);
      else fs.rmSync(file, { force: true });
    } catch (err) {
      this.config.log(`ready file ${file}: ${(err as Error).message}`, undefined, 'error');
    }
  }

  /** Instance directories of agents that are gone: their lxcfs died with them, leaving a dead mount. */
  private async removeLeftoverInstances(): Promise<void> {
    for (const name of fs.readdirSync(this.state.instancesDir)) {
      const dir = path.join(this.state.instancesDir, name);
      const owner = Number(readText(path.join(dir, 'agent.pid')));
      if (Number.isInteger(owner) && owner !== process.pid && processAlive(owner)) continue;
      const [top] = stackAt(readMounts('self') ?? [], path.join(dir, 'mnt'));
      if (top !== undefined && top.fsType === LXCFS_FSTYPE && (await this.mounts.mountState(process.pid, top)) !== 'dead') {
        this.config.log(`leftover lxcfs instance ${dir} still serves (its agent is gone); it will be taken over`);
        continue;
      }
      await removeInstanceDir(dir, (t) => this.mounts.umountOwn(t));
    }
  }

  private watchPredecessor(): void {
    if (this.predecessorPid !== undefined && !processAlive(this.predecessorPid)) {
      this.predecessorPid = undefined;
      // Its lxcfs died with it: what is left on those devices is dead and healed as such.
      this.takeoverDevices.clear();
      // Catch any mount that was created on the old lxcfs while we took over.
      this.requestReconcile('predecessor exited');
    }
  }

  private own(inst: LxcfsInstance): OwnAgent {
    return { pid: process.pid, instance: inst.id, startedAt: this.startedAt };
  }

  // ---- reconcile ----------------------------------------------------------

  requestReconcile(reason: string): void {
    if (this.stopping) return;
    void this.reconcile(reason, false);
  }

  /** Serialized: one pass at a time in this agent, one agent at a time on the node (lock). */
  private reconcile(reason: string, claim: boolean): Promise<void> {
    const next = this.reconcileChain.then(() => this.reconcileOnce(reason, claim));
    this.reconcileChain = next.catch((err: unknown) => this.config.log(`reconcile (${reason}) failed: ${(err as Error).message}`, undefined, 'error'));
    return this.reconcileChain as Promise<void>;
  }

  private async reconcileOnce(reason: string, claim: boolean): Promise<void> {
    const inst = this.instance;
    if (!inst?.running || !inst.device || this.stopping) return;
    await this.state.withLock(async () => {
      const decision = decideServing(this.state.readServing(), this.own(inst), claim, processAlive);
      if (decision.kind === 'superseded') {
        if (!this.superseded) this.config.log(`agent ${decision.by} took over lxcfs on this node; this agent stops healing and waits to be stopped`);
        this.superseded = true;
        this.supersededBy = decision.by;
        this.metrics.serving.set(0);
        return;
      }
      if (decision.kind === 'claim') {
        if (decision.takeover) {
          this.takeoverDevices.set(decision.takeover.device, decision.takeover.source);
          this.predecessorPid = decision.takeover.pid;
        }
        this.state.writeServing({
          pid: process.pid,
          instance: inst.id,
          device: inst.device,
          source: inst.fsSource,
          lxcfsPath: this.config.lxcfsPath,
          since: new Date().toISOString(),
          attached: false,
        });
        if (this.superseded) this.config.log('the agent that took over is gone; serving lxcfs again');
        this.superseded = false;
      }
      this.metrics.serving.set(1);
      const summary = await this.healPass(inst);
      this.pendingMounts = summary.pending;
      const record = this.state.readServing();
      if (summary.pending === 0 && record?.instance === inst.id && record.attached === false) {
        // The predecessor waits for this before it stops its lxcfs.
        this.state.writeServing({ ...record, attached: true });
      }
      this.lastSummary = summary;
      this.reconcileCount++;
      this.metrics.reconciles.inc();
      this.metrics.lastReconcileSeconds.set(summary.seconds);
      this.metrics.namespacesScanned.set(summary.namespaces);
      if (summary.healed > 0 || summary.failed > 0) {
        const { fromIndex } = summary.phases;
        this.config.log(
          `reconcile (${reason}): re-attached ${summary.healed} lxcfs mounts (${fromIndex} from the index), ${summary.failed} failed, ${summary.namespaces} mount namespaces, ${(summary.seconds * 1000).toFixed(0)} ms`,
          { reason, healed: summary.healed, fromIndex, failed: summary.failed },
        );
      }
    });
    this.firstReconcileDone = true;
    this.updateReadyFile();
    // Idle now: the helpers this pass took from standby are replaced before the next restart.
    this.helper.refill();
    const failed = this.lastSummary?.failed ?? 0;
    if (failed > 0 && this.quickRetries < QUICK_RETRIES) {
      this.quickRetries++;
      // Not ready yet (a rolling update waits for us): try again soon.
      const delay = this.pendingMounts > 0 ? PENDING_RETRY_MS : 1000;
      this.timers.push(setTimeout(() => this.requestReconcile('retry after failures'), delay));
    } else if (failed === 0) {
      this.quickRetries = 0;
    }
  }

  private async healPass(inst: LxcfsInstance): Promise<ReconcileSummary> {
    const started = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    const cpuMs = (): number => {
      const d = process.cpuUsage(cpu);
      return (d.user + d.system) / 1000;
    };
    let healed = 0;
    let failed = 0;
    const count = (outcomes: readonly HelperOutcome[], label: (o: HelperOutcome) => string): void => {
      for (const o of outcomes) {
        if (o.result === 'ok') {
          healed++;
          this.metrics.mountsHealed.inc();
        } else {
          failed++;
          this.metrics.healFailures.inc();
          this.config.log(`cannot re-attach ${JSON.stringify(o.request.target)} (${label(o)}): ${o.how}: ${o.message}`, undefined, 'warn');
        }
      }
    };

    // 0. After a restart of our lxcfs, containers wait on this: the mounts the index knew on it are
    // re-attached first, beside the host path (nothing, when healing is not supported).
    const fromIndex = this.healingSupported ? this.healer.healIndexed(inst) : Promise.resolve(0);
    // Awaited by heal() below; if the host path throws first, the pass fails with that error instead.
    fromIndex.catch(() => undefined);

    // 1. The host path, in our namespace (and the host's, when that is another one and readable).
    const hostNamespace = mountNamespaceOf(1);
    const publicPids = [process.pid, ...(hostNamespace !== undefined && hostNamespace !== this.ownNamespace ? [1] : [])];
    for (const pid of publicPids) count(await this.mounts.attachHostPath(inst, pid), () => `host path, namespace of pid ${pid}`);

    // The host path is tried again on every pass.
    let pending = failed;
    const hostPathMs = Number(process.hrtime.bigint() - started) / 1e6;
    if (!this.healingSupported) {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      return { healed, failed, pending, givenUp: 0, namespaces: 0, seconds, cpuMs: cpuMs(), phases: { hostPathMs, indexMs: 0, fromIndex: 0, scanMs: 0, probeMs: 0, attachMs: 0, helpers: 0 }, indexed: 0 };
    }

    // 2. Every other lxcfs mount on the host that is dead or belongs to the lxcfs we took over.
    const containers = await this.healer.heal(inst, new Set([this.ownNamespace ?? '', hostNamespace ?? ''].filter((n) => n !== '')), fromIndex);
    healed += containers.healed;
    failed += containers.failed;
    pending += containers.pending;
    const namespacesScanned = containers.namespaces;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { healed, failed, pending, givenUp: containers.givenUp, namespaces: namespacesScanned, seconds, cpuMs: cpuMs(), phases: { hostPathMs, ...containers.phases }, indexed: containers.indexed };
  }

}

/** The agent's memory (its budget is 64 MiB of RSS at 1,000 containers; docs/agent.md). */
function memoryMiB(): Record<string, number> {
  const m = process.memoryUsage();
  const v8 = getHeapStatistics();
  const mib = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;
  return {
    rss: mib(m.rss),
    // The highest RSS since the agent started (getrusage).
    peakRss: mib(process.resourceUsage().maxRSS * 1024),
    heapTotal: mib(m.heapTotal),
    heapUsed: mib(m.heapUsed),
    external: mib(m.external),
    arrayBuffers: mib(m.arrayBuffers),
    // V8's own malloc (compiler and parser zones) at its peak: RSS that no heap figure shows.
    v8MallocPeak: mib(v8.peak_malloced_memory),
  };
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}
