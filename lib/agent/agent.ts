/**
 * The node agent: keeps one lxcfs serving at the lxcfs path and keeps every
 * container's lxcfs mounts attached to it — after lxcfs restarts (stale
 * mounts answer ENOTCONN) and when a new agent takes over from an old one
 * during a rolling update (the old lxcfs is still alive, but about to stop).
 */
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_BACKOFF, RestartBackoff } from './backoff';
import { Candidate, checkRequest, deviceKey, isUnder, nextProbes, PlanContext, planNamespace, replaceRequest } from './heal-plan';
import { startHealthServer, HealthSource } from './health';
import { HelperOutcome, MountHelper } from './helper';
import { LxcfsInstance, removeInstanceDir } from './lxcfs';
import { AgentMetrics } from './metrics';
import { carriedAttributes, LXCFS_FSTYPE, MountEntry, mountHolding, stackAt, topMounts } from './mountinfo';
import { HelperRequest, MountAttribute, namespaceInode, requestProblem } from './protocol';
import { pruneRuntimeDirectories } from './publicpath';
import { containerIdOf, mountNamespaceOf, readMounts, ScanResult, scanNamespaces } from './scan';
import { NodeState, processAlive } from './state';

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
  readonly log: (line: string) => void;
}

interface ReconcileSummary {
  readonly healed: number;
  readonly failed: number;
  /** Failed mounts that will be tried again (host path, or targets not given up on). */
  readonly pending: number;
  readonly namespaces: number;
  readonly seconds: number;
}

