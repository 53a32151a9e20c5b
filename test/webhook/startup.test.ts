/**
 * Self-managed certificates when things are not in place at start, with the real
 * `lxcfs-kit webhook` process against a FAKE API server (no real one exists on these
 * machines): the API server unreachable (after a power loss), and a Secret whose ca.crt
 * is not a CA certificate.
 */
import * as crypto from 'crypto';
import * as https from 'https';
import * as tls from 'tls';
import { issueServingCert, serviceDnsNames } from '../../lib/webhook/tls';
import { FakeApiServer } from './fake-apiserver';
import { WebhookProcess, eventually, makePki, startWebhookProcess } from './helpers';

const NS = 'lxcfs-kit';
const MWC = 'lxcfs-kit';
const SERVICE_DNS = `lxcfs-kit-webhook.${NS}.svc`;

function seedConfiguration(fake: FakeApiServer): void {
  fake.put('mutatingwebhookconfigurations', {
    metadata: { name: MWC },
    webhooks: [{ name: 'namespaces.lxcfs-kit.io', admissionReviewVersions: ['v1'], sideEffects: 'None', clientConfig: { service: { name: 'lxcfs-kit-webhook', namespace: NS, path: '/mutate', port: 443 } } }],
  });
}

function startReplica(fake: FakeApiServer, name: string): Promise<WebhookProcess> {
  return startWebhookProcess(['--cert-mode=self', `--namespace=${NS}`, '--address=127.0.0.1', '--port=0', '--metrics-port=0', '--sync-interval=1', '--repair-mode=off'], {
    KUBECONFIG: fake.kubeconfigPath,
    POD_NAME: name,
    KUBERNETES_SERVICE_HOST: '',
  });
}

/** GET over HTTPS; `ca` undefined accepts any certificate, as kubelet's probes do. */
function get(port: number, p: string, ca?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path: p, servername: SERVICE_DNS, ...(ca ? { ca } : { rejectUnauthorized: false }) }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

function secretPem(fake: FakeApiServer, key: string): string {
  const s = fake.get('secrets', NS, 'lxcfs-kit-webhook-tls') as unknown as { data: Record<string, string> } | undefined;
  return s ? Buffer.from(s.data[key], 'base64').toString('utf8') : '';
}

test('self mode with the API server unreachable at start: /healthz answers, /readyz fails, the certificate sync retries with growing backoff, and the replica becomes ready once the API server is back (fake API server)', async () => {
  const fake = new FakeApiServer();
  await fake.start();
  seedConfiguration(fake);
  await fake.suspend();
  let w: WebhookProcess | undefined;
  try {
    w = await startReplica(fake, 'cold-start');
    const replica = w;
    // Answers while the API server is still down: the liveness/startup probes pass, readiness does not.
    expect(await get(replica.port, '/healthz')).toBe(200);
    expect(await get(replica.port, '/readyz')).toBe(503);
    const retries = await eventually('three failed syncs', () => {
      const r = replica.logs.filter((e) => e.msg === 'certificate sync failed; retrying');
      return r.length >= 3 ? r : undefined;
    });
    const delays = retries.map((e) => e.retryInMs as number);
    expect(delays.slice(0, 3)).toEqual([500, 1000, 2000]);
    expect(replica.proc.exitCode).toBeNull();
    expect(await get(replica.port, '/healthz')).toBe(200);

    await fake.resume();
    await eventually('the CA is published', () => secretPem(fake, 'ca.crt') !== '');
    const ca = secretPem(fake, 'ca.crt');
    await eventually('ready, serving the shared certificate', async () => (await get(replica.port, '/readyz', ca)) === 200);
    expect(replica.proc.exitCode).toBeNull();
  } finally {
    await w?.stop();
    await fake.stop();
  }
}, 180_000);

test('a ca.crt in the Secret that is not a CA certificate is replaced, and the published bundle verifies the served certificate (fake API server)', async () => {
  const fake = new FakeApiServer();
  await fake.start();
  seedConfiguration(fake);
  // A leaf certificate posing as the CA: key matches, it "signed" a serving certificate with the right names.
  const leaf = makePki().serving;
  const serving = issueServingCert(leaf, serviceDnsNames('lxcfs-kit-webhook', NS), 3600_000);
  const b64 = (t: string) => Buffer.from(t).toString('base64');
  fake.put('secrets', {
    metadata: { name: 'lxcfs-kit-webhook-tls', namespace: NS },
    type: 'Opaque',
    data: { 'ca.crt': b64(leaf.certPem), 'ca.key': b64(leaf.keyPem), 'tls.crt': b64(serving.certPem), 'tls.key': b64(serving.keyPem) },
  });
  expect(new crypto.X509Certificate(leaf.certPem).ca).toBe(false);
  let w: WebhookProcess | undefined;
  try {
    w = await startReplica(fake, 'non-ca');
    await w.waitForLog((e) => e.msg === 'serving certificate loaded');
    const ca = secretPem(fake, 'ca.crt');
    expect(new crypto.X509Certificate(ca).ca).toBe(true);
    expect(ca).not.toContain(leaf.certPem.trim());
    expect(w.logs.some((e) => e.msg === 'certificate Secret unusable; replacing its content' && String(e.problem).includes('not a CA certificate'))).toBe(true);
    const replica = w;
    await eventually('ready', async () => (await get(replica.port, '/readyz', ca)) === 200);
    const mwc = fake.get('mutatingwebhookconfigurations', undefined, MWC) as unknown as { webhooks: { clientConfig: { caBundle?: string } }[] };
    const bundle = Buffer.from(mwc.webhooks[0].clientConfig.caBundle ?? '', 'base64').toString('utf8');
    await new Promise<void>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: replica.port, servername: SERVICE_DNS, ca: bundle }, () => {
        s.end();
        resolve();
      });
      s.on('error', reject);
    });
  } finally {
    await w?.stop();
    await fake.stop();
  }
}, 180_000);
