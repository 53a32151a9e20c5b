import { ConflictError, KubeApi, LeaseSpecInput, LeaseState } from '../../lib/webhook/kube-api';
import { Logger } from '../../lib/log';
import { LeaderElector } from '../../lib/webhook/repair';

/** An in-memory FAKE of the Lease part of the API (optimistic concurrency included); nothing else. */
class FakeLeases {
  lease?: LeaseState & { spec: LeaseSpecInput };
  private rv = 1;
  api(): KubeApi {
    const unused = (): never => {
      throw new Error('not part of this fake');
    };
    return {
      getLease: () => Promise.resolve(this.lease ? { ...this.lease.spec, resourceVersion: this.lease.resourceVersion } : undefined),
      createLease: (_ns: string, _name: string, spec: LeaseSpecInput) => {
        if (this.lease) return Promise.reject(new ConflictError('exists'));
        this.lease = { spec, resourceVersion: String(this.rv++) };
        return Promise.resolve({ ...spec, resourceVersion: this.lease.resourceVersion });
      },
      replaceLease: (_ns: string, _name: string, spec: LeaseSpecInput, rv: string) => {
        if (!this.lease || this.lease.resourceVersion !== rv) return Promise.reject(new ConflictError('stale'));
        this.lease = { spec, resourceVersion: String(this.rv++) };
        return Promise.resolve({ ...spec, resourceVersion: this.lease.resourceVersion });
      },
      getSecret: unused,
      createSecret: unused,
      replaceSecret: unused,
      getWebhookConfiguration: unused,
      watchWebhookConfiguration: unused,
      patchWebhookConfiguration: unused,
      listNamespaces: unused,
      listPods: unused,
      createEvent: unused,
      evictPod: unused,
    };
  }
}

describe('Lease leader election (in-memory fake of the Lease API)', () => {
  let now = 1_000_000;
  const leases = new FakeLeases();
  const logger = new Logger({ write: () => true }, 'webhook', 'error');
  const elector = (identity: string): LeaderElector =>
    new LeaderElector({ kube: leases.api(), namespace: 'lxcfs-kit', leaseName: 'repair', identity, leaseDurationSeconds: 15, logger, now: () => now });
  const a = elector('a');
  const b = elector('b');

  test('replicas racing for a missing Lease: exactly one wins', async () => {
    const results = await Promise.all([a.tryAcquireOrRenew(), b.tryAcquireOrRenew()]);
    expect(results.filter(Boolean)).toHaveLength(1);
    if (b.isLeader()) {
      // Keep the rest of the story with `a` as the first leader.
      await b.release();
      expect(await a.tryAcquireOrRenew()).toBe(true);
    }
    expect(leases.lease?.spec.holderIdentity).toBe('a');
  });

  test('the holder renews; the other replica stays a follower while the Lease is fresh', async () => {
    now += 5_000;
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    now += 14_000;
    expect(await b.tryAcquireOrRenew()).toBe(false);
  });

  test('a leader that stops renewing (crashed) loses the Lease once it expires', async () => {
    now += 16_000;
    const transitions = leases.lease?.spec.leaseTransitions ?? 0;
    expect(await b.tryAcquireOrRenew()).toBe(true);
    expect(leases.lease?.spec.holderIdentity).toBe('b');
    expect(leases.lease?.spec.leaseTransitions).toBe(transitions + 1);
    // The old leader comes back and learns it is no longer leading.
    expect(await a.tryAcquireOrRenew()).toBe(false);
    expect(a.isLeader()).toBe(false);
  });

  test('release hands the Lease over at once', async () => {
    await b.release();
    expect(leases.lease?.spec.holderIdentity).toBe('');
    expect(await a.tryAcquireOrRenew()).toBe(true);
  });
});
