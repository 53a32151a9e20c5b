/**
 * Heal and takeover in containers: one pass over every mount namespace on the host,
 * re-attaching each lxcfs mount that is dead (a probe through the helper says so) or that
 * belongs to an lxcfs being taken over. Per-mount retry state lives here: attempts per mount,
 * lxcfs devices whose probe hung, mounts already reported as refused. What to act on is
 * decided by heal-plan.ts (pure); every action goes through the helper, which checks the
 * mount ID again right before it.
 */
import { tableFingerprint } from './fingerprint';
import { Candidate, checkRequest, deviceKey, NamespacePlan, nextProbes, PlanContext, planNamespace, replaceRequest } from './heal-plan';
import { HelperOutcome, HelperResult, MAX_PARALLEL_HELPERS, MountHelper } from './helper';
import { AgentMetrics } from './metrics';
import { addToIndex, IndexedMount, indexAttached, Interned, keyOf, splitByNamespace, targetOf } from './mount-index';
import { decodeRequests, encodeRequests, HelperRequest, isCanonicalPath, namespaceInode, requestProblem } from './protocol';
import { LXCFS_FSTYPE } from './mountinfo';
import { containerIdOf, scanLazily, scanNamespaces } from './scan';
import type { LineLog } from '../log';

/** errno of the helper's mount-ID check: the path leads to another mount (ESTALE), or to nothing (ENOENT). */
const ESTALE = 116;
const ENOENT = 2;

/** Attempts per mount before the agent gives up on it (and says so). */
export const MAX_TARGET_FAILURES = 3;
/** Passes through a fresh scan when every known process of a namespace exited before the helper got in. */
const GONE_RETRIES = 3;
/** First and longest pause before probing again an lxcfs whose probe hung. */
const HUNG_PROBE_PAUSE_MS = 30000;
const HUNG_PROBE_MAX_PAUSE_MS = 600000;
/**
 * A pass reads namespaces in at most this many chunks (one per helper lane)... Each chunk with
 * work costs a helper process, and a spawn blocks the event loop until the child runs (about
 * 10 ms on a loaded 2-core machine): more, smaller chunks would start the first containers
 * earlier but finish the last ones later.
 */
const MAX_CHUNKS = MAX_PARALLEL_HELPERS;
/** ...of at least this many namespaces. */
const MIN_CHUNK_NAMESPACES = 16;
/** A pass collects V8's garbage after each this many namespaces it had to parse (see collectGarbage). */
export const NAMESPACES_PER_COLLECTION = 250;

/**
 * A full garbage collection, when node runs with --expose-gc (AGENT_NODE_OPTIONS; without it, as in
 * unit tests, nothing happens). V8 lets its old generation grow to about twice what was live at its last
 * full collection, and a pass after an lxcfs restart allocates in one burst, much of it promoted
 * by the small young generation: at 1,000 containers the heap reached 17-23 MiB with 8 MiB live,
 * and kept that size for the next kill. Collecting where a bulk pass changes phase (after the
 * index, every NAMESPACES_PER_COLLECTION parsed namespaces, at its end) keeps the heap near what is
 * live, for a few milliseconds each. A pass at rest parses next to nothing and collects nothing.
 */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** What one pass found out about lxcfs devices (`device source`), shared by its chunks: each device is probed once. */
interface DeviceDecisions {
  readonly decided: Set<string>;
  readonly dead: Set<string>;
  /** Candidates (`namespace mountID`) already used as a probe. */
  readonly tried: Set<string>;
}

/** A request for the helper, and the mount it is about. */
export interface Job {
  readonly request: HelperRequest;
  readonly candidate: Candidate;
}

/**
 * What settling a job's answer needs of its mount, once its request is sent: a cold pass queues
 * every re-attach in the helper lanes, and a whole Candidate (its namespace's parsed table) per
 * queued request was most of that pass's memory.
 */
interface Sent {
  readonly key: string;
  readonly namespace: string;
  readonly shared: boolean;
}

