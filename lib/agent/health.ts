/** Plain HTTP: /healthz (liveness), /readyz (readiness), /metrics (Prometheus), /status (JSON for operators and tests). */
import * as http from 'http';
import { AddressInfo } from 'net';
import { AgentMetrics } from './metrics';

export interface HealthSource {
  /** Undefined when alive, else why not (the lxcfs mount answers ENOTCONN, or not at all). */
  liveProblem(): Promise<string | undefined>;
  /** Undefined when ready, else why not. */
  readyProblem(): string | undefined;
  status(): Record<string, unknown>;
}

export async function startHealthServer(address: string, port: number, source: HealthSource, metrics: AgentMetrics): Promise<http.Server & { port: number }> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const reply = (code: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'method not allowed\n');
    switch (url) {
      case '/healthz':
        source.liveProblem().then(
          (p) => reply(p ? 503 : 200, `${p ?? 'ok'}\n`),
          (err: unknown) => reply(503, `${String(err)}\n`),
        );
        return undefined;
      case '/readyz': {
        const p = source.readyProblem();
        return reply(p ? 503 : 200, `${p ?? 'ok'}\n`);
      }
      case '/status':
        return reply(200, `${JSON.stringify(source.status())}\n`, 'application/json');
      case '/metrics':
        return reply(200, metrics.render(), AgentMetrics.contentType);
      default:
        return reply(404, 'not found: try /healthz, /readyz, /metrics or /status\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`cannot listen on ${address}:${port} for /healthz and /metrics: ${err.code === 'EADDRINUSE' ? 'the port is in use (another agent on this node? use --health-port)' : err.message}`)),
    );
    server.listen(port, address, () => resolve());
  });
  return Object.assign(server, { port: (server.address() as AddressInfo).port });
}
