/** Shared helpers of the webhook tests: real certificates, real HTTPS clients, admission reviews. */
import * as fs from 'fs';
import * as https from 'https';
import * as path from 'path';
import * as yaml from 'yaml';
import { createCa, issueServingCert, KeyPairPem } from '../../lib/webhook/tls';

export const REPO = path.resolve(__dirname, '..', '..');

export interface TestPki {
  readonly ca: KeyPairPem;
  readonly serving: KeyPairPem;
}

export function makePki(dnsNames: string[] = ['localhost'], lifetimeMs = 3600_000): TestPki {
  const ca = createCa('lxcfs-kit test CA', lifetimeMs * 2);
  return { ca, serving: issueServingCert(ca, dnsNames, lifetimeMs) };
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export function request(
  port: number,
  ca: string,
  opts: { method?: string; path?: string; body?: string | Buffer; headers?: Record<string, string>; agent?: https.Agent; host?: string } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        servername: opts.host ?? 'localhost',
        port,
        ca,
        method: opts.method ?? 'POST',
        path: opts.path ?? '/mutate',
        headers: { 'content-type': 'application/json', ...opts.headers },
        agent: opts.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

export function review(object: unknown, over: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'e911857d-c318-11e8-bbad-025000000001',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      namespace: 'apps',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object,
      dryRun: false,
      ...over,
    },
  });
}

/** The pod the reference Deployment (test/fixtures/test-lxcfs-deployment.yaml) creates. */
export function fixturePod(): Record<string, unknown> {
  const doc = yaml.parse(fs.readFileSync(path.join(REPO, 'test', 'fixtures', 'test-lxcfs-deployment.yaml'), 'utf8')) as {
    spec: { template: { metadata: Record<string, unknown>; spec: Record<string, unknown> } };
  };
  return { apiVersion: 'v1', kind: 'Pod', metadata: { ...doc.spec.template.metadata, generateName: 'test-lxcfs-5d8f7c9b6-' }, spec: doc.spec.template.spec };
}

export interface AdmissionAnswer {
  uid: string;
  allowed: boolean;
  patchType?: string;
  patch?: string;
}

export function admissionResponse(body: string): AdmissionAnswer {
  const r = JSON.parse(body) as { apiVersion: string; kind: string; response: AdmissionAnswer };
  if (r.apiVersion !== 'admission.k8s.io/v1' || r.kind !== 'AdmissionReview') throw new Error(`not an AdmissionReview: ${body}`);
  return r.response;
}

export function decodePatch(a: AdmissionAnswer): unknown[] {
  return a.patch ? (JSON.parse(Buffer.from(a.patch, 'base64').toString('utf8')) as unknown[]) : [];
}
