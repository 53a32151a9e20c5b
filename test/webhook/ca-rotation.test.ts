/**
 * CA rotation of the self-managed mode, through the real process and the
 * official client against a FAKE API server: throughout the rotation, a client
 * that trusts exactly the caBundle published at that moment (what the API
 * server does) always verifies the served certificate.
 *
 * The Secret is seeded with a CA that falls due for renewal shortly after the
 * webhook first asks for it, but stays valid for minutes after that. The fake
 * API server holds that first request until the Secret is seeded, so the window
 * is measured from the webhook's own first step, whatever its start-up cost on
 * a loaded machine (a CA seeded before starting the process could fall due
 * before the process even read it, and the single-CA phase would never exist).
 */
import * as crypto from 'crypto';
import * as tls from 'tls';
import { createCa, issueServingCert, serviceDnsNames, splitPemBundle } from '../../lib/webhook/tls';
import { FakeApiServer } from './fake-apiserver';
import { startWebhookProcess, WebhookProcess } from './helpers';

const NS = 'lxcfs-kit';
const SERVICE_DNS = `lxcfs-kit-webhook.${NS}.svc`;
// Renewal falls due two thirds into a CA's lifetime: backdating its creation by
// (2/3 × lifetime − due) makes it due `due` from now and valid for `valid` more.
// `due` only has to cover one Secret read, one publish and one handshake.
const FIRST_CA_DUE_MS = 30_000;
const FIRST_CA_VALID_MS = 200_000;
const fake = new FakeApiServer();
let webhook: WebhookProcess;
let seededCaPem: string;

function publishedBundle(): string {
  const m = fake.get('mutatingwebhookconfigurations', undefined, 'lxcfs-kit') as unknown as { webhooks: { clientConfig: { caBundle?: string } }[] };
  const b = m.webhooks[0].clientConfig.caBundle;
  return b ? Buffer.from(b, 'base64').toString('utf8') : '';
}

function servedCert(ca: string): Promise<crypto.X509Certificate> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: webhook.port, servername: SERVICE_DNS, ca }, () => {
      const raw = s.getPeerCertificate().raw;
      s.end();
      resolve(new crypto.X509Certificate(raw));
    });
    s.on('error', reject);
  });
}

beforeAll(async () => {
  await fake.start();
  fake.put('mutatingwebhookconfigurations', {
    metadata: { name: 'lxcfs-kit' },
    webhooks: [{ name: 'pods.lxcfs-kit.io', clientConfig: { service: { name: 'lxcfs-kit-webhook', namespace: NS, path: '/mutate' } } }],
  });
  const firstSecretRead = fake.gate((method, p) => method === 'GET' && p === `/api/v1/namespaces/${NS}/secrets/lxcfs-kit-webhook-tls`);
  const started = startWebhookProcess(
    ['--cert-mode=self', `--namespace=${NS}`, '--address=127.0.0.1', '--port=0', '--metrics-port=0', '--sync-interval=1', '--ca-lifetime=3600', '--cert-lifetime=3600', '--repair-mode=off'],
    { KUBECONFIG: fake.kubeconfigPath, POD_NAME: 'replica-a' },
    180_000,
  );
  // A start that fails before asking for the Secret must fail the suite, not hang it.
  await Promise.race([firstSecretRead.arrived, started]);
  seededCaPem = seedSecret(Date.now());
  firstSecretRead.open();
  webhook = await started;
}, 240_000);

/** Stores a CA due for renewal FIRST_CA_DUE_MS after `now` and valid FIRST_CA_VALID_MS after it; returns its PEM. */
function seedSecret(now: number): string {
  const lifetime = 3 * (FIRST_CA_VALID_MS - FIRST_CA_DUE_MS);
  const firstCa = createCa('lxcfs-kit-webhook-ca@test', lifetime, now + FIRST_CA_VALID_MS - lifetime);
  const serving = issueServingCert(firstCa, serviceDnsNames('lxcfs-kit-webhook', NS), FIRST_CA_VALID_MS, now);
  const b64 = (pem: string): string => Buffer.from(pem, 'utf8').toString('base64');
  fake.put('secrets', {
    metadata: { name: 'lxcfs-kit-webhook-tls', namespace: NS },
    type: 'kubernetes.io/tls',
    data: { 'ca.crt': b64(firstCa.certPem), 'ca.key': b64(firstCa.keyPem), 'tls.crt': b64(serving.certPem), 'tls.key': b64(serving.keyPem) },
  });
  return firstCa.certPem;
}

afterAll(async () => {
  await webhook?.stop();
  await fake.stop();
});

test('a new CA is published beside the old one before the serving certificate moves to it; a client trusting the published bundle never fails (fake API server)', async () => {
  const deadline = Date.now() + FIRST_CA_VALID_MS - 20_000;
  while (!publishedBundle() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const firstCa = splitPemBundle(publishedBundle());
  // The webhook adopted the seeded Secret rather than making its own CA.
  expect(firstCa).toEqual(splitPemBundle(seededCaPem));
  const firstIssuer = new crypto.X509Certificate(firstCa[0]);
  const pid = webhook.proc.pid;

  // Each phase must have been observed by at least one handshake; how many fit
  // in a phase depends on the machine's load, so only presence is asserted.
  let checksOnFirstCaOnly = 0;
  let checksWithTwoCas = 0;
  let movedToNewCa: crypto.X509Certificate | undefined;
  // The seeded CA falls due FIRST_CA_DUE_MS after beforeAll; the loop ends once the serving certificate moved.
  while (!movedToNewCa && Date.now() < deadline) {
    const bundle = publishedBundle();
    const cas = splitPemBundle(bundle);
    // Exactly what the API server trusts right now must verify the served certificate.
    const served = await servedCert(bundle);
    if (cas.length >= 2) checksWithTwoCas++;
    else checksOnFirstCaOnly++;
    if (!served.verify(firstIssuer.publicKey)) movedToNewCa = served;
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(movedToNewCa).toBeDefined();
  expect(checksOnFirstCaOnly).toBeGreaterThanOrEqual(1);
  expect(checksWithTwoCas).toBeGreaterThanOrEqual(1);
  const bundle = splitPemBundle(publishedBundle());
  expect(bundle[0]).not.toBe(firstCa[0]);
  expect(movedToNewCa!.verify(new crypto.X509Certificate(bundle[0]).publicKey)).toBe(true);
  expect(webhook.proc.pid).toBe(pid);
  expect(webhook.proc.exitCode).toBeNull();
  expect(webhook.logs.some((e) => e.msg === 'certificates rotated' && e.what === 'ca')).toBe(true);
  expect(webhook.logs.some((e) => e.msg === 'certificates rotated' && e.what === 'serving (new CA)')).toBe(true);
}, FIRST_CA_VALID_MS);
