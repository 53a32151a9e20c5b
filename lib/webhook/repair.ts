/**
 * The repair reconciler: one replica (elected through a Lease) periodically
 * looks for opted-in pods that were created without lxcfs (the webhook was
 * bypassed, or its configuration was briefly absent), reports each with an
 * Event and a metric, and in `evict` mode evicts them — through the Eviction
 * API so PodDisruptionBudgets hold, rate-limited, and only when a controller
 * will recreate the pod.
 */
import { INJECTED_ANNOTATION, INJECT_ENABLED, INJECT_LABEL, LEGACY_NAMESPACE_LABEL, LEGACY_NAMESPACE_VALUE, PART_OF_LABEL, PROJECT_NAME } from '../contract';
import { ClusterPod, ConflictError, KubeApi, LeaseState } from './kube-api';
import { errorText, Logger } from './log';
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
  readonly now?: () => number;
}

export interface ScanResult {
  readonly uninjected: { namespace: string; name: string; action: 'reported' | 'evicted' | 'evict-skipped' | 'evict-blocked' | 'evict-deferred' | 'evict-failed' | 'already-reported' }[];
}

export class RepairReconciler {
  /** Pod uids already given an Event, so a long-lived pod does not get one per scan. */
  private readonly reported = new Set<string>();
  private evictionTimes: number[] = [];
  private readonly now: () => number;
  private readonly log: Logger;

  constructor(private readonly o: ReconcilerOptions) {
    this.now = o.now ?? Date.now;
    this.log = o.logger.child({ subsystem: 'repair' });
  }

  /** The pods this scan considers created without injection. */
  async findUninjected(): Promise<ClusterPod[]> {
    const { kube } = this.o;
    const nsLists = [kube.listNamespaces(`${INJECT_LABEL}=${INJECT_ENABLED}`)];
    if (this.o.legacyNamespaceLabel) nsLists.push(kube.listNamespaces(`${LEGACY_NAMESPACE_LABEL}=${LEGACY_NAMESPACE_VALUE}`));
    const optedIn = new Set((await Promise.all(nsLists)).flat());
    // Only what can be in scope: the opted-in namespaces, and pods opted in by label anywhere.
    const lists = await Promise.all([
      kube.listPods(undefined, `${INJECT_LABEL}=${INJECT_ENABLED}`),
      ...[...optedIn].filter((ns) => !this.o.mutator.skipReason({}, ns)).map((ns) => kube.listPods(ns)),
    ]);
    const seen = new Set<string>();
    const pods: ClusterPod[] = [];
    for (const p of lists.flat()) {
      const key = p.metadata.uid ?? `${p.metadata.namespace}/${p.metadata.name}`;
      if (!seen.has(key)) {
        seen.add(key);
        pods.push(p);
      }
    }
    return pods.filter((pod) => this.isUninjected(pod, optedIn));
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
    const pods = await this.findUninjected();
    this.o.metrics.uninjectedPods.set(pods.length);
    const present = new Set(pods.map((p) => p.metadata.uid ?? `${p.metadata.namespace}/${p.metadata.name}`));
    for (const uid of this.reported) if (!present.has(uid)) this.reported.delete(uid);
    const result: ScanResult['uninjected'] = [];
    for (const pod of pods) {
      const namespace = pod.metadata.namespace ?? '';
      const name = pod.metadata.name ?? '';
      const key = pod.metadata.uid ?? `${namespace}/${name}`;
      const first = !this.reported.has(key);
      let action: ScanResult['uninjected'][number]['action'] = first ? 'reported' : 'already-reported';
      if (first) {
        this.reported.add(key);
        this.o.metrics.repairActions.inc({ action: 'reported' });
        this.log.warn('pod in lxcfs scope runs without lxcfs', { namespace, pod: name, mode: this.o.mode });
        await this.event(pod, 'Warning', 'LxcfsNotInjected', this.o.mode === 'evict'
          ? 'pod was created without lxcfs injection (webhook bypassed or not configured); lxcfs-kit will evict it so its controller recreates it injected'
          : 'pod was created without lxcfs injection (webhook bypassed or not configured); recreate it to get lxcfs');
      }
      if (this.o.mode === 'evict') action = await this.evict(pod, first) ?? action;
      result.push({ namespace, name, action });
    }
    return { uninjected: result };
  }

  private async evict(pod: ClusterPod, first: boolean): Promise<ScanResult['uninjected'][number]['action'] | undefined> {
    const namespace = pod.metadata.namespace ?? '';
    const name = pod.metadata.name ?? '';
    const controlled = (pod.metadata.ownerReferences ?? []).some((r) => r.controller === true);
    if (!controlled) {
      if (first) {
        this.o.metrics.repairActions.inc({ action: 'evict-skipped' });
        await this.event(pod, 'Warning', 'LxcfsNotEvicted', 'pod has no controller that would recreate it, so lxcfs-kit does not evict it; recreate it by hand to get lxcfs');
      }
      return 'evict-skipped';
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
