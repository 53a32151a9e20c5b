/**
 * The repair reconciler's safeguards in `evict` mode, with the real `lxcfs-kit webhook`
 * process against a FAKE API server (no real one exists on these machines): it evicts only
 * while the webhook configuration exists and trusts the serving certificate, never a static
 * pod's mirror, gives up on a workload whose replacement comes back uninjected, leaves
 * Windows pods alone and reports namespaces left out for their Pod Security level.
 */
import * as http from 'http';
import { FakeApiServer, seedPod } from './fake-apiserver';
import { startWebhookProcess, WebhookProcess } from './helpers';

const NS = 'lxcfs-kit';
const MWC = 'lxcfs-kit';
const fake = new FakeApiServer();
let w: WebhookProcess;

const pod = seedPod;

const windowsAffinity = {
  affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['windows'] }] }] } } },
};

function scans(): string[][] {
  return w.logs.filter((e) => e.msg === 'repair scan').map((e) => e.actions as string[]);
}

async function scanAfter(count: number, pred: (actions: string[]) => boolean, what: string): Promise<string[]> {
  const hit = await w.waitForLog((e) => e.msg === 'repair scan' && scans().length > count && pred(e.actions as string[]), 90_000).catch((err: Error) => {
    throw new Error(`${what}: ${err.message}`);
  });
  return hit.actions as string[];
}

function metricsText(): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: w.metricsPort, path: '/metrics' }, (res) => {
        let t = '';
        res.on('data', (d: Buffer) => (t += d.toString()));
        res.on('end', () => resolve(t));
      })
      .on('error', reject);
  });
}

beforeAll(async () => {
  await fake.start();
  const enabled = { 'lxcfs-kit.io/inject': 'enabled' };
  fake.put('namespaces', { metadata: { name: 'apps', labels: enabled } });
  fake.put('namespaces', { metadata: { name: 'secure', labels: { ...enabled, 'pod-security.kubernetes.io/enforce': 'baseline' } } });
  fake.put('namespaces', { metadata: { name: 'locked', labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } });
  for (const p of [
    pod('apps', 'web-1', { owner: { kind: 'ReplicaSet', name: 'web' } }),
    pod('apps', 'static-node1', { owner: { kind: 'Node', name: 'node1' }, annotations: { 'kubernetes.io/config.mirror': 'abc' } }),
    pod('apps', 'win-1', { owner: { kind: 'ReplicaSet', name: 'win' }, spec: windowsAffinity }),
    pod('secure', 'sec-1', { owner: { kind: 'ReplicaSet', name: 'sec' } }),
    pod('locked', 'opted-1', { owner: { kind: 'ReplicaSet', name: 'opted' }, labels: enabled }),
  ]) {
    fake.put('pods', p);
  }
  // No MutatingWebhookConfiguration yet: a replacement pod would not be injected.
  w = await startWebhookProcess(
    ['--cert-mode=self', `--namespace=${NS}`, '--address=127.0.0.1', '--port=0', '--metrics-port=0', '--sync-interval=1', '--repair-mode=evict', '--repair-interval=5', '--evictions-per-minute=30'],
    { KUBECONFIG: fake.kubeconfigPath, POD_NAME: 'repair-a', KUBERNETES_SERVICE_HOST: '' },
  );
}, 120_000);

afterAll(async () => {
  await w?.stop();
  await fake.stop();
});

function events(reason: string): string[] {
  return fake
    .list('events')
    .filter((e) => e.reason === reason)
    .map((e) => `${e.metadata.namespace}/${(e.involvedObject as { name: string }).name}`);
}

test('without the webhook configuration nothing is evicted; a mirror pod never is; Windows pods and Pod Security namespaces are not uninjected pods (fake API server)', async () => {
  const first = await scanAfter(0, (a) => a.length > 0, 'first scan');
  expect(first.sort()).toEqual(['apps/static-node1:evict-skipped', 'apps/web-1:evict-paused']);
  expect(fake.get('pods', 'apps', 'web-1')).toBeDefined();
  expect(events('LxcfsNotEvicted')).toEqual(['apps/static-node1']);
  // Both namespaces left out for their Pod Security level are reported: the opted-in one and the one of a label-opted pod.
  const reported = w.logs.filter((e) => e.msg === 'opted-in namespace enforces a Pod Security level that forbids hostPath; its pods are not injected').map((e) => e.namespace);
  expect([...new Set(reported)].sort()).toEqual(['locked', 'secure']);
  expect(await metricsText()).toMatch(/lxcfs_kit_webhook_pod_security_skipped_namespaces 2/);
  expect(await metricsText()).toMatch(/lxcfs_kit_webhook_repair_actions_total\{action="evict-paused"\} [1-9]/);
}, 120_000);

test('once the configuration trusts the serving certificate the pod is evicted; its replacement coming back uninjected stops the evictions and is reported (fake API server)', async () => {
  const before = scans().length;
  fake.put('mutatingwebhookconfigurations', {
    metadata: { name: MWC },
    webhooks: [{ name: 'namespaces.lxcfs-kit.io', admissionReviewVersions: ['v1'], sideEffects: 'None', clientConfig: { service: { name: 'lxcfs-kit-webhook', namespace: NS, path: '/mutate', port: 443 } } }],
  });
  const evicted = await scanAfter(before, (a) => a.includes('apps/web-1:evicted'), 'eviction once the configuration is in place');
  expect(evicted).toContain('apps/static-node1:evict-skipped');
  expect(fake.get('pods', 'apps', 'web-1')).toBeUndefined();

  // The ReplicaSet recreates the pod, and it comes back without lxcfs (the webhook was bypassed again).
  const afterEviction = scans().length;
  fake.put('pods', pod('apps', 'web-2', { owner: { kind: 'ReplicaSet', name: 'web' } }));
  await scanAfter(afterEviction, (a) => a.includes('apps/web-2:evict-given-up'), 'giving up on the workload');
  expect(events('LxcfsEvictionStopped')).toEqual(['apps/web-2']);
  // It stays given up: later scans leave the replacement running.
  const givenUp = scans().length;
  const later = await scanAfter(givenUp, (a) => a.some((x) => x.startsWith('apps/web-2:')), 'a later scan');
  expect(later).toContain('apps/web-2:evict-given-up');
  expect(fake.get('pods', 'apps', 'web-2')).toBeDefined();
  const evictions = fake.calls.filter((c) => c.path.endsWith('/eviction'));
  expect(evictions.map((c) => c.path)).toEqual(['/api/v1/namespaces/apps/pods/web-1/eviction']);
}, 180_000);
