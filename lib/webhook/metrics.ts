/** Prometheus metrics of the webhook, on a private registry served by the plain-HTTP metrics port. */
import * as http from 'http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export class WebhookMetrics {
  readonly registry = new Registry();
  readonly admissions = new Counter({
    name: 'lxcfs_kit_webhook_admissions_total',
    help: 'Admission requests by result (mutated, unchanged, skipped, ignored, denied, rejected)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly injectedContainers = new Counter({
    name: 'lxcfs_kit_webhook_injected_containers_total',
    help: 'Containers and init containers that received lxcfs mounts',
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'lxcfs_kit_webhook_errors_total',
    help: 'Errors by kind (bad-request, too-large, overloaded, internal, method, not-found, tls, certificate, kubernetes, repair)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'lxcfs_kit_webhook_admission_duration_seconds',
    help: 'Time from the request body being complete to the response being written',
    // Fine buckets where admissions normally land, coarse ones up to the API server's 30 s
    // limit so an alert can compare latency with the configured timeout.
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly certExpiry = new Gauge({
    name: 'lxcfs_kit_webhook_certificate_expiry_timestamp_seconds',
    help: 'notAfter of the serving certificate (cert="serving") and of the CA (cert="ca", self mode)',
    labelNames: ['cert'] as const,
    registers: [this.registry],
  });
  readonly certReloads = new Counter({
    name: 'lxcfs_kit_webhook_certificate_reloads_total',
    help: 'Serving certificates loaded into the running server',
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'lxcfs_kit_webhook_repair_leader',
    help: '1 while this replica holds the repair Lease',
    registers: [this.registry],
  });
  readonly uninjectedPods = new Gauge({
    name: 'lxcfs_kit_webhook_uninjected_pods',
    help: 'Opted-in pods found without lxcfs injection in the last repair scan',
    registers: [this.registry],
  });
  readonly podSecurityNamespaces = new Gauge({
    name: 'lxcfs_kit_webhook_pod_security_skipped_namespaces',
    help: 'Opted-in namespaces not injected because they enforce a Pod Security level that forbids hostPath (last repair scan)',
    registers: [this.registry],
  });
  readonly repairActions = new Counter({
    name: 'lxcfs_kit_webhook_repair_actions_total',
    help: 'Repair actions on uninjected pods (reported, evicted, evict-skipped, evict-blocked, evict-paused, evict-given-up, evict-failed)',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });

  constructor(defaultMetrics = true) {
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** GET /metrics on plain HTTP; anything else is 404/405. */
  createServer(): http.Server {
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
        () => res.writeHead(500).end(),
      );
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 15_000;
    return server;
  }
}
