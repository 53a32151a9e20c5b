/**
 * The cluster-facing parts of the webhook — self-managed certificates, caBundle
 * publishing, Lease election, the repair reconciler — exercised through the
 * real `lxcfs-kit webhook` process and the official @kubernetes/client-node,
 * against a FAKE API server (no real one exists on these machines).
 */
import * as crypto from 'crypto';
import * as http from 'http';
import * as https from 'https';
import * as tls from 'tls';
import { INJECTED_ANNOTATION } from '../../lib/contract';
import { issueServingCert, serviceDnsNames, splitPemBundle } from '../../lib/webhook/tls';
import { FakeApiServer, seedPod } from './fake-apiserver';
import { WebhookProcess, eventually, startWebhookProcess } from './helpers';

const NS = 'lxcfs-kit';
const SERVICE_DNS = `lxcfs-kit-webhook.${NS}.svc`;
const MWC = 'lxcfs-kit';

const fake = new FakeApiServer();
const replicas: Record<string, WebhookProcess> = {};

function pod(namespace: string, name: string, extra: { labels?: Record<string, string>; annotations?: Record<string, string>; owner?: boolean; spec?: Record<string, unknown>; phase?: string } = {}): Parameters<FakeApiServer['put']>[1] {
  const { owner, ...rest } = extra;
  return seedPod(namespace, name, { ...rest, owner: owner ? { kind: 'ReplicaSet', name: `${name}-rs`, uid: 'rs-uid' } : undefined });
}

function seed(): void {
  const webhook = (name: string): Record<string, unknown> => ({
    name,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Fail',
    clientConfig: { service: { name: 'lxcfs-kit-webhook', namespace: NS, path: '/mutate', port: 443 } },
  });
  fake.put('mutatingwebhookconfigurations', { metadata: { name: MWC }, webhooks: [webhook('namespaces.lxcfs-kit.io'), webhook('pods.lxcfs-kit.io')] });
  fake.put('namespaces', { metadata: { name: 'apps', labels: { 'lxcfs-kit.io/inject': 'enabled' } } });
  fake.put('namespaces', { metadata: { name: 'legacy', labels: { 'lxcfs-admission-webhook': 'enabled' } } });
  fake.put('namespaces', { metadata: { name: 'other' } });
  fake.put('namespaces', { metadata: { name: 'kube-system', labels: { 'lxcfs-kit.io/inject': 'enabled' } } });
  fake.put('namespaces', { metadata: { name: NS, labels: { 'lxcfs-kit.io/inject': 'enabled' } } });
  const enabled = { 'lxcfs-kit.io/inject': 'enabled' };
  for (const p of [
    pod('apps', 'injected', { owner: true, annotations: { [INJECTED_ANNOTATION]: '/proc/meminfo' } }),
    pod('apps', 'bare-rs', { owner: true }),
    pod('apps', 'blocked-by-pdb', { owner: true, labels: { 'fake-pdb': 'block' } }),
    pod('apps', 'bare-naked'),
    pod('apps', 'opted-out', { owner: true, labels: { 'lxcfs-kit.io/inject': 'disabled' } }),
    pod('apps', 'windows', { owner: true, spec: { os: { name: 'windows' } } }),
    pod('apps', 'finished', { owner: true, phase: 'Succeeded' }),
    pod('apps', 'all-excluded', { owner: true, annotations: { 'lxcfs-kit.io/exclude-containers': 'app' } }),
    pod('legacy', 'legacy-rs', { owner: true }),
    pod('other', 'opted-in-pod', { labels: enabled }),
    pod('other', 'plain', { owner: true }),
    pod('kube-system', 'system', { owner: true, labels: enabled }),
    pod(NS, 'own', { owner: true, labels: enabled }),
  ]) {
    fake.put('pods', p);
  }
}

function publishedBundle(): string {
  const m = fake.get('mutatingwebhookconfigurations', undefined, MWC) as unknown as { webhooks: { clientConfig: { caBundle?: string } }[] };
  const b = m.webhooks[0].clientConfig.caBundle;
  return b ? Buffer.from(b, 'base64').toString('utf8') : '';
}

/** Connects trusting only `ca`, checking the Service name; returns the served certificate's serial. */
function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: SERVICE_DNS, ca, minVersion: 'TLSv1.2' }, () => {
      const serial = s.getPeerCertificate().serialNumber;
      s.end();
      resolve(serial);
    });
    s.on('error', reject);
  });
}

function get(port: number, p: string, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const done = (res: http.IncomingMessage): void => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    };
    const req = ca
      ? https.get({ host: '127.0.0.1', port, path: p, ca, servername: SERVICE_DNS }, done)
      : http.get({ host: '127.0.0.1', port, path: p }, done);
    req.on('error', reject);
  });
}