const sentOf = (job: Job): Sent => ({ key: job.candidate.key, namespace: job.candidate.ns.namespace, shared: job.candidate.mount.shared === true });

/** A job's outcome. */
interface Done {
  readonly outcome: HelperOutcome;
  readonly sent: Sent;
}

export interface HealerDeps {
  readonly helper: MountHelper;
  readonly metrics: AgentMetrics;
  readonly log: LineLog;
  readonly scopeSource?: string;
  readonly lxcfsPath: string;
  readonly instancesDir: string;
  readonly ownNamespace: string | undefined;
  /** Live lxcfs instances being taken over (device → FUSE source); shared with the agent. */
  readonly takeover: ReadonlyMap<string, string>;
  /**
   * The agent's own lxcfs instances that exited (device → FUSE source): their mounts are dead
   * without a probe. Entries are dropped here once a scan finds no mount on the device (a
   * device number is reused once free).
   */
  readonly retired?: Map<string, string>;
}

/** Where a pass over the containers spent its time (ms), for /status and the benchmark. */
export interface HealPhases {
  /** Re-attaching what the index knew on a restarted lxcfs (before any scan), and how many. */
  readonly indexMs: number;
  readonly fromIndex: number;
  readonly scanMs: number;
  readonly probeMs: number;
  readonly attachMs: number;
  /** Helper processes that re-attached container mounts side by side. */
  readonly helpers: number;
}

export interface HealResult {
  readonly healed: number;
  readonly failed: number;
  /** Failed mounts that will be tried again (not given up on yet). */
  readonly pending: number;
  /** Mounts of namespaces that still exist that failed too often to be tried again. */
  readonly givenUp: number;
  readonly namespaces: number;
  readonly phases: HealPhases;
  /** Mounts on this agent's lxcfs that the index holds after the pass. */
  readonly indexed: number;
}

export class Healer {
  /** Failed re-attach attempts per `namespace mountID`; entries go when the mount heals or its namespace goes. */
  private readonly failedTargets = new Map<string, number>();
  /** lxcfs devices (`device source`) whose probe hung, and when to probe them again. */
  private readonly hungDevices = new Map<string, { retryAt: number; pauseMs: number }>();
  /** Mounts already reported as refused (logged once each; the metric counts every pass). */
  private readonly refusedLogged = new Set<string>();
  /** Namespaces the last pass found nothing to do in → fingerprint of their mount table then (see heal). */
  private quiet = new Map<string, string>();
  private quietContext = '';
  /** Namespaces with lxcfs mounts at the last pass. */
  private lxcfsNamespaces = 0;
  /**
   * The index: per namespace, its mounts on this agent's lxcfs as the last pass saw them. When
   * that lxcfs dies they are all dead, and the next pass re-attaches them before reading any
   * mount table (the helper checks each mount's ID and device before acting, so an entry gone
   * stale fails safe, and the scan that follows sees to it).
   */
  private index = new Map<string, IndexedMount[]>();

  private readonly retired: Map<string, string>;

  constructor(private readonly deps: HealerDeps) {
    this.retired = deps.retired ?? new Map<string, string>();
  }

