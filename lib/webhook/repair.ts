/**
 * The repair reconciler: one replica (elected through a Lease) periodically
 * looks for opted-in pods that were created without lxcfs (the webhook was
 * bypassed, or its configuration was briefly absent), reports each with an
 * Event and a metric, and in `evict` mode evicts them — through the Eviction
 * API so PodDisruptionBudgets hold, rate-limited, and only when a controller
 * will recreate the pod.
 */
import { INJECTED_ANNOTATION, INJECT_ENABLED, INJECT_LABEL, LEGACY_NAMESPACE_LABEL, LEGACY_NAMESPACE_VALUE, PART_OF_LABEL, PROJECT_NAME } from '../contract';
import { POD_SECURITY_ENFORCE_LABEL, forbidsHostPath } from '../pod-security';
import { ClusterPod, ConflictError, KubeApi, LeaseState } from './kube-api';
import { errorText, Logger } from '../log';
import { WebhookMetrics } from './metrics';
import { PodMutator } from './mutate';

export interface LeaderElectorOptions {
  readonly kube: KubeApi;
  readonly namespace: string;
  readonly leaseName: string;
  readonly identity: string;
  readonly leaseDurationSeconds: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** coordination.k8s.io/v1 Lease election: acquire when free or expired, renew while held. */
export class LeaderElector {
  private leading = false;
  private readonly now: () => number;

  constructor(private readonly o: LeaderElectorOptions) {
    this.now = o.now ?? Date.now;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** One attempt; returns whether this replica holds the Lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { kube, namespace, leaseName, identity, leaseDurationSeconds } = this.o;
    const now = new Date(this.now());
    const was = this.leading;
    try {
      const lease = await kube.getLease(namespace, leaseName);
      if (!lease) {
        await kube.createLease(namespace, leaseName, { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 });
        this.leading = true;
      } else if (lease.holderIdentity === identity) {
        await kube.replaceLease(namespace, leaseName, { holderIdentity: identity, leaseDurationSeconds, acquireTime: lease.acquireTime ?? now, renewTime: now, leaseTransitions: lease.leaseTransitions ?? 0 }, lease.resourceVersion);
        this.leading = true;
      } else if (expired(lease, now.getTime())) {
        await kube.replaceLease(
          namespace,
          leaseName,
          { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: (lease.leaseTransitions ?? 0) + 1 },
          lease.resourceVersion,
        );
        this.leading = true;
      } else {
        this.leading = false;
      }
    } catch (err) {
      if (!(err instanceof ConflictError)) this.o.logger.warn('lease update failed', { lease: leaseName, error: errorText(err) });
      this.leading = false;
    }
    if (was !== this.leading) this.o.logger.info(this.leading ? 'became repair leader' : 'lost repair leadership', { lease: leaseName, identity });
    return this.leading;
  }

  /** Hands the Lease back on shutdown so another replica takes over at once. */
  async release(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.o.kube.getLease(this.o.namespace, this.o.leaseName);
      if (lease?.holderIdentity !== this.o.identity) return;
      const t = new Date(this.now());
      await this.o.kube.replaceLease(this.o.namespace, this.o.leaseName, { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: t, renewTime: t, leaseTransitions: lease.leaseTransitions ?? 0 }, lease.resourceVersion);
    } catch (err) {
      this.o.logger.warn('lease release failed', { error: errorText(err) });
    }
  }
}

function expired(lease: LeaseState, now: number): boolean {
  if (!lease.holderIdentity) return true;
  const renewed = lease.renewTime?.getTime() ?? 0;
  return renewed + (lease.leaseDurationSeconds ?? 15) * 1000 < now;
}

export type RepairMode = 'report' | 'evict';

export interface ReconcilerOptions {
  readonly kube: KubeApi;
  readonly mutator: PodMutator;
  readonly mode: RepairMode;
  readonly legacyNamespaceLabel: boolean;
  readonly evictionsPerMinute: number;
  readonly identity: string;
  readonly logger: Logger;
  readonly metrics: WebhookMetrics;
  /**
   * Namespaces enforcing a Pod Security level that forbids hostPath are left out of injection
   * (the webhook configuration's selector); the reconciler then reports them instead of their pods.
   * @default true
   */
  readonly skipPodSecurityEnforced?: boolean;
  /**
   * Whether a replacement pod would be injected now: the webhook configuration exists and its
   * caBundle verifies the serving certificate. Evictions wait while it is false.
   * @default always true
   */
  readonly configurationReady?: () => Promise<boolean>;
  readonly now?: () => number;
}