function events(reason?: string): { ns: string; pod: string; reason: string }[] {
  return fake
    .list('events')
    .map((e) => ({ ns: e.metadata.namespace ?? '', pod: (e.involvedObject as { name: string }).name, reason: e.reason as string }))
    .filter((e) => reason === undefined || e.reason === reason);
}

function startReplica(name: string): Promise<WebhookProcess> {
  return startWebhookProcess(
    [
      '--cert-mode=self',
      `--namespace=${NS}`,
      '--address=127.0.0.1',
      '--port=0',
      '--metrics-port=0',
      '--sync-interval=1',
      '--repair-mode=evict',
      '--repair-interval=5',
      '--evictions-per-minute=2',
      '--legacy-namespace-label',
    ],
    { KUBECONFIG: fake.kubeconfigPath, POD_NAME: name, KUBERNETES_SERVICE_HOST: '' },
  );
}

beforeAll(async () => {
  await fake.start();
  seed();
  const [a, b] = await Promise.all([startReplica('replica-a'), startReplica('replica-b')]);
  replicas.a = a;
  replicas.b = b;
  // Self mode listens before it has its certificate; the tests start from replicas that have one.
  await Promise.all([a, b].map((r) => r.waitForLog((e) => e.msg === 'serving certificate loaded')));
}, 240_000);

afterAll(async () => {
  await Promise.all(Object.values(replicas).map((r) => r.stop()));
  await fake.stop();
});

describe('self-managed certificates (fake API server)', () => {
  test('two replicas starting together create exactly one Secret and publish its CA; both become ready', async () => {
    const creates = fake.calls.filter((c) => c.method === 'POST' && c.path === `/api/v1/namespaces/${NS}/secrets`);
    expect(creates.filter((c) => c.status === 201)).toHaveLength(1);
    const secret = fake.get('secrets', NS, 'lxcfs-kit-webhook-tls') as unknown as { data: Record<string, string> };
    const caBundle = Buffer.from(secret.data['ca.crt'], 'base64').toString('utf8');
    await eventually('caBundle published', () => publishedBundle() === caBundle);
    const m = fake.get('mutatingwebhookconfigurations', undefined, MWC) as unknown as { webhooks: { clientConfig: { caBundle?: string } }[] };
    expect(m.webhooks.map((w) => w.clientConfig.caBundle)).toEqual([secret.data['ca.crt'], secret.data['ca.crt']]);
    // The serving certificate names the Service and is signed by the published CA.
    const cert = new crypto.X509Certificate(Buffer.from(secret.data['tls.crt'], 'base64').toString('utf8'));
    expect(cert.subjectAltName).toContain(`DNS:${SERVICE_DNS}`);
    expect(cert.verify(new crypto.X509Certificate(caBundle).publicKey)).toBe(true);
    for (const r of Object.values(replicas)) {
      await eventually('readyz', async () => (await get(r.port, '/readyz', caBundle)).status === 200);
    }
  });

  test('a TLS client that trusts only the published CA connects to both replicas', async () => {
    const ca = publishedBundle();
    for (const r of Object.values(replicas)) expect(await servedSerial(r.port, ca)).toMatch(/^[0-9A-F]+$/);
  });

  test('the webhook configuration is only ever patched at caBundle, by JSON Patch guarded with test ops', () => {
    const writes = fake.calls.filter((c) => c.path.includes('mutatingwebhookconfigurations') && c.method !== 'GET' && c.method !== 'WATCH');
    expect(writes.length).toBeGreaterThan(0);
    for (const w of writes) {
      expect(w.method).toBe('PATCH');
      expect(w.contentType).toBe('application/json-patch+json');
      for (const op of w.body as { op: string; path: string }[]) {
        if (op.op === 'test') expect(op.path).toMatch(/^\/webhooks\/\d+\/name$/);
        else expect(op).toMatchObject({ op: 'add', path: expect.stringMatching(/^\/webhooks\/\d+\/clientConfig\/caBundle$/) as unknown });
      }
    }
  });

  test('the caBundle is published again when an upgrade replaces the configuration without it', async () => {
    const ca = publishedBundle();
    const current = fake.get('mutatingwebhookconfigurations', undefined, MWC) as unknown as { metadata: { name: string }; webhooks: { clientConfig: Record<string, unknown> }[] };
    const stripped = JSON.parse(JSON.stringify(current)) as typeof current;
    for (const w of stripped.webhooks) delete w.clientConfig.caBundle;
    fake.put('mutatingwebhookconfigurations', stripped);
    expect(publishedBundle()).toBe('');
    await eventually('caBundle re-published', () => publishedBundle() === ca);
  });

  test('a deleted Secret is recreated with a new CA while the old CA stays in the published bundle', async () => {
    const old = publishedBundle();
    expect(fake.get('secrets', NS, 'lxcfs-kit-webhook-tls')).toBeDefined();
    fake.remove('secrets', NS, 'lxcfs-kit-webhook-tls');
    const secret = await eventually('Secret recreated', () => fake.get('secrets', NS, 'lxcfs-kit-webhook-tls'));
    const bundle = Buffer.from((secret as unknown as { data: Record<string, string> }).data['ca.crt'], 'base64').toString('utf8');
    const oldCas = old.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    for (const ca of oldCas) expect(bundle).toContain(ca);
    await eventually('new bundle published', () => publishedBundle() === bundle);
    // Whatever each replica serves right now verifies against the published bundle.
    for (const r of Object.values(replicas)) await eventually('served', () => servedSerial(r.port, bundle));
  });

  test('the serving certificate is renewed before expiry and hot-reloaded: same processes, same trusted CA, new certificate', async () => {
    const ca = publishedBundle();
    const pids = Object.values(replicas).map((r) => r.proc.pid);
    const before = await servedSerial(replicas.a.port, ca);
    // The lifetime is chosen now, not when the replicas started: the Secret gets a serving
    // certificate of the current CA that falls due for renewal (two thirds into its life) in
    // 5 s and stays valid for 5 minutes, so a late sync on a loaded machine never meets an
    // expired certificate.
    const dueInMs = 5_000;
    const validMs = 300_000;
    const lifetime = 3 * (validMs - dueInMs);
    const stored = fake.get('secrets', NS, 'lxcfs-kit-webhook-tls') as unknown as { metadata: { name: string; namespace: string }; type: string; data: Record<string, string> };
    const text = (k: string): string => Buffer.from(stored.data[k], 'base64').toString('utf8');
    const dueSoon = issueServingCert({ certPem: splitPemBundle(text('ca.crt'))[0], keyPem: text('ca.key') }, serviceDnsNames('lxcfs-kit-webhook', NS), lifetime, Date.now() + validMs - lifetime);
    const b64 = (pem: string): string => Buffer.from(pem, 'utf8').toString('base64');
    fake.put('secrets', { ...stored, data: { ...stored.data, 'tls.crt': b64(dueSoon.certPem), 'tls.key': b64(dueSoon.keyPem) } });
    const dueSoonSerial = new crypto.X509Certificate(dueSoon.certPem).serialNumber;
    const after = await eventually('a renewed serving certificate', async () => {
      const s = await servedSerial(replicas.a.port, ca);
      return s !== before && s !== dueSoonSerial ? s : undefined;
    }, 90_000);
    expect(after).not.toBe(before);
    expect(Object.values(replicas).some((r) => r.logs.some((e) => e.msg === 'certificates rotated' && e.what === 'serving'))).toBe(true);
    expect(await servedSerial(replicas.b.port, ca)).toMatch(/^[0-9A-F]+$/);
    expect(Object.values(replicas).map((r) => r.proc.pid)).toEqual(pids);
    expect(Object.values(replicas).every((r) => r.proc.exitCode === null)).toBe(true);
    const metrics = await get(replicas.a.metricsPort, '/metrics');
    expect(metrics.body).toMatch(/lxcfs_kit_webhook_certificate_reloads_total [1-9]/);
    expect(metrics.body).toMatch(/lxcfs_kit_webhook_certificate_expiry_timestamp_seconds\{cert="ca"\} \d+/);
  });
});