  /**
   * One pass over every container; `agentNamespaces`: the agent's and the host's (their lxcfs path
   * is not a container's). `fromIndex`: healIndexed() of this pass, when the caller started it
   * earlier (so that it runs beside the caller's own work); it runs first here otherwise.
   */
  async heal(
    inst: { readonly device: string; readonly mountDir: string; readonly fsSource: string },
    agentNamespaces: ReadonlySet<string>,
    fromIndexStarted?: Promise<number>,
  ): Promise<HealResult> {
    let healed = 0;
    let pending = 0;
    const ctx: PlanContext = {
      ownDevice: inst.device,
      scopeSource: this.deps.scopeSource,
      takeover: this.deps.takeover,
      instancesDir: this.deps.instancesDir,
      lxcfsPath: this.deps.lxcfsPath,
      agentNamespaces,
    };
    const clock = new PhaseClock();
    const fromIndex = await (fromIndexStarted ?? this.healIndexed(inst));
    healed += fromIndex;
    if (fromIndex > 0) collectGarbage();
    let parsed = 0;
    clock.lap('index');
    const decisions: DeviceDecisions = { decided: new Set(), dead: new Set(), tried: new Set() };
    // First round: scan and re-attach overlap. Namespaces are read in chunks, and each chunk's
    // requests go to a helper at once while the next chunk is read (after an lxcfs restart every
    // container waits on this pass). Helpers run side by side in a few lanes.
    const { namespacesScanned, namespaces } = scanLazily();
    const present = new Set<string>();
    const devices = new Set<string>();
    // At rest most namespaces are as they were: a table whose text did not change since a pass
    // that found nothing to do in it, under the same context, has nothing to do now.
    const context = `${inst.device}|${[...this.deps.takeover].join()}|${[...this.retired].join()}`;
    const useQuiet = this.deps.takeover.size === 0 && this.retired.size === 0 && context === this.quietContext;
    // Only quiet namespaces carry their index entries over: otherwise the old index is let go
    // before the scan builds the next one (at 1,000 containers, a few MiB of peak RSS).
    if (!useQuiet) this.index = new Map();
    const quiet = new Map<string, string>();
    const index = new Map<string, IndexedMount[]>();
    const strings: Interned = new Map();
    const lanes: Promise<unknown>[] = Array.from({ length: MAX_PARALLEL_HELPERS }, () => Promise.resolve());
    const dispatched: Promise<void>[] = [];
    const failures: HelperOutcome[] = [];
    let gone: Done[] = [];
    // Each outcome is settled as its helper answers: a chunk's answers do not wait, with every other
    // chunk's, for the last lane (and get promoted to V8's old generation meanwhile).
    const settle = (outcome: HelperOutcome, sent: Sent, retryGone: boolean): void => {
      if (retryGone && outcome.result === 'gone') {
        gone.push({ outcome, sent });
        return;
      }
      const key = sent.key;
      if (outcome.result === 'ok') {
        this.failedTargets.delete(key);
        healed++;
        this.deps.metrics.mountsHealed.inc();
        indexAttached(index, sent, outcome, inst, strings);
        return;
      }
      if (outcome.how === 'mount-changed' && (outcome.errno === ESTALE || outcome.errno === ENOENT)) {
        // The path leads to another mount now (the container stacked its own over it, or the
        // mount went away): that mount is the container's, and stays as it is.
        this.deps.metrics.mountsLeftAlone.inc();
        return;
      }
      failures.push(outcome);
      const n = (this.failedTargets.get(key) ?? 0) + 1;
      this.failedTargets.set(key, n);
      if (n < MAX_TARGET_FAILURES) pending++;
      if (n === MAX_TARGET_FAILURES) this.deps.log(`giving up on ${JSON.stringify(outcome.request.target)} in ${key.split(' ')[0]} after ${n} failed attempts; recreate that pod`, undefined, 'error');
    };
    // Sized by the namespaces with lxcfs mounts the last pass found (most namespaces on a node have none).
    const chunkSize = Math.max(MIN_CHUNK_NAMESPACES, Math.ceil((this.lxcfsNamespaces || namespacesScanned) / MAX_CHUNKS));
    let chunk: NamespacePlan[] = [];
    const flush = async (): Promise<void> => {
      const { work } = await this.planContainerMounts(inst, chunk, clock, decisions);
      chunk = [];
      if (work.length > 0) {
        // Mounts that propagate to peers in other namespaces are re-attached one at a time (lane 0).
        const lane = work.some((w) => w.candidate.mount.shared === true) ? 0 : dispatched.length % lanes.length;
        // Encoded now, and of each job only what settling needs is kept while it waits for its lane:
        // the chunk's parsed tables die here. The requests are read back from the bytes when the
        // answers come.
        const batch = { bytes: encodeRequests(work.map((w) => w.request)), count: work.length };
        const sent = work.map(sentOf);
        const run = lanes[lane].then(() => this.deps.helper.runEncoded(batch));
        lanes[lane] = run.catch(() => undefined);
        dispatched.push(
          run.then((results) => {
            const requests = decodeRequests(batch.bytes);
            results.forEach((r, n) => settle({ request: requests[n], ...r }, sent[n], true));
          }),
        );
        // Let the helper's pipe move while the next chunk is read.
        await new Promise((r) => setImmediate(r));
      }
      clock.lap('scan');
    };
    for (const source of namespaces) {
      const namespace = source.namespace;
      present.add(namespace);
      const digest = tableFingerprint(source.table);
      if (useQuiet && this.quiet.get(namespace) === digest) {
        quiet.set(namespace, digest);
        const known = this.index.get(namespace);
        if (known !== undefined) index.set(namespace, known);
        continue;
      }
      const ns = source.parse();
      if (ns === undefined) continue;
      if (++parsed % NAMESPACES_PER_COLLECTION === 0) collectGarbage();
      for (const m of ns.mounts) if (m.fsType === LXCFS_FSTYPE) devices.add(m.device);
      // Planned at once, and kept for its chunk only when there is something to do in it: after a
      // restart nearly every namespace was re-attached from the index, and its parsed table then
      // dies young instead of being kept (and promoted to V8's old generation) for a chunk.
      const plan = planNamespace(ns, ctx);
      addToIndex(index, plan.own, inst.mountDir, strings);
      if (isIdle(plan)) {
        quiet.set(namespace, digest);
        continue;
      }
      chunk.push(plan);
      if (chunk.length >= chunkSize) await flush();
    }
    if (chunk.length > 0) await flush();
    clock.lap('scan');
    this.quiet = quiet;
    this.quietContext = context;
    this.index = index;
    this.lxcfsNamespaces = present.size;
    await Promise.all(dispatched);
    clock.lap('attach');
    const helpers = Math.min(dispatched.length, lanes.length);
    for (let round = 1; gone.length > 0; round++) {
      // Every process we knew in those namespaces exited between the scan and the helper. A namespace
      // that still exists has other processes now: look again and enter through those.
      const scan = scanNamespaces();
      clock.lap('scan');
      const still = new Set(scan.withLxcfs.map((ns) => ns.namespace));
      const stillThere = gone.filter((g) => still.has(g.sent.namespace));
      gone = [];
      if (stillThere.length === 0) break;
      if (round >= GONE_RETRIES) {
        for (const g of stillThere) settle(g.outcome, g.sent, false);
        break;
      }
      const plans = scan.withLxcfs.map((ns) => planNamespace(ns, ctx));
      const { work } = await this.planContainerMounts(inst, plans, clock, decisions, new Set(stillThere.map((g) => g.sent.key)));
      const answers = await this.deps.helper.run(work.map((w) => w.request));
      clock.lap('attach');
      answers.forEach((outcome, n) => settle(outcome, sentOf(work[n]), true));
    }
    for (const dev of this.retired.keys()) if (!devices.has(dev) || dev === inst.device) this.retired.delete(dev);
    for (const key of this.failedTargets.keys()) if (!present.has(key.split(' ')[0])) this.failedTargets.delete(key);
    for (const o of failures) {
      this.deps.metrics.healFailures.inc();
      const id = containerIdOf(o.request.pids[0]);
      const where = id ? `container ${id}, pid ${o.request.pids[0]}` : `pid ${o.request.pids[0]}`;
      this.deps.log(`cannot re-attach ${JSON.stringify(o.request.target)} (${where}): ${o.how}: ${o.message}`, undefined, 'warn');
    }
    let givenUp = 0;
    for (const n of this.failedTargets.values()) if (n >= MAX_TARGET_FAILURES) givenUp++;
    this.deps.metrics.mountsGivenUp.set(givenUp);
    let indexed = 0;
    for (const own of index.values()) indexed += own.length;
    if (healed > 0 || parsed >= NAMESPACES_PER_COLLECTION) collectGarbage();
    return {
      healed,
      failed: failures.length,
      pending,
      givenUp,
      namespaces: namespacesScanned,
      phases: { indexMs: clock.ms.index, fromIndex, scanMs: clock.ms.scan, probeMs: clock.ms.probe, attachMs: clock.ms.attach, helpers },
      indexed,
    };
  }