export type RepairAction =
  | 'reported'
  | 'already-reported'
  | 'evicted'
  | 'evict-skipped'
  | 'evict-blocked'
  | 'evict-deferred'
  | 'evict-paused'
  | 'evict-given-up'
  | 'evict-failed';

export interface ScanResult {
  readonly uninjected: { namespace: string; name: string; action: RepairAction }[];
  /** Opted-in namespaces left out because their Pod Security level forbids hostPath. */
  readonly podSecurityNamespaces: string[];
}

/** A workload whose pods this leader evicted: the pods it had then, and whether evicting it was given up. */
interface WorkloadState {
  readonly podsAtEviction: Set<string>;
  gaveUp: boolean;
}

/** Annotation kubelet sets on the API mirror of a static pod; evicting a mirror pod changes nothing. */
const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

export class RepairReconciler {
  /** Pod uids already given an Event, so a long-lived pod does not get one per scan. */
  private readonly reported = new Set<string>();
  private readonly reportedNamespaces = new Set<string>();
  private readonly workloads = new Map<string, WorkloadState>();
  private evictionTimes: number[] = [];
  private readonly now: () => number;
  private readonly log: Logger;

  constructor(private readonly o: ReconcilerOptions) {
    this.now = o.now ?? Date.now;
    this.log = o.logger.child({ subsystem: 'repair' });
  }

  /** The pods this scan considers created without injection, and the opted-in namespaces left out for Pod Security. */
  async findUninjected(): Promise<{ pods: ClusterPod[]; podSecurityNamespaces: string[] }> {
    const { kube } = this.o;
    const nsLists = [kube.listNamespaces(`${INJECT_LABEL}=${INJECT_ENABLED}`)];
    if (this.o.legacyNamespaceLabel) nsLists.push(kube.listNamespaces(`${LEGACY_NAMESPACE_LABEL}=${LEGACY_NAMESPACE_VALUE}`));
    const namespaces = (await Promise.all(nsLists)).flat();
    const skipPsa = this.o.skipPodSecurityEnforced ?? true;
    const podSecurity = new Set(skipPsa ? namespaces.filter((n) => forbidsHostPath(n.labels)).map((n) => n.name) : []);
    const optedIn = new Set(namespaces.map((n) => n.name).filter((n) => !podSecurity.has(n)));
    // Only what can be in scope: the opted-in namespaces, and pods opted in by label anywhere.
    const lists = await Promise.all([
      kube.listPods(undefined, `${INJECT_LABEL}=${INJECT_ENABLED}`),
      ...[...optedIn].filter((ns) => !this.o.mutator.skipReason({}, ns)).map((ns) => kube.listPods(ns)),
    ]);
    // Pods opted in by label in a namespace left out for Pod Security: its level is only known for opted-in namespaces,
    // so label-opted pods elsewhere are judged by the namespaces listed here.
    const psaLabelled = skipPsa ? await this.podSecurityNamespacesOf(lists[0]) : new Set<string>();
    const seen = new Set<string>();
    const pods: ClusterPod[] = [];
    for (const p of lists.flat()) {
      const key = p.metadata.uid ?? `${p.metadata.namespace}/${p.metadata.name}`;
      if (!seen.has(key)) {
        seen.add(key);
        pods.push(p);
      }
    }
    for (const ns of psaLabelled) podSecurity.add(ns);
    return { pods: pods.filter((pod) => !podSecurity.has(pod.metadata.namespace ?? '') && this.isUninjected(pod, optedIn)), podSecurityNamespaces: [...podSecurity].sort() };
  }

  /** Namespaces of label-opted pods that enforce a hostPath-forbidding level (the webhook is not called for those pods either). */
  private async podSecurityNamespacesOf(pods: ClusterPod[]): Promise<Set<string>> {
    const names = new Set(pods.map((p) => p.metadata.namespace ?? ''));
    if (names.size === 0) return new Set();
    const all = await this.o.kube.listNamespaces('');
    return new Set(all.filter((n) => names.has(n.name) && forbidsHostPath(n.labels)).map((n) => n.name));
  }