/**
 * Who held the repair Lease, in order, and from when (as the fake API server saw the writes).
 * One term is the normal case; on a loaded machine a starved leader can miss its renewal and
 * the other replica takes over, and a new leader knows nothing of its predecessor's reports or
 * eviction budget (both are in memory), so the properties below hold per term.
 */
function leaderTerms(): { holder: string; from: number }[] {
  const terms: { holder: string; from: number }[] = [];
  for (const c of fake.calls) {
    if (!c.path.includes('/leases') || (c.method !== 'PUT' && c.method !== 'POST') || c.status >= 300) continue;
    const holder = (c.body as { spec?: { holderIdentity?: string } } | undefined)?.spec?.holderIdentity;
    if (holder && terms[terms.length - 1]?.holder !== holder) terms.push({ holder, from: c.at });
  }
  return terms;
}

function currentHolder(): string {
  return (fake.get('leases', NS, 'lxcfs-kit-webhook-repair')!.spec as { holderIdentity: string }).holderIdentity;
}

describe('repair reconciler (fake API server)', () => {
  const expectedReported = ['apps/bare-rs', 'apps/blocked-by-pdb', 'apps/bare-naked', 'legacy/legacy-rs', 'other/opted-in-pod'].sort();

  test('one replica holds the Lease; it reports each uninjected pod in scope exactly once (per leadership term)', async () => {
    await eventually('lease', () => fake.get('leases', NS, 'lxcfs-kit-webhook-repair'));
    await eventually('all reported', () => new Set(events('LxcfsNotInjected').map((e) => `${e.ns}/${e.pod}`)).size >= expectedReported.length);
    // Let whole scans pass to be sure nothing is reported twice: a pass starts by listing the
    // opted-in namespaces, so three more starts mean two passes ran entirely after this point.
    const scans = (): number => fake.count('GET', '/api/v1/namespaces');
    const seen = scans();
    await eventually('two more scan passes', () => scans() >= seen + 3, 90_000);
    const reported = events('LxcfsNotInjected').map((e) => `${e.ns}/${e.pod}`).sort();
    expect([...new Set(reported)].sort()).toEqual(expectedReported);
    const terms = leaderTerms();
    expect(terms.length).toBeGreaterThanOrEqual(1);
    for (const p of expectedReported) expect(reported.filter((r) => r === p).length).toBeLessThanOrEqual(terms.length);
    const holder = currentHolder();
    expect(['replica-a', 'replica-b']).toContain(holder);
    const leader = holder === 'replica-a' ? replicas.a : replicas.b;
    const follower = holder === 'replica-a' ? replicas.b : replicas.a;
    expect((await get(leader.metricsPort, '/metrics')).body).toMatch(/lxcfs_kit_webhook_repair_leader 1/);
    expect((await get(follower.metricsPort, '/metrics')).body).toMatch(/lxcfs_kit_webhook_repair_leader 0/);
    expect((await get(leader.metricsPort, '/metrics')).body).toMatch(/lxcfs_kit_webhook_uninjected_pods [1-9]/);
  });

  test('evict mode evicts only controller-owned pods, through the Eviction API, rate-limited; the others are reported', () => {
    const evictions = fake.calls.filter((c) => c.path.endsWith('/eviction'));
    const evicted = evictions.map((c) => c.path.replace(/^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/eviction$/, '$1/$2'));
    // Only controller-owned uninjected pods are candidates; how many of them a minute's budget
    // reached by now depends on how long the suite took, so the limit is checked on the times.
    expect([...new Set(evicted)].sort()).toEqual(expect.arrayContaining(['apps/bare-rs', 'apps/blocked-by-pdb']));
    for (const p of evicted) expect(['apps/bare-rs', 'apps/blocked-by-pdb', 'legacy/legacy-rs']).toContain(p);
    // --evictions-per-minute=2: no eviction is a leader's third within a minute (the slack covers
    // the delay between the webhook's clock reading and the request's arrival here).
    const terms = leaderTerms();
    const termOf = (at: number): number => terms.filter((t) => t.from <= at).length;
    for (let term = 0; term <= terms.length; term++) {
      const times = evictions.filter((c) => termOf(c.at) === term).map((c) => c.at);
      for (let i = 2; i < times.length; i++) expect(times[i] - times[i - 2]).toBeGreaterThan(60_000 - 10_000);
    }
    expect(evictions.find((c) => c.path.includes('bare-rs'))?.status).toBe(201);
    expect(evictions.filter((c) => c.path.includes('bare-rs'))).toHaveLength(1);
    expect(evictions.filter((c) => c.path.includes('blocked-by-pdb')).every((c) => c.status === 429)).toBe(true);
    expect(fake.get('pods', 'apps', 'bare-rs')).toBeUndefined();
    expect(fake.get('pods', 'apps', 'blocked-by-pdb')).toBeDefined();
    expect(events('LxcfsEvicted').map((e) => `${e.ns}/${e.pod}`)).toContain('apps/bare-rs');
    for (const e of events('LxcfsEvicted')) expect(['apps/bare-rs', 'legacy/legacy-rs']).toContain(`${e.ns}/${e.pod}`);
    expect([...new Set(events('LxcfsNotEvicted').map((e) => `${e.ns}/${e.pod}`))].sort()).toEqual(['apps/bare-naked', 'other/opted-in-pod']);
    // Never touched: injected, opted out, Windows, finished, all containers excluded, system and own namespaces, not opted in.
    for (const p of ['apps/injected', 'apps/opted-out', 'apps/windows', 'apps/finished', 'apps/all-excluded', 'other/plain', 'kube-system/system', `${NS}/own`]) {
      expect(evicted).not.toContain(p);
      expect(events().map((e) => `${e.ns}/${e.pod}`)).not.toContain(p);
    }
  });

  test('when the leader shuts down it releases the Lease and the other replica takes over', async () => {
    const holder = currentHolder();
    const [leaderKey, otherName] = holder === 'replica-a' ? ['a', 'replica-b'] : ['b', 'replica-a'];
    const code = await replicas[leaderKey].stop();
    delete replicas[leaderKey];
    expect(code).toBe(0);
    await eventually('takeover', () => currentHolder() === otherName);
  });
});