  /**
   * After our own lxcfs was restarted: re-attach every mount the index knew on it, split over the
   * helper lanes. Only successes count here; whatever did not succeed (the mount changed, the
   * namespace's processes left, an error) is left to the scan that follows, which plans and
   * accounts for it from the namespace's current table.
   */
  async healIndexed(inst: { readonly mountDir: string }): Promise<number> {
    const dead: IndexedMount[] = [];
    for (const own of this.index.values()) {
      for (const m of own) {
        if (this.retired.get(m.device) !== m.fsSource) continue;
        if (this.failedTargets.size > 0 && (this.failedTargets.get(keyOf(m)) ?? 0) >= MAX_TARGET_FAILURES) continue;
        dead.push(m);
      }
    }
    // The new lxcfs's directory is the one field the index could not encode before; each file's
    // path in it is checked once (lxcfs serves a handful of files).
    const sources = new Map<string, string | undefined>();
    const sourceOf = (m: IndexedMount): string | undefined => {
      if (!sources.has(m.sourceTail)) {
        const source = `${inst.mountDir}${m.sourceTail}`;
        sources.set(m.sourceTail, isCanonicalPath(source) ? source : undefined);
      }
      return sources.get(m.sourceTail);
    };
    // Each lane gets its requests as soon as they are built, and the pipe moves while the next
    // lane's are built.
    const runs: Promise<number>[] = [];
    for (const slice of splitByNamespace(dead, MAX_PARALLEL_HELPERS)) {
      const parts: string[] = [];
      const sent: IndexedMount[] = [];
      for (const m of slice) {
        const source = sourceOf(m);
        if (source === undefined) continue;
        parts.push(m.before, source, m.after);
        sent.push(m);
      }
      if (sent.length === 0) continue;
      const bytes = Buffer.from(parts.join(''), 'utf8');
      runs.push(this.deps.helper.runEncoded({ bytes, count: sent.length }).then((results) => this.countIndexed(sent, results)));
      await new Promise((r) => setImmediate(r));
    }
    return (await Promise.all(runs)).reduce((a, b) => a + b, 0);
  }