  isUninjected(pod: ClusterPod, optedInNamespaces: ReadonlySet<string>): boolean {
    const meta = pod.metadata;
    const ns = meta?.namespace ?? '';
    const labels = meta?.labels ?? {};
    if (!(optedInNamespaces.has(ns) || labels[INJECT_LABEL] === INJECT_ENABLED)) return false;
    if (labels[PART_OF_LABEL] === PROJECT_NAME) return false; // the webhook's objectSelector excludes these too
    if (meta?.deletionTimestamp) return false;
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return false;
    if (meta?.annotations?.[INJECTED_ANNOTATION] !== undefined) return false;
    // The same decision the webhook makes (system/own namespace, Windows, opt-out, exclusions, own mounts).
    return this.o.mutator.needsInjection(pod, ns);
  }

  async scan(): Promise<ScanResult> {
    const { pods, podSecurityNamespaces } = await this.findUninjected();
    this.reportPodSecurity(podSecurityNamespaces);
    this.o.metrics.uninjectedPods.set(pods.length);
    const present = new Set(pods.map(podKey));
    for (const uid of this.reported) if (!present.has(uid)) this.reported.delete(uid);
    // Forget workloads with no uninjected pod left: their replacements came back injected.
    const owners = new Set(pods.map(workloadKey).filter((k): k is string => k !== undefined));
    for (const k of this.workloads.keys()) if (!owners.has(k)) this.workloads.delete(k);

    const result: ScanResult['uninjected'] = [];
    let ready: Promise<boolean> | undefined;
    const configurationReady = (): Promise<boolean> => (ready ??= this.checkConfiguration());
    for (const pod of pods) {
      const namespace = pod.metadata.namespace ?? '';
      const name = pod.metadata.name ?? '';
      const key = podKey(pod);
      const first = !this.reported.has(key);
      let action: RepairAction = first ? 'reported' : 'already-reported';
      if (first) {
        this.reported.add(key);
        this.o.metrics.repairActions.inc({ action: 'reported' });
        this.log.warn('pod in lxcfs scope runs without lxcfs', { namespace, pod: name, mode: this.o.mode });
        await this.event(pod, 'Warning', 'LxcfsNotInjected', this.o.mode === 'evict'
          ? 'pod was created without lxcfs injection (webhook bypassed or not configured); lxcfs-kit will evict it so its controller recreates it injected'
          : 'pod was created without lxcfs injection (webhook bypassed or not configured); recreate it to get lxcfs');
      }
      if (this.o.mode === 'evict') action = (await this.evict(pod, first, pods, configurationReady)) ?? action;
      result.push({ namespace, name, action });
    }
    return { uninjected: result, podSecurityNamespaces };
  }

  private reportPodSecurity(namespaces: string[]): void {
    this.o.metrics.podSecurityNamespaces.set(namespaces.length);
    for (const ns of namespaces) {
      if (this.reportedNamespaces.has(ns)) continue;
      this.log.warn('opted-in namespace enforces a Pod Security level that forbids hostPath; its pods are not injected', { namespace: ns, label: POD_SECURITY_ENFORCE_LABEL });
    }
    this.reportedNamespaces.clear();
    for (const ns of namespaces) this.reportedNamespaces.add(ns);
  }

  private async checkConfiguration(): Promise<boolean> {
    let ok: boolean;
    try {
      ok = (await this.o.configurationReady?.()) ?? true;
    } catch (err) {
      this.log.warn('could not check the webhook configuration; not evicting this round', { error: errorText(err) });
      return false;
    }
    if (!ok) this.log.warn('webhook configuration missing or not trusting the serving certificate: a replacement pod would not be injected either; not evicting');
    return ok;
  }

