/**
 * A FAKE Kubernetes API server for the webhook tests: these machines have no
 * real one. It speaks just the endpoints the webhook calls (Secrets,
 * MutatingWebhookConfigurations, Leases, Namespaces, Pods, Events,
 * pods/eviction) over HTTPS with bearer-token auth, with the semantics the
 * webhook relies on: 409 on create of an existing object and on update with a
 * stale resourceVersion, RFC 6902 JSON Patch (422 when a `test` fails),
 * equality label selectors, 429 from an eviction a PodDisruptionBudget would
 * refuse (simulated by the pod label `fake-pdb=block`). For `lxcfs-kit doctor`: DaemonSets and
 * Deployments (read as stored), and the pod proxy (`pods/<name>:<port>/proxy/<path>`), which answers
 * what a test registered with `proxy()` and 503 otherwise, as the real one does for a pod it
 * cannot reach. Nothing more.
 */
import * as fs from 'fs';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';
import { AddressInfo } from 'net';
import { applyPatch, Operation } from 'fast-json-patch';
import { makePki, TestPki } from './helpers';

export const FAKE_TOKEN = 'fake-apiserver-token';

type Obj = { apiVersion?: string; kind?: string; metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string>; generateName?: string; uid?: string; [k: string]: unknown }; [k: string]: unknown };

export interface RecordedCall {
  readonly method: string;
  readonly path: string;
  readonly contentType?: string;
  readonly body?: unknown;
  readonly status: number;
  /** When the request arrived (ms since the epoch). */
  readonly at: number;
}

const KINDS: Record<string, { kind: string; apiVersion: string; namespaced: boolean }> = {
  secrets: { kind: 'Secret', apiVersion: 'v1', namespaced: true },
  namespaces: { kind: 'Namespace', apiVersion: 'v1', namespaced: false },
  pods: { kind: 'Pod', apiVersion: 'v1', namespaced: true },
  events: { kind: 'Event', apiVersion: 'v1', namespaced: true },
  leases: { kind: 'Lease', apiVersion: 'coordination.k8s.io/v1', namespaced: true },
  mutatingwebhookconfigurations: { kind: 'MutatingWebhookConfiguration', apiVersion: 'admissionregistration.k8s.io/v1', namespaced: false },
  daemonsets: { kind: 'DaemonSet', apiVersion: 'apps/v1', namespaced: true },
  deployments: { kind: 'Deployment', apiVersion: 'apps/v1', namespaced: true },
};

export class FakeApiServer {
  readonly calls: RecordedCall[] = [];
  readonly pki: TestPki = makePki(['127.0.0.1']);
  private readonly store = new Map<string, Obj>(); // `${resource}/${namespace}/${name}`
  private rv = 1;
  private uid = 1;
  private server?: https.Server;
  private readonly watchers = new Set<{ resource: string; name?: string; res: import('http').ServerResponse }>();
  private readonly gates: Gate[] = [];
  private readonly proxied = new Map<string, unknown>(); // `${namespace}/${pod}:${port}/${path}`
  port = 0;
  /** A kubeconfig for this server, written by start() and removed by stop(): what the webhook process reads through $KUBECONFIG. */
  kubeconfigPath = '';

  async start(): Promise<void> {
    await this.listen(0);
    this.kubeconfigPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-fake-api-')), 'kubeconfig');
    fs.writeFileSync(this.kubeconfigPath, this.kubeconfig(), { mode: 0o600 });
  }

  /** An API server outage: closes the listener and every connection, keeping the objects, the port and the kubeconfig. */
  async suspend(): Promise<void> {
    for (const w of this.watchers) w.res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = undefined;
  }

  /** Ends an outage: listens again on the same port. */
  async resume(): Promise<void> {
    await this.listen(this.port);
  }