  private countIndexed(sent: readonly IndexedMount[], results: readonly HelperResult[]): number {
    let healed = 0;
    let missed = 0;
    let first: { readonly mount: IndexedMount; readonly result: HelperResult } | undefined;
    results.forEach((result, n) => {
      if (result.result !== 'ok') {
        missed++;
        first ??= { mount: sent[n], result };
        return;
      }
      healed++;
      if (this.failedTargets.size > 0) this.failedTargets.delete(keyOf(sent[n]));
      this.deps.metrics.mountsHealed.inc();
    });
    if (first !== undefined) {
      const { mount, result: o } = first;
      this.deps.log(`${missed} of the mounts the index knew were not re-attached from it (the scan tries them again); e.g. ${JSON.stringify(targetOf(mount))}: ${o.result} ${o.how}: ${o.message}`, {
        missed,
        how: o.how,
        errno: o.errno,
      });
    }
    return healed;
  }

  /**
   * The re-attach requests for the namespaces planned (only for mounts whose `namespace mountID`
   * key is in `only`, when given): mounts of an lxcfs being taken over, and mounts of an lxcfs
   * that a probe through the helper found dead. Mounts that cannot be named exactly are refused.
   */
  private async planContainerMounts(
    inst: { readonly device: string; readonly mountDir: string },
    plans: readonly NamespacePlan[],
    clock: PhaseClock,
    decisions: DeviceDecisions,
    only?: ReadonlySet<string>,
  ): Promise<{ work: Job[] }> {
    const takeover: Candidate[] = [];
    const probe: Candidate[] = [];
    for (const plan of plans) {
      for (const r of plan.refused) this.refuse(r.key, r.mountPoint, r.reason);
      const wanted = (c: Candidate): boolean => (only === undefined || only.has(c.key)) && (this.failedTargets.get(c.key) ?? 0) < MAX_TARGET_FAILURES;
      takeover.push(...plan.takeover.filter(wanted));
      probe.push(...plan.probe.filter(wanted));
    }
    clock.lap('scan');
    const dead = await this.deadDevices(probe, decisions);
    clock.lap('probe');
    const chosen = [...takeover, ...probe.filter((c) => dead.has(deviceKey(c.mount)))];
    const work: Job[] = [];
    for (const c of chosen) {
      const ino = namespaceInode(c.ns.namespace);
      if (ino === undefined) continue;
      const request = replaceRequest(c, ino, inst.mountDir);
      const reason = requestProblem(request);
      if (reason !== undefined) this.refuse(c.key, c.mount.mountPoint, reason);
      else work.push({ request, candidate: c });
    }
    // Adjacent requests for one namespace share the helper's setns.
    clock.lap('scan');
    return { work: work.sort((a, b) => (a.candidate.key < b.candidate.key ? -1 : a.candidate.key > b.candidate.key ? 1 : 0)) };
  }

