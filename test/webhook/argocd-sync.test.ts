/**
 * An Argo CD sync of the default manifests (dist/lxcfs-kit.k8s.yaml, self-managed
 * certificates), replayed wave by wave against a FAKE API server (no real one, and no
 * Argo CD, exist on these machines): apply every object of a wave, wait until the wave is
 * healthy, then go on to the next, as Argo CD does with sync waves. The webhook Deployment
 * is "applied" by starting its replicas as real `lxcfs-kit webhook` processes with the
 * Deployment's own args; its health is every replica's readiness probe (/readyz), which is
 * what Argo CD's Deployment health check ends up waiting for. Objects without a controller
 * here (RBAC, Service, PDB, the agent DaemonSet, which needs a node) count as healthy once
 * applied.
 *
 * Throughout, a monitor checks what the API server relies on: whenever the configuration
 * carries a caBundle, every ready replica serves a certificate that bundle verifies.
 */
import * as fs from 'fs';
import * as https from 'https';
import * as path from 'path';
import * as tls from 'tls';
import * as yaml from 'yaml';
import { SYNC_WAVE_ANNOTATION } from '../../lib/contract';
import { FakeApiServer } from './fake-apiserver';
import { REPO, startWebhookProcess, WebhookProcess } from './helpers';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; [k: string]: unknown };

const WAVE_HEALTH_TIMEOUT_MS = 90_000;
const fake = new FakeApiServer();
const replicas: WebhookProcess[] = [];

function manifests(): Obj[] {
  return yaml
    .parseAllDocuments(fs.readFileSync(path.join(REPO, 'dist', 'lxcfs-kit.k8s.yaml'), 'utf8'))
    .map((d) => d.toJSON() as Obj)
    .filter(Boolean);
}

function readyz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    https
      .get({ host: '127.0.0.1', port, path: '/readyz', rejectUnauthorized: false, timeout: 5000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      })
      .on('error', () => resolve(false));
  });
}

function verifies(port: number, bundle: string, servername: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca: bundle }, () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** caBundles of the configuration's entries, decoded; undefined while it does not exist. */
function publishedBundles(name: string): (string | undefined)[] | undefined {
  const mwc = fake.get('mutatingwebhookconfigurations', undefined, name) as unknown as { webhooks: { clientConfig: { caBundle?: string } }[] } | undefined;
  return mwc?.webhooks.map((w) => (w.clientConfig.caBundle ? Buffer.from(w.clientConfig.caBundle, 'base64').toString('utf8') : undefined));
}

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  await fake.stop();
});

test('a wave-by-wave sync of the default manifests completes, and the API server is never pointed at a replica it cannot verify (fake API server, real webhook processes)', async () => {
  await fake.start();
  const objects = manifests();
  const deployment = objects.find((o) => o.kind === 'Deployment') as Obj & { spec: { replicas: number; template: { spec: { containers: { args: string[] }[] } } } };
  const mwcName = objects.find((o) => o.kind === 'MutatingWebhookConfiguration')!.metadata.name;
  const namespace = deployment.metadata.namespace!;
  const servername = `${(objects.find((o) => o.kind === 'Service') as Obj).metadata.name}.${namespace}.svc`;
  const waves = [...new Set(objects.map((o) => Number(o.metadata.annotations?.[SYNC_WAVE_ANNOTATION] ?? 0)))].sort((a, b) => a - b);
  expect(waves).toEqual([0, 1, 2, 3]);

  const violations: string[] = [];
  let monitoring = true;
  const monitor = (async () => {
    while (monitoring) {
      const bundles = publishedBundles(mwcName);
      for (const r of [...replicas]) {
        if (!bundles || !(await readyz(r.port))) continue;
        for (const b of bundles) if (b !== undefined && !(await verifies(r.port, b, servername))) violations.push(`ready replica on port ${r.port} not verified by the published caBundle`);
      }
      await new Promise((res) => setTimeout(res, 100));
    }
  })();

  const log: string[] = [];
  for (const wave of waves) {
    const inWave = objects.filter((o) => Number(o.metadata.annotations?.[SYNC_WAVE_ANNOTATION] ?? 0) === wave);
    for (const o of inWave) {
      if (o.kind === 'Namespace') fake.put('namespaces', o);
      else if (o.kind === 'MutatingWebhookConfiguration') fake.put('mutatingwebhookconfigurations', o);
      else if (o.kind === 'Deployment') {
        const args = deployment.spec.template.spec.containers[0].args;
        expect(args[0]).toBe('webhook');
        const started = await Promise.all(
          Array.from({ length: deployment.spec.replicas }, (_, i) =>
            startWebhookProcess([...args.slice(1), '--address=127.0.0.1', '--port=0', '--metrics-port=0'], {
              KUBECONFIG: fake.kubeconfigPath,
              POD_NAMESPACE: namespace,
              POD_NAME: `${deployment.metadata.name}-${i}`,
              KUBERNETES_SERVICE_HOST: '',
            }),
          ),
        );
        replicas.push(...started);
      }
      log.push(`wave ${wave}: applied ${o.kind}/${o.metadata.name}`);
    }
    // Health: the Deployment's replicas all ready; everything else here is healthy once applied.
    if (inWave.some((o) => o.kind === 'Deployment')) {
      const deadline = Date.now() + WAVE_HEALTH_TIMEOUT_MS;
      for (;;) {
        const ready = await Promise.all(replicas.map((r) => readyz(r.port)));
        if (ready.every(Boolean)) break;
        if (Date.now() > deadline) throw new Error(`sync stalled: wave ${wave} never became healthy (ready ${JSON.stringify(ready)}); ${log.join('; ')}`);
        await new Promise((res) => setTimeout(res, 200));
      }
      log.push(`wave ${wave}: healthy`);
    }
  }

  // After the last wave the webhook publishes its CA into the configuration Argo CD created without one.
  const deadline = Date.now() + WAVE_HEALTH_TIMEOUT_MS;
  while (!(publishedBundles(mwcName) ?? [undefined]).every((b) => b !== undefined)) {
    if (Date.now() > deadline) throw new Error(`caBundle never published; ${log.join('; ')}`);
    await new Promise((res) => setTimeout(res, 200));
  }
  const bundles = publishedBundles(mwcName)!;
  expect(bundles.length).toBeGreaterThan(0);
  // A replica judges its readiness on its own next sync of the configuration, which may come after
  // the leader published the bundle: wait for every replica to be ready again, from that event on.
  const readyDeadline = Date.now() + WAVE_HEALTH_TIMEOUT_MS;
  for (;;) {
    const ready = await Promise.all(replicas.map((r) => readyz(r.port)));
    if (ready.every(Boolean)) break;
    if (Date.now() > readyDeadline) throw new Error(`replicas not ready after the caBundle was published (ready ${JSON.stringify(ready)}); ${log.join('; ')}`);
    await new Promise((res) => setTimeout(res, 200));
  }
  for (const r of replicas) {
    for (const b of bundles) expect(await verifies(r.port, b!, servername)).toBe(true);
    expect(r.proc.exitCode).toBeNull();
  }
  monitoring = false;
  await monitor;
  expect(violations).toEqual([]);
}, 300_000);