  private async listen(port: number): Promise<void> {
    this.server = https.createServer({ cert: this.pki.serving.certPem, key: this.pki.serving.keyPem, minVersion: 'TLSv1.2' }, (req, res) => {
      if (req.method === 'GET' && /[?&]watch=true(&|$)/.test(req.url ?? '')) return this.watch(req.url ?? '', req.headers.authorization, res);
      const at = Date.now();
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = text;
        }
        const answer = (): void => {
          const { status, payload } = this.route(req.method ?? '', req.url ?? '', req.headers, body);
          this.calls.push({ method: req.method ?? '', path: (req.url ?? '').split('?')[0], contentType: req.headers['content-type'], body, status, at });
          const out = JSON.stringify(payload);
          res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) }).end(out);
        };
        const gate = this.gates.find((g) => !g.opened && g.matches(req.method ?? '', (req.url ?? '').split('?')[0]));
        if (gate) gate.hold(answer);
        else answer();
      });
    });
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** A watch stream: newline-delimited events for one resource (optionally one name), as the real server sends. */
  private watch(url: string, auth: string | undefined, res: import('http').ServerResponse): void {
    const [pathPart, query = ''] = url.split('?');
    this.calls.push({ method: 'WATCH', path: pathPart, status: auth === `Bearer ${FAKE_TOKEN}` ? 200 : 401, at: Date.now() });
    if (auth !== `Bearer ${FAKE_TOKEN}`) {
      res.writeHead(401).end();
      return;
    }
    const resource = pathPart.split('/').pop() ?? '';
    const field = new URLSearchParams(query).get('fieldSelector') ?? '';
    const name = field.startsWith('metadata.name=') ? field.slice('metadata.name='.length) : undefined;
    res.writeHead(200, { 'content-type': 'application/json' });
    for (const o of this.list(resource)) if (name === undefined || o.metadata.name === name) res.write(`${JSON.stringify({ type: 'ADDED', object: o })}\n`);
    const w = { resource, name, res };
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
  }

  private notify(resource: string, type: string, obj: Obj): void {
    for (const w of this.watchers) {
      if (w.resource === resource && (w.name === undefined || w.name === obj.metadata.name)) w.res.write(`${JSON.stringify({ type, object: obj })}\n`);
    }
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.res.end();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    if (this.kubeconfigPath) fs.rmSync(path.dirname(this.kubeconfigPath), { recursive: true, force: true });
  }

  private kubeconfig(): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: fake',
      '  cluster:',
      `    server: https://127.0.0.1:${this.port}`,
      `    certificate-authority-data: ${Buffer.from(this.pki.ca.certPem).toString('base64')}`,
      'users:',
      '- name: webhook',
      '  user:',
      `    token: ${FAKE_TOKEN}`,
      'contexts:',
      '- name: fake',
      '  context: {cluster: fake, user: webhook}',
      'current-context: fake',
      '',
    ].join('\n');
  }

  /**
   * Holds every request that `matches` (method, path without query) until `open()`,
   * then answers them from the store as it is at that moment. `arrived` resolves
   * with the first held request: a test can act on "the process asked for X",
   * an event, instead of on a wall-clock moment taken before the process started.
   */
  gate(matches: (method: string, path: string) => boolean): { arrived: Promise<void>; open: () => void } {
    const g = new Gate(matches);
    this.gates.push(g);
    return { arrived: g.arrived, open: () => g.open() };
  }

  /** How many answered requests match (method, path without query) so far. */
  count(method: string, path: string): number {
    return this.calls.filter((c) => c.method === method && c.path === path).length;
  }

  /** Seeds or overwrites an object, as `kubectl apply` would. */
  put(resource: string, obj: Obj): Obj {
    const stored = { ...obj, apiVersion: KINDS[resource].apiVersion, kind: KINDS[resource].kind, metadata: { ...obj.metadata, resourceVersion: String(this.rv++), uid: obj.metadata.uid ?? `uid-${this.uid++}` } };
    const key = this.key(resource, obj.metadata.namespace, obj.metadata.name);
    const existed = this.store.has(key);
    this.store.set(key, stored);
    this.notify(resource, existed ? 'MODIFIED' : 'ADDED', stored);
    return stored;
  }

  /** What the pod proxy answers (200, as JSON) for GET `pods/<pod>:<port>/proxy/<path>`. */
  proxy(namespace: string, pod: string, port: number, path: string, answer: unknown): void {
    this.proxied.set(`${namespace}/${pod}:${port}/${path}`, answer);
  }

  /** Deletes an object, as `kubectl delete` would. */
  remove(resource: string, namespace: string | undefined, name: string): void {
    const key = this.key(resource, namespace, name);
    const obj = this.store.get(key);
    this.store.delete(key);
    if (obj) this.notify(resource, 'DELETED', obj);
  }

  get(resource: string, namespace: string | undefined, name: string): Obj | undefined {
    return this.store.get(this.key(resource, namespace, name));
  }

  list(resource: string, namespace?: string): Obj[] {
    return [...this.store.entries()].filter(([k]) => k.startsWith(namespace === undefined ? `${resource}/` : `${resource}/${namespace}/`)).map(([, v]) => v);
  }

  private key(resource: string, namespace: string | undefined, name: string): string {
    return `${resource}/${KINDS[resource].namespaced ? (namespace ?? '') : ''}/${name}`;
  }

  private route(method: string, url: string, headers: Record<string, string | string[] | undefined>, body: unknown): { status: number; payload: unknown } {
    if (headers.authorization !== `Bearer ${FAKE_TOKEN}`) return status(401, 'Unauthorized', 'missing or wrong bearer token');
    const [pathPart, query = ''] = url.split('?');
    const params = new URLSearchParams(query);
    const proxy = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/:]+:\d+)\/proxy\/(.*)$/.exec(pathPart);
    if (proxy) {
      if (method !== 'GET') return status(405, 'MethodNotAllowed', method);
      const key = `${proxy[1]}/${proxy[2]}/${proxy[3]}`;
      return this.proxied.has(key) ? { status: 200, payload: this.proxied.get(key) } : status(503, 'ServiceUnavailable', `error trying to reach service: dial tcp ${proxy[2]}: connect: connection refused`);
    }
    const m =
      /^\/(?:api\/v1|apis\/([a-z0-9.]+)\/v1)(?:\/namespaces\/([^/]+))?\/([a-z]+)(?:\/([^/]+))?(?:\/(eviction))?$/.exec(pathPart);
    if (!m) return status(404, 'NotFound', `no route ${pathPart}`);
    // "/api/v1/namespaces" and "/api/v1/namespaces/x" match with resource "namespaces".
    const [, , namespace, resource, name, sub] = m;
    if (!(resource in KINDS)) return status(404, 'NotFound', `unknown resource ${resource}`);
    const info = KINDS[resource];

    if (sub === 'eviction') {
      if (method !== 'POST' || resource !== 'pods') return status(405, 'MethodNotAllowed', 'eviction is POST only');
      const pod = this.get('pods', namespace, name);
      if (!pod) return status(404, 'NotFound', `pods "${name}" not found`);
      if (pod.metadata.labels?.['fake-pdb'] === 'block') return status(429, 'TooManyRequests', 'Cannot evict pod as it would violate the pod\'s disruption budget.');
      this.store.delete(this.key('pods', namespace, name));
      return { status: 201, payload: { apiVersion: 'v1', kind: 'Status', status: 'Success', code: 201 } };
    }

    if (name === undefined) {
      if (method === 'GET') {
        const selector = params.get('labelSelector') ?? '';
        const items = this.list(resource, info.namespaced ? namespace : undefined).filter((o) => matches(selector, o.metadata.labels ?? {}));
        return { status: 200, payload: { apiVersion: info.apiVersion, kind: `${info.kind}List`, metadata: { resourceVersion: String(this.rv) }, items } };
      }
      if (method === 'POST') {
        const obj = body as Obj;
        if (!obj?.metadata) return status(400, 'BadRequest', 'no metadata');
        const objName = obj.metadata.name ?? `${obj.metadata.generateName ?? 'x-'}${this.uid}`;
        if (this.get(resource, namespace, objName)) return status(409, 'AlreadyExists', `${resource} "${objName}" already exists`);
        return { status: 201, payload: this.put(resource, { ...obj, metadata: { ...obj.metadata, name: objName, namespace: info.namespaced ? namespace : undefined } }) };
      }
      return status(405, 'MethodNotAllowed', method);
    }

    const current = this.get(resource, namespace, name);
    switch (method) {
      case 'GET':
        return current ? { status: 200, payload: current } : status(404, 'NotFound', `${resource} "${name}" not found`);
      case 'PUT': {
        const obj = body as Obj;
        if (!current) return status(404, 'NotFound', `${resource} "${name}" not found`);
        if (obj.metadata?.resourceVersion !== current.metadata.resourceVersion) {
          return status(409, 'Conflict', `Operation cannot be fulfilled on ${resource} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
        }
        return { status: 200, payload: this.put(resource, { ...obj, metadata: { ...obj.metadata, name, namespace: info.namespaced ? namespace : undefined, uid: current.metadata.uid } }) };
      }
      case 'PATCH': {
        if (!current) return status(404, 'NotFound', `${resource} "${name}" not found`);
        if (headers['content-type'] !== 'application/json-patch+json') return status(415, 'UnsupportedMediaType', `this fake only takes JSON Patch, got ${String(headers['content-type'])}`);
        let patched: Obj;
        try {
          patched = applyPatch(JSON.parse(JSON.stringify(current)) as Obj, body as Operation[], true, false).newDocument;
        } catch (err) {
          return status(422, 'Invalid', `the patch does not apply: ${(err as Error).message.split('\n')[0]}`);
        }
        return { status: 200, payload: this.put(resource, patched) };
      }
      case 'DELETE':
        this.store.delete(this.key(resource, namespace, name));
        return current ? { status: 200, payload: current } : status(404, 'NotFound', `${resource} "${name}" not found`);
      default:
        return status(405, 'MethodNotAllowed', method);
    }
  }
}

class Gate {
  opened = false;
  private readonly held: (() => void)[] = [];
  private signal!: () => void;
  readonly arrived = new Promise<void>((r) => (this.signal = r));

  constructor(readonly matches: (method: string, path: string) => boolean) {}

  hold(answer: () => void): void {
    this.held.push(answer);
    this.signal();
  }

  open(): void {
    this.opened = true;
    for (const answer of this.held.splice(0)) answer();
  }
}

function matches(selector: string, labels: Record<string, string>): boolean {
  return selector
    .split(',')
    .filter(Boolean)
    .every((term) => {
      const [k, v] = term.split('=');
      return labels[k] === v;
    });
}

function status(code: number, reason: string, message: string): { status: number; payload: unknown } {
  return { status: code, payload: { apiVersion: 'v1', kind: 'Status', status: 'Failure', code, reason, message, metadata: {} } };
}

/** What a test says about a pod it seeds: the fields the webhook's reconciler reads. */
export interface PodSeedOptions {
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  /** The controller that owns the pod (its uid defaults to `<name>-uid`). */
  readonly owner?: { readonly kind: string; readonly name: string; readonly uid?: string };
  readonly spec?: Record<string, unknown>;
  /** @default 'Running' */
  readonly phase?: string;
}

/** A running pod of one busybox container named `app`, as the fake API server stores it. */
export function seedPod(namespace: string, name: string, extra: PodSeedOptions = {}): Parameters<FakeApiServer['put']>[1] {
  const owner = extra.owner;
  return {
    metadata: {
      name,
      namespace,
      labels: extra.labels,
      annotations: extra.annotations,
      ownerReferences: owner ? [{ apiVersion: 'apps/v1', kind: owner.kind, name: owner.name, uid: owner.uid ?? `${owner.name}-uid`, controller: true }] : undefined,
    },
    spec: { containers: [{ name: 'app', image: 'busybox' }], ...extra.spec },
    status: { phase: extra.phase ?? 'Running' },
  };
}