  private async evict(pod: ClusterPod, first: boolean, scanned: readonly ClusterPod[], configurationReady: () => Promise<boolean>): Promise<RepairAction | undefined> {
    const namespace = pod.metadata.namespace ?? '';
    const name = pod.metadata.name ?? '';
    const workload = workloadKey(pod);
    const mirror = pod.metadata.annotations?.[MIRROR_ANNOTATION] !== undefined || controllerOf(pod)?.kind === 'Node';
    if (!workload || mirror) {
      if (first) {
        this.o.metrics.repairActions.inc({ action: 'evict-skipped' });
        await this.event(pod, 'Warning', 'LxcfsNotEvicted', mirror
          ? 'pod is the mirror of a static pod, which kubelet recreates unchanged, so lxcfs-kit does not evict it; add the lxcfs mounts to the static pod manifest'
          : 'pod has no controller that would recreate it, so lxcfs-kit does not evict it; recreate it by hand to get lxcfs');
      }
      return 'evict-skipped';
    }
    const state = this.workloads.get(workload);
    if (state?.gaveUp) return 'evict-given-up';
    if (state && !state.podsAtEviction.has(podKey(pod))) {
      // A pod this workload created after an eviction came back without lxcfs: evicting again would loop.
      state.gaveUp = true;
      this.o.metrics.repairActions.inc({ action: 'evict-given-up' });
      this.log.warn('replacement pod came back without lxcfs; no longer evicting this workload', { namespace, pod: name, workload });
      await this.event(pod, 'Warning', 'LxcfsEvictionStopped', 'this pod replaced one lxcfs-kit evicted and came back without lxcfs again, so lxcfs-kit stops evicting pods of its controller; check that the webhook is reachable and the pod is in its scope');
      return 'evict-given-up';
    }
    if (!(await configurationReady())) {
      this.o.metrics.repairActions.inc({ action: 'evict-paused' });
      return 'evict-paused';
    }
    const now = this.now();
    this.evictionTimes = this.evictionTimes.filter((t) => t > now - 60_000);
    if (this.evictionTimes.length >= this.o.evictionsPerMinute) return 'evict-deferred';
    this.evictionTimes.push(now);
    try {
      const r = await this.o.kube.evictPod(namespace, name);
      if (r === 'blocked') {
        this.o.metrics.repairActions.inc({ action: 'evict-blocked' });
        this.log.info('eviction refused by a PodDisruptionBudget; will retry', { namespace, pod: name });
        return 'evict-blocked';
      }
      // Every pod the workload has now is known: any other uninjected one later is a replacement.
      const known = state?.podsAtEviction ?? new Set<string>();
      for (const p of scanned) if (workloadKey(p) === workload) known.add(podKey(p));
      this.workloads.set(workload, { podsAtEviction: known, gaveUp: false });
      if (r === 'evicted') {
        this.o.metrics.repairActions.inc({ action: 'evicted' });
        this.log.info('evicted uninjected pod', { namespace, pod: name });
        await this.event(pod, 'Normal', 'LxcfsEvicted', 'evicted by lxcfs-kit so that its controller recreates it with lxcfs');
      }
      return 'evicted';
    } catch (err) {
      this.o.metrics.repairActions.inc({ action: 'evict-failed' });
      this.o.metrics.errors.inc({ kind: 'repair' });
      this.log.warn('eviction failed', { namespace, pod: name, error: errorText(err) });
      return 'evict-failed';
    }
  }

  private async event(pod: ClusterPod, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    try {
      await this.o.kube.createEvent({
        namespace: pod.metadata.namespace ?? '',
        podName: pod.metadata.name ?? '',
        podUid: pod.metadata.uid,
        type,
        reason,
        message,
        reportingInstance: this.o.identity,
      });
    } catch (err) {
      this.o.metrics.errors.inc({ kind: 'kubernetes' });
      this.log.warn('could not create event', { namespace: pod.metadata.namespace, pod: pod.metadata.name, error: errorText(err) });
    }
  }
}

function podKey(pod: ClusterPod): string {
  return pod.metadata.uid ?? `${pod.metadata.namespace}/${pod.metadata.name}`;
}

function controllerOf(pod: ClusterPod): { kind?: string; name?: string; uid?: string } | undefined {
  return (pod.metadata.ownerReferences ?? []).find((r) => r.controller === true);
}

/** The controller that recreates the pod, as namespace/kind/name; undefined when nothing would. */
function workloadKey(pod: ClusterPod): string | undefined {
  const c = controllerOf(pod);
  return c ? `${pod.metadata.namespace ?? ''}/${c.kind ?? ''}/${c.name ?? ''}` : undefined;
}