const QUICK_RETRIES = 5;
/** First and longest pause before probing again an lxcfs whose probe hung. */
const HUNG_PROBE_PAUSE_MS = 30000;
const HUNG_PROBE_MAX_PAUSE_MS = 600000;
/** How long an agent told to stop waits for a newer agent to take over (keep below the pod's grace period). */
const SUCCESSOR_WAIT_MS = 20000;
/** Attempts per mount before the agent gives up on it (and says so). */
const MAX_TARGET_FAILURES = 3;
/** Passes through a fresh scan when every known process of a namespace exited before the helper got in. */
const GONE_RETRIES = 3;
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
  /** Failed re-attach attempts per `namespace mountID`; entries go when the namespace's mount heals. */
  private readonly failedTargets = new Map<string, number>();
  /** lxcfs devices (`device source`) whose probe hung, and when to probe them again. */
  private readonly hungDevices = new Map<string, { retryAt: number; pauseMs: number }>();
  /** Mounts already reported as refused (logged once each; the metric counts every pass). */
  private readonly refusedLogged = new Set<string>();
  private readonly backoff: RestartBackoff;
  /** Delay before the next lxcfs start while in a crash loop (0 otherwise), for /status. */
  private restartDelayMs = 0;

  constructor(readonly config: AgentConfig) {
    this.state = new NodeState(config.stateDir);
    this.helper = new MountHelper(config.helperPath);
    this.backoff = new RestartBackoff(config.restartBurst === undefined ? undefined : { ...DEFAULT_BACKOFF, burst: config.restartBurst });
    this.ownNamespace = mountNamespaceOf('self');
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
    const state = await this.mountState(process.pid, own);
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
        await Promise.race([inst.waitServing((m) => this.mountState(process.pid, m)), this.stopSignal]);
        if (this.stopping) break;
        this.metrics.lxcfsUp.set(1);
        this.config.log(`lxcfs ${inst.pid} serves ${inst.mountDir} (device ${inst.device})`);
        await this.reconcile('lxcfs started', true);
      } catch (err) {
        this.config.log(`lxcfs failed to start: ${(err as Error).message}`);
        await inst.stop((t) => this.umountOwn(t));
      }
      await Promise.race([inst.exited, this.stopSignal]);
      if (this.stopping) {
        if (!inst.running) await removeInstanceDir(inst.dir, (t) => this.umountOwn(t));
        break;
      }
      this.metrics.lxcfsUp.set(0);
      this.config.log(`lxcfs ${inst.pid} ${inst.exitDescription}; restarting it`);
      await removeInstanceDir(inst.dir, (t) => this.umountOwn(t));
      if (this.superseded) {
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
  }

  private async shutdown(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.reconcileChain.catch(() => undefined);
    const inst = this.instance;
    if (inst) await this.awaitSuccessor(inst);
    let handedOver = false;
    if (inst) {
      await this.state
        .withLock(async () => {
          const serving = this.state.readServing();
          if (serving?.instance === inst.id) {
            // No successor (drain, uninstall, plain restart): leave no mount on the host path; the
            // containers' mounts go stale with lxcfs and the next agent re-attaches them.
            this.state.clearServing(inst.id);
            await this.detachPublicPath(inst.device);
            this.config.log(`stopping without a successor: detached ${this.config.lxcfsPath}; containers' lxcfs files fail until the next agent starts`);
          } else if (serving) {
            this.config.log(`another agent serves lxcfs now (pid ${serving.pid}); stopping without touching its mounts`);
            handedOver = true;
          } else {
            this.config.log('stopping before this agent served');
          }
        })
        .catch((err: unknown) => this.config.log(`shutdown: ${(err as Error).message}`));
      // Outside the lock: the successor needs it to move the last mounts.
      if (handedOver) {
        await this.awaitReleased(inst);
        await this.drain(inst);
      }
      await inst.stop((t) => this.umountOwn(t));
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
      const serving = this.state.readServing();
      if (serving === undefined) return;
      if (serving.instance !== inst.id) {
        // Taken over: done once the successor has every mount on its own lxcfs (or died trying).
        if (serving.attached !== false || !processAlive(serving.pid)) return;
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const successors = this.state.otherAgents().filter((a) => a.startedAt >= this.startedAt);
      if (successors.length === 0) return;
      if (!announced) {
        this.config.log(`a newer agent (pid ${successors.map((a) => a.pid).join(', ')}) is starting; serving until it takes over (at most ${SUCCESSOR_WAIT_MS / 1000} s)`);
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
    await this.umountOwn(inst.mountDir);
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
    this.config.log(`port ${this.config.healthPort} is in use (the agent being replaced?); retrying every second`);
    const retry = setInterval(() => {
      if (this.stopping) return clearInterval(retry);
      tryListen().then(
        (ok) => ok && clearInterval(retry),
        (err: unknown) => this.config.log(`health server: ${(err as Error).message}`),
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
      this.config.log(`ready file ${file}: ${(err as Error).message}`);
    }
  }

  /** Instance directories of agents that are gone: their lxcfs died with them, leaving a dead mount. */
  private async removeLeftoverInstances(): Promise<void> {
    for (const name of fs.readdirSync(this.state.instancesDir)) {
      const dir = path.join(this.state.instancesDir, name);
      const owner = Number(readText(path.join(dir, 'agent.pid')));
      if (Number.isInteger(owner) && owner !== process.pid && processAlive(owner)) continue;
      const [top] = stackAt(readMounts('self') ?? [], path.join(dir, 'mnt'));
      if (top !== undefined && top.fsType === LXCFS_FSTYPE && (await this.mountState(process.pid, top)) !== 'dead') {
        this.config.log(`leftover lxcfs instance ${dir} still serves (its agent is gone); it will be taken over`);
        continue;
      }
      await removeInstanceDir(dir, (t) => this.umountOwn(t));
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

  // ---- reconcile ----------------------------------------------------------

  requestReconcile(reason: string): void {
    if (this.stopping) return;
    void this.reconcile(reason, false);
  }

  /** Serialized: one pass at a time in this agent, one agent at a time on the node (lock). */
  private reconcile(reason: string, claim: boolean): Promise<void> {
    const next = this.reconcileChain.then(() => this.reconcileOnce(reason, claim));
    this.reconcileChain = next.catch((err: unknown) => this.config.log(`reconcile (${reason}) failed: ${(err as Error).message}`));
    return this.reconcileChain as Promise<void>;
  }

  private async reconcileOnce(reason: string, claim: boolean): Promise<void> {
    const inst = this.instance;
    if (!inst?.running || !inst.device || this.stopping) return;
    await this.state.withLock(async () => {
      const serving = this.state.readServing();
      const servedByOther = serving !== undefined && serving.instance !== inst.id;
      if (servedByOther && !claim && serving.pid !== process.pid && processAlive(serving.pid)) {
        if (!this.superseded) this.config.log(`agent ${serving.pid} took over lxcfs on this node; this agent stops healing and waits to be stopped`);
        this.superseded = true;
        this.supersededBy = serving.pid;
        this.metrics.serving.set(0);
        return;
      }
      if (servedByOther || serving === undefined) {
        if (serving && serving.pid !== process.pid && processAlive(serving.pid)) {
          this.takeoverDevices.set(serving.device, serving.source);
          this.predecessorPid = serving.pid;
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
        this.config.log(`reconcile (${reason}): re-attached ${summary.healed} lxcfs mounts, ${summary.failed} failed, ${summary.namespaces} mount namespaces, ${(summary.seconds * 1000).toFixed(0)} ms`);
      }
    });
    this.firstReconcileDone = true;
    this.updateReadyFile();
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
          this.config.log(`cannot re-attach ${JSON.stringify(o.request.target)} (${label(o)}): ${o.how}: ${o.message}`);
        }
      }
    };

    // 1. The host path, in our namespace (and the host's, when that is another one and readable).
    const hostNamespace = mountNamespaceOf(1);
    const publicPids = [process.pid, ...(hostNamespace !== undefined && hostNamespace !== this.ownNamespace ? [1] : [])];
    for (const pid of publicPids) count(await this.attachPublicPath(inst, pid), () => `host path, namespace of pid ${pid}`);

    // The host path is tried again on every pass.
    let pending = failed;
    if (!this.healingSupported) {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      return { healed, failed, pending, namespaces: 0, seconds };
    }

    // 2. Every other lxcfs mount on the host that is dead or belongs to the lxcfs we took over.
    const ctx: PlanContext = {
      ownDevice: inst.device,
      scopeSource: this.config.scopeSource,
      takeover: this.takeoverDevices,
      instancesDir: this.state.instancesDir,
      lxcfsPath: this.config.lxcfsPath,
      agentNamespaces: new Set([this.ownNamespace ?? '', hostNamespace ?? ''].filter((n) => n !== '')),
    };
    let scan = scanNamespaces();
    const namespacesScanned = scan.namespacesScanned;
    let work = await this.planContainerMounts(inst, scan, ctx);
    const outcomes: { outcome: HelperOutcome; key: string }[] = [];
    for (let round = 1; ; round++) {
      const answers = await this.helper.run(work.map((w) => w.request));
      const gone: string[] = [];
      answers.forEach((o, n) => (o.result === 'gone' ? gone.push(work[n].key) : outcomes.push({ outcome: o, key: work[n].key })));
      if (gone.length === 0) break;
      // Every process we knew in those namespaces exited between the scan and the helper. A namespace
      // that still exists has other processes now: look again and enter through those.
      scan = scanNamespaces();
      const present = new Set(scan.withLxcfs.map((ns) => ns.namespace));
      const stillThere = new Set(gone.filter((k) => present.has(k.split(' ')[0])));
      if (stillThere.size === 0) break;
      if (round >= GONE_RETRIES) {
        answers.forEach((o, n) => stillThere.has(work[n].key) && o.result === 'gone' && outcomes.push({ outcome: o, key: work[n].key }));
        break;
      }
      work = await this.planContainerMounts(inst, scan, ctx, stillThere);
    }
    const present = new Set(scan.withLxcfs.map((ns) => ns.namespace));
    for (const key of this.failedTargets.keys()) if (!present.has(key.split(' ')[0])) this.failedTargets.delete(key);
    const failures: HelperOutcome[] = [];
    for (const { outcome, key } of outcomes) {
      if (outcome.result === 'ok') {
        this.failedTargets.delete(key);
        healed++;
        this.metrics.mountsHealed.inc();
        continue;
      }
      if (outcome.how === 'mount-changed') {
        // The path leads to another mount now (the container stacked its own over it, or the
        // mount went away): that mount is the container's, and stays as it is.
        this.metrics.mountsLeftAlone.inc();
        continue;
      }
      failures.push(outcome);
      const n = (this.failedTargets.get(key) ?? 0) + 1;
      this.failedTargets.set(key, n);
      if (n < MAX_TARGET_FAILURES) pending++;
      if (n === MAX_TARGET_FAILURES) this.config.log(`giving up on ${JSON.stringify(outcome.request.target)} in ${key.split(' ')[0]} after ${n} failed attempts; recreate that pod`);
    }
    count(failures, (o) => {
      const id = containerIdOf(o.request.pids[0]);
      return id ? `container ${id}, pid ${o.request.pids[0]}` : `pid ${o.request.pids[0]}`;
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { healed, failed, pending, namespaces: namespacesScanned, seconds };
  }

  /**
   * The re-attach requests for a scan (only for mounts whose `namespace mountID` key is in
   * `only`, when given): mounts of an lxcfs being taken over, and mounts of an lxcfs that a
   * probe through the helper found dead. Mounts that cannot be named exactly are refused.
   */
  private async planContainerMounts(inst: LxcfsInstance, scan: ScanResult, ctx: PlanContext, only?: ReadonlySet<string>): Promise<{ request: HelperRequest; key: string }[]> {
    const takeover: Candidate[] = [];
    const probe: Candidate[] = [];
    for (const ns of scan.withLxcfs) {
      const plan = planNamespace(ns, ctx);
      for (const r of plan.refused) this.refuse(r.key, r.mountPoint, r.reason);
      const wanted = (c: Candidate): boolean => (only === undefined || only.has(c.key)) && (this.failedTargets.get(c.key) ?? 0) < MAX_TARGET_FAILURES;
      takeover.push(...plan.takeover.filter(wanted));
      probe.push(...plan.probe.filter(wanted));
    }
    const dead = await this.deadDevices(probe);
    const chosen = [...takeover, ...probe.filter((c) => dead.has(deviceKey(c.mount)))];
    const work: { request: HelperRequest; key: string }[] = [];
    for (const c of chosen) {
      const ino = namespaceInode(c.ns.namespace);
      if (ino === undefined) continue;
      const request = replaceRequest(c, ino, inst.mountDir);
      const reason = requestProblem(request);
      if (reason !== undefined) this.refuse(c.key, c.mount.mountPoint, reason);
      else work.push({ request, key: c.key });
    }
    // Adjacent requests for one namespace share the helper's setns.
    return work.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /**
   * Which lxcfs devices among the candidates are dead, asked through the helper (never from
   * this thread: a hung FUSE daemon would block it). One probe per device; a probe that met a
   * changed mount or an exited namespace is repeated through another mount of the device.
   * A device whose probe hangs is left alone and probed again only after a growing pause.
   */
  private async deadDevices(candidates: readonly Candidate[]): Promise<Set<string>> {
    const dead = new Set<string>();
    const decided = new Set<string>();
    const tried = new Set<string>();
    const now = Date.now();
    for (const c of candidates) {
      const hung = this.hungDevices.get(deviceKey(c.mount));
      if (hung !== undefined && hung.retryAt > now) decided.add(deviceKey(c.mount));
    }
    for (let round = 0; round < 3; round++) {
      const probes = nextProbes(candidates, decided, tried).filter((c) => namespaceInode(c.ns.namespace) !== undefined);
      if (probes.length === 0) break;
      const answers = await this.helper.run(probes.map((c) => checkRequest(c, namespaceInode(c.ns.namespace) as bigint)));
      answers.forEach((o, n) => {
        const c = probes[n];
        const dev = deviceKey(c.mount);
        tried.add(c.key);
        if (o.result === 'ok') {
          decided.add(dev);
          if (o.how === 'dead') dead.add(dev);
          this.hungDevices.delete(dev);
        } else if (o.result === 'hung') {
          decided.add(dev);
          const prev = this.hungDevices.get(dev);
          const pauseMs = Math.min(HUNG_PROBE_MAX_PAUSE_MS, prev === undefined ? HUNG_PROBE_PAUSE_MS : prev.pauseMs * 2);
          this.hungDevices.set(dev, { retryAt: Date.now() + pauseMs, pauseMs });
          this.metrics.hungMounts.inc();
          this.config.log(`the lxcfs on device ${c.mount.device} does not answer (probed through ${JSON.stringify(c.mount.mountPoint)} in ${c.ns.namespace}); leaving its mounts alone, next probe in ${pauseMs / 1000} s`);
        }
      });
    }
    return dead;
  }

  private refuse(key: string, mountPoint: string, reason: string): void {
    this.metrics.mountsRefused.inc();
    if (this.refusedLogged.has(key)) return;
    if (this.refusedLogged.size > 10000) this.refusedLogged.clear();
    this.refusedLogged.add(key);
    this.config.log(`refusing to act on the lxcfs mount ${JSON.stringify(mountPoint)} (${key}): ${reason}`);
  }

  /** Whether the lxcfs mount `m` in the namespace of `pid` answers (through the helper, with a deadline). */
  private async mountState(pid: number, m: MountEntry): Promise<'dead' | 'alive' | 'hung' | 'unknown'> {
    const ino = namespaceInode(mountNamespaceOf(pid));
    if (ino === undefined) return 'unknown';
    const [o] = await this.helper.run([{ mode: 'check', pids: [pid], namespaceInode: ino, mountId: m.mountId, source: '', target: m.mountPoint, attributes: [] }]);
    if (o?.result === 'ok') return o.how === 'dead' ? 'dead' : 'alive';
    return o?.result === 'hung' ? 'hung' : 'unknown';
  }

  /** Puts this instance's root at the lxcfs path in the namespace of `pid`. */
  private async attachPublicPath(inst: LxcfsInstance, pid: number): Promise<HelperOutcome[]> {
    const target = this.config.lxcfsPath;
    const ino = namespaceInode(mountNamespaceOf(pid));
    const mounts = readMounts(pid);
    if (ino === undefined || mounts === undefined) return [];
    const stack = stackAt(mounts, target);
    const lxcfsStack: MountEntry[] = [];
    for (const m of stack) {
      if (m.fsType !== LXCFS_FSTYPE) break;
      lxcfsStack.push(m);
    }
    const top = lxcfsStack[0];
    if (top?.device === inst.device) return [];
    const base = { pids: [pid], namespaceInode: ino };
    // A fresh host path mount: nothing on it is a device or set-uid program.
    const fresh = { attributes: ['nosuid', 'nodev'] as MountAttribute[] };
    const state = top === undefined ? 'none' : await this.mountState(pid, top);
    if (top !== undefined && state !== 'dead') {
      // A live lxcfs we did not start: our predecessor, or another installation's (migration). Take it over.
      if (this.takeoverDevices.get(top.device) !== top.source) {
        this.takeoverDevices.set(top.device, top.source);
        this.config.log(`taking over ${target} from the lxcfs on device ${top.device}${state === 'hung' ? ' (it does not answer)' : ''}`);
      }
      const same = { attributes: carriedAttributes(top.options) };
      if (this.healingSupported) return this.helper.run([{ ...base, ...same, mode: 'replace', mountId: top.mountId, source: inst.mountDir, target }]);
      return this.helper.run([{ ...base, ...fresh, mode: 'bind', mountId: top.mountId, source: inst.mountDir, target }]);
    }
    // Nothing there, or only dead mounts (a crashed lxcfs, a node that lost power): clear them all, top first.
    if (lxcfsStack.length > 0) {
      const detached = await this.helper.run(lxcfsStack.map((m) => ({ ...base, attributes: [], mode: 'umount' as const, mountId: m.mountId, source: '', target })));
      this.config.log(`detached ${detached.filter((r) => r.result === 'ok').length} dead lxcfs mount(s) at ${target} (namespace of pid ${pid})`);
      if (detached.some((r) => r.result !== 'ok')) return detached.filter((r) => r.result !== 'ok');
    }
    const holder = mountHolding(mounts.filter((m) => !lxcfsStack.includes(m)), target);
    if (holder === undefined) return [];
    if (pid === process.pid) {
      for (const d of pruneRuntimeDirectories(target)) this.config.log(`removed ${d}: a container runtime created it where an lxcfs file belongs`);
    }
    if (this.healingSupported) return this.helper.run([{ ...base, ...fresh, mode: 'mount', mountId: holder.mountId, source: inst.mountDir, target }]);
    if (pid !== process.pid) return [];
    return this.helper.run([{ ...base, ...fresh, mode: 'bind', mountId: holder.mountId, source: inst.mountDir, target }]);
  }

  private async detachPublicPath(device: string): Promise<void> {
    const mine = stackAt(readMounts('self') ?? [], this.config.lxcfsPath).filter((m) => m.fsType === LXCFS_FSTYPE && m.device === device);
    for (const m of mine) await this.umountExact(m);
  }

  /** Detaches the top lxcfs mount at `target` in our own namespace (an instance directory). */
  private async umountOwn(target: string): Promise<void> {
    const [top] = stackAt(readMounts('self') ?? [], target);
    if (top === undefined || top.fsType !== LXCFS_FSTYPE) return;
    await this.umountExact(top);
  }

  private async umountExact(m: MountEntry): Promise<void> {
    const ino = namespaceInode(this.ownNamespace);
    if (ino === undefined) return;
    const [r] = await this.helper.run([{ mode: 'umount', pids: [process.pid], namespaceInode: ino, mountId: m.mountId, source: '', target: m.mountPoint, attributes: [] }]);
    if (r && r.result !== 'ok') this.config.log(`cannot detach ${JSON.stringify(m.mountPoint)}: ${r.how}: ${r.message}`);
  }
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}
