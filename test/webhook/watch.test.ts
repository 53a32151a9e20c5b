/**
 * The caBundle is restored by the watch on the webhook configuration, not only
 * by the periodic check: with a 10-minute poll, only the watch explains a re-publish
 * within seconds. Also: report mode reports and never evicts. Real process,
 * official client, FAKE API server.
 */
import { FakeApiServer } from './fake-apiserver';
import { startWebhookProcess, WebhookProcess } from './helpers';

const NS = 'lxcfs-kit';
const fake = new FakeApiServer();
let webhook: WebhookProcess;

type Mwc = { metadata: { name: string }; webhooks: { name: string; clientConfig: Record<string, unknown> }[] };
const mwc = (): Mwc => fake.get('mutatingwebhookconfigurations', undefined, 'lxcfs-kit') as unknown as Mwc;

beforeAll(async () => {
  await fake.start();
  fake.put('namespaces', { metadata: { name: 'apps', labels: { 'lxcfs-kit.io/inject': 'enabled' } } });
  fake.put('namespaces', { metadata: { name: 'legacy', labels: { 'lxcfs-admission-webhook': 'enabled' } } });
  for (const ns of ['apps', 'legacy']) {
    fake.put('pods', {
      metadata: { name: 'bare', namespace: ns, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u', controller: true }] },
      spec: { containers: [{ name: 'app', image: 'busybox' }] },
      status: { phase: 'Running' },
    });
  }
  fake.put('mutatingwebhookconfigurations', {
    metadata: { name: 'lxcfs-kit' },
    webhooks: [{ name: 'pods.lxcfs-kit.io', clientConfig: { service: { name: 'lxcfs-kit-webhook', namespace: NS, path: '/mutate' } } }],
  });
  webhook = await startWebhookProcess(
    ['--cert-mode=self', `--namespace=${NS}`, '--address=127.0.0.1', '--port=0', '--metrics-port=0', '--sync-interval=600', '--repair-mode=report', '--repair-interval=5'],
    { KUBECONFIG: fake.kubeconfigPath, POD_NAME: 'replica-a' },
  );
}, 120_000);

afterAll(async () => {
  await webhook?.stop();
  await fake.stop();
});

async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a configuration replaced without its caBundle is patched again within seconds, by the watch (fake API server)', async () => {
  await until('first publish', () => typeof mwc().webhooks[0].clientConfig.caBundle === 'string', 60_000);
  const bundle = mwc().webhooks[0].clientConfig.caBundle;
  await until('watch established', () => fake.calls.some((c) => c.method === 'WATCH' && c.path.endsWith('/mutatingwebhookconfigurations')), 60_000);
  for (let round = 0; round < 3; round++) {
    // What `helm upgrade` or a GitOps sync does: the whole object, as in the chart, without the bundle.
    const replaced = JSON.parse(JSON.stringify(mwc())) as Mwc;
    delete replaced.webhooks[0].clientConfig.caBundle;
    fake.put('mutatingwebhookconfigurations', replaced);
    expect(mwc().webhooks[0].clientConfig.caBundle).toBeUndefined();
    await until(`re-published (round ${round})`, () => mwc().webhooks[0].clientConfig.caBundle === bundle, 20_000);
  }
});

test('report mode (the default) reports an uninjected pod with an Event and never evicts; the legacy label is off by default (fake API server)', async () => {
  await until('event', () => fake.list('events').length > 0, 60_000);
  // Let another whole scan pass: a pass starts by listing the opted-in namespaces, so two
  // more starts mean one pass ran entirely after the event.
  const scans = (): number => fake.count('GET', '/api/v1/namespaces');
  const seen = scans();
  await until('another scan pass', () => scans() >= seen + 2, 60_000);
  const events = fake.list('events').map((e) => `${e.metadata.namespace}/${(e.involvedObject as { name: string }).name}:${String(e.reason)}:${String(e.type)}`);
  expect(events).toEqual(['apps/bare:LxcfsNotInjected:Warning']);
  expect(fake.calls.filter((c) => c.path.endsWith('/eviction'))).toEqual([]);
  expect(fake.get('pods', 'apps', 'bare')).toBeDefined();
});
