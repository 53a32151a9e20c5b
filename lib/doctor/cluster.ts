/**
 * Read-only access to the cluster for `lxcfs-kit doctor`: plain GETs with the operator's
 * kubeconfig (client-node resolves contexts, certificates, tokens and exec plugins). The agent's
 * /status is read through the API server's pod proxy, so doctor needs no network path to the
 * nodes, only `get pods/proxy` in the install's namespace.
 */
import * as https from 'https';
import type * as k8s from '@kubernetes/client-node';

/** An answer of the API server that is neither 2xx nor 404. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface ClusterReader {
  /** GET a JSON object; undefined on 404. */
  get<T>(path: string): Promise<T | undefined>;
}

export async function kubeconfigReader(options: { kubeconfig: string; context: string }): Promise<ClusterReader> {
  const lib = (await import('@kubernetes/client-node')) as typeof k8s;
  const kc = new lib.KubeConfig();
  if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
  else kc.loadFromDefault();
  if (options.context) kc.setCurrentContext(options.context);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no Kubernetes configuration: pass --kubeconfig, set $KUBECONFIG or create ~/.kube/config');
  const base = new URL(cluster.server);
  return {
    async get<T>(path: string): Promise<T | undefined> {
      const opts: https.RequestOptions = { method: 'GET', protocol: base.protocol, hostname: base.hostname, port: base.port, path: `${base.pathname.replace(/\/$/, '')}${path}`, headers: { accept: 'application/json' } };
      await kc.applyToHTTPSOptions(opts);
      const { status, body } = await send(opts);
      if (status === 404) return undefined;
      if (status < 200 || status > 299) throw new ApiError(status, `GET ${path}: HTTP ${status}: ${statusMessage(body)}`);
      try {
        return JSON.parse(body) as T;
      } catch {
        throw new ApiError(status, `GET ${path}: the answer is not JSON`);
      }
    },
  };
}

function send(opts: https.RequestOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer from ${opts.hostname} within 30 s`)));
    req.on('error', reject);
    req.end();
  });
}

function statusMessage(body: string): string {
  try {
    const s = JSON.parse(body) as { message?: unknown };
    if (typeof s.message === 'string') return s.message;
  } catch {
    // not a Status object
  }
  return body.slice(0, 200);
}