  /**
   * Which lxcfs devices among the candidates are dead, asked through the helper (never from
   * this thread: a hung FUSE daemon would block it). One probe per device; a probe that met a
   * changed mount or an exited namespace is repeated through another mount of the device.
   * A device whose probe hangs is left alone and probed again only after a growing pause.
   */
  private async deadDevices(candidates: readonly Candidate[], decisions: DeviceDecisions): Promise<ReadonlySet<string>> {
    const { dead, decided, tried } = decisions;
    const now = Date.now();
    for (const [dev, h] of this.hungDevices) if (h.retryAt + HUNG_PROBE_MAX_PAUSE_MS < now) this.hungDevices.delete(dev);
    for (const c of candidates) {
      const hung = this.hungDevices.get(deviceKey(c.mount));
      if (hung !== undefined && hung.retryAt > now) decided.add(deviceKey(c.mount));
      if (this.retired.get(c.mount.device) === c.mount.source) {
        // Our own lxcfs that exited: its FUSE connection ended with it.
        decided.add(deviceKey(c.mount));
        dead.add(deviceKey(c.mount));
      }
    }
    for (let round = 0; round < 3; round++) {
      const probes = nextProbes(candidates, decided, tried).filter((c) => namespaceInode(c.ns.namespace) !== undefined);
      if (probes.length === 0) break;
      const answers = await this.deps.helper.run(probes.map((c) => checkRequest(c, namespaceInode(c.ns.namespace) as bigint)));
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
          this.deps.metrics.hungMounts.inc();
          this.deps.log(`the lxcfs on device ${c.mount.device} does not answer (probed through ${JSON.stringify(c.mount.mountPoint)} in ${c.ns.namespace}); leaving its mounts alone, next probe in ${pauseMs / 1000} s`, undefined, 'warn');
        }
      });
    }
    return dead;
  }

  private refuse(key: string, mountPoint: string, reason: string): void {
    this.deps.metrics.mountsRefused.inc();
    if (this.refusedLogged.has(key)) return;
    if (this.refusedLogged.size > 10000) this.refusedLogged.clear();
    this.refusedLogged.add(key);
    this.deps.log(`refusing to act on the lxcfs mount ${JSON.stringify(mountPoint)} (${key}): ${reason}`, undefined, 'warn');
  }

}

/** Nothing to do in a namespace: no mount to refuse, take over or probe. */
function isIdle(plan: NamespacePlan): boolean {
  return plan.refused.length === 0 && plan.takeover.length === 0 && plan.probe.length === 0;
}

/** Wall time of a pass, split into its phases (planning counts as scan). */
class PhaseClock {
  readonly ms = { index: 0, scan: 0, probe: 0, attach: 0 };
  private last = process.hrtime.bigint();

  lap(phase: keyof PhaseClock['ms']): void {
    const now = process.hrtime.bigint();
    this.ms[phase] += Number(now - this.last) / 1e6;
    this.last = now;
  }
}
