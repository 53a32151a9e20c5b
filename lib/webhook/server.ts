/**
 * The HTTPS side: TLS 1.2+, /mutate, /healthz, /readyz, strict limits on what a
 * client may send and for how long. The serving certificate can be swapped at
 * any time (setSecureContext) without dropping the listener.
 */
import * as https from 'https';
import * as http from 'http';
import { AddressInfo } from 'net';
import { MUTATE_CSI_PATH, MUTATE_PATH } from '../contract';
import { POD_SECURITY_WARNING_PATH } from '../pod-security';
import { admit, AdmissionOutcome } from './admission';
import { clientString, CLIENT_TEXT_MAX } from './client-text';
import { errorText, Logger } from '../log';
import { WebhookMetrics } from './metrics';
import { PodMutator } from './mutate';
import { assertKeyMatches, certFacts, KeyPairPem, SERVER_TLS } from './tls';

export interface ServerLimits {
  /** Largest admission body accepted; larger gets 413. Pods in etcd are at most ~1.5 MB; reviews carry one. */
  readonly maxBodyBytes: number;
  /** Time a client may take to send its headers. */
  readonly headersTimeoutMs: number;
  /** Time a client may take to send a whole request. */
  readonly requestTimeoutMs: number;
  /** Idle time of a kept-alive connection between requests. */
  readonly keepAliveTimeoutMs: number;
  /** Time a client may take for the TLS handshake. */
  readonly handshakeTimeoutMs: number;
  /**
   * Admissions being received or answered at once; more get a 429 with Retry-After, which the
   * API server retries. With maxBodyBytes it bounds the memory requests can hold.
   */
  readonly maxInFlight: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxBodyBytes: 4 * 1024 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  keepAliveTimeoutMs: 60_000,
  handshakeTimeoutMs: 10_000,
  maxInFlight: 8,
};

export interface WebhookServerOptions {
  readonly mutator: PodMutator;
  /** Served at MUTATE_CSI_PATH (injection mode podSecurity routes baseline/restricted namespaces there). */
  readonly csiMutator?: PodMutator;
  readonly metrics: WebhookMetrics;
  readonly logger: Logger;
  readonly limits?: Partial<ServerLimits>;
  /** Extra readiness condition beyond "a certificate is loaded" (e.g. caBundle published). */
  readonly extraReady?: () => boolean;
}

const JSON_TYPES = /^application\/(json|[a-z0-9.+-]*\+json)\s*(;|$)/i;

export class WebhookServer {
  private server?: https.Server;
  private certLoaded = false;
  private draining = false;
  private inFlight = 0;
  private servedPem?: string;
  private readonly limits: ServerLimits;
  private readonly log: Logger;

  constructor(private readonly opts: WebhookServerOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.log = opts.logger;
  }

  /** Ready: a certificate is served, the extra condition holds and the server is not shutting down. */
  isReady(): boolean {
    return this.certLoaded && !this.draining && (this.opts.extraReady?.() ?? true);
  }

  /**
   * Listens with `pair`; resolves with the bound port. A `provisional` pair only lets the
   * listener and /healthz start: the server is not ready until reload() gives it the real one.
   */
  async listen(pair: KeyPairPem, port: number, address: string, options: { provisional?: boolean } = {}): Promise<number> {
    assertKeyMatches(pair.certPem, pair.keyPem);
    const server = https.createServer(
      {
        cert: pair.certPem,
        key: pair.keyPem,
        ...SERVER_TLS,
        handshakeTimeout: this.limits.handshakeTimeoutMs,
        headersTimeout: this.limits.headersTimeoutMs,
        requestTimeout: this.limits.requestTimeoutMs,
        keepAliveTimeout: this.limits.keepAliveTimeoutMs,
        connectionsCheckingInterval: Math.min(1000, this.limits.headersTimeoutMs),
        maxHeaderSize: 16 * 1024,
      },
      (req, res) => this.guarded(req, res),
    );
    // Sockets idle longer than this (e.g. a stalled body mid-request) are dropped as well.
    server.timeout = this.limits.requestTimeoutMs + 1000;
    server.on('tlsClientError', (err) => {
      this.opts.metrics.errors.inc({ kind: 'tls' });
      this.log.debug('TLS client error', { error: errorText(err) });
    });
    this.server = server;
    if (!options.provisional) this.noteCert(pair);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  /** Swaps the serving certificate for new connections; throws (keeping the old one) if the pair is bad. */
  reload(pair: KeyPairPem): void {
    assertKeyMatches(pair.certPem, pair.keyPem);
    if (!this.server) throw new Error('server is not listening');
    this.server.setSecureContext({ cert: pair.certPem, key: pair.keyPem, ...SERVER_TLS });
    this.noteCert(pair);
    this.opts.metrics.certReloads.inc();
  }

  /** The certificate served now (undefined while only the provisional one is). */
  servingCertPem(): string | undefined {
    return this.servedPem;
  }

  private noteCert(pair: KeyPairPem): void {
    this.servedPem = pair.certPem;
    const facts = certFacts(pair.certPem);
    this.opts.metrics.certExpiry.set({ cert: 'serving' }, facts.notAfter.getTime() / 1000);
    this.certLoaded = true;
    this.log.info('serving certificate loaded', { subject: facts.subject, dnsNames: facts.dnsNames, notAfter: facts.notAfter.toISOString() });
  }

  /** Fails /readyz from now on, still serving, so endpoints drop this replica before it closes. */
  drain(): void {
    this.draining = true;
  }

  /** Stops accepting, lets in-flight requests finish (bounded), then closes. */
  async close(graceMs = 5000): Promise<void> {
    this.draining = true;
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.closeAllConnections();
        resolve();
      }, graceMs);
      timer.unref();
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      server.closeIdleConnections();
    });
  }

  /** Whatever a request does, an exception in handling it is a 500 and a metric, never the end of the process. */
  private guarded(req: http.IncomingMessage, res: http.ServerResponse): void {
    try {
      this.handle(req, res);
    } catch (err) {
      this.internalError(res, err);
    }
  }

  private internalError(res: http.ServerResponse, err: unknown): void {
    this.opts.metrics.errors.inc({ kind: 'internal' });
    this.log.error('request failed unexpectedly', { error: clientString(errorText(err), 200) });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const text = '{"error":"internal error"}';
    res.writeHead(500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q >= 0 ? url.slice(0, q) : url;
    if (path === MUTATE_PATH || path === POD_SECURITY_WARNING_PATH || (path === MUTATE_CSI_PATH && this.opts.csiMutator !== undefined)) {
      if (req.method !== 'POST') return this.plain(res, 405, 'method not allowed: use POST\n', 'method', { allow: 'POST' });
      const mutator = path === MUTATE_CSI_PATH && this.opts.csiMutator !== undefined ? this.opts.csiMutator : this.opts.mutator;
      return this.mutate(req, res, path === POD_SECURITY_WARNING_PATH ? 'pod-security-warning' : 'mutate', mutator);
    }
    if (path === '/healthz' || path === '/readyz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return this.plain(res, 405, 'method not allowed: use GET\n', 'method', { allow: 'GET, HEAD' });
      if (path === '/healthz') return this.plain(res, 200, 'ok\n');
      return this.isReady() ? this.plain(res, 200, 'ok\n') : this.plain(res, 503, 'not ready\n');
    }
    return this.plain(res, 404, 'not found\n', 'not-found');
  }

  private plain(res: http.ServerResponse, status: number, text: string, errorKind?: string, headers: Record<string, string> = {}): void {
    if (errorKind) this.opts.metrics.errors.inc({ kind: errorKind });
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  private tooLarge(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.opts.metrics.errors.inc({ kind: 'too-large' });
    const text = `request body larger than ${this.limits.maxBodyBytes} bytes\n`;
    // Close after answering, but keep discarding what the client still sends: a client blocked
    // mid-upload would never read the 413, and a reset could destroy it unread. requestTimeout
    // bounds how long that discarding may last.
    res.writeHead(413, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), connection: 'close' });
    res.end(text);
    req.resume();
  }

  private mutate(req: http.IncomingMessage, res: http.ServerResponse, mode: 'mutate' | 'pod-security-warning', mutator: PodMutator): void {
    const type = req.headers['content-type'];
    if (type !== undefined && !JSON_TYPES.test(type)) {
      req.resume();
      return this.plain(res, 415, 'content-type must be application/json\n', 'bad-request');
    }
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > this.limits.maxBodyBytes) return this.tooLarge(req, res);
    if (this.inFlight >= this.limits.maxInFlight) {
      // The API server retries a 429 that carries Retry-After (within its timeout), so a burst
      // costs latency instead of failed pod creations; the body is not even read.
      req.resume();
      return this.plain(res, 429, 'too many admissions in flight; retry\n', 'overloaded', { 'retry-after': '1', connection: 'close' });
    }
    this.inFlight++;
    let released = false;
    res.once('close', () => {
      if (!released) this.inFlight--;
      released = true;
    });

    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > this.limits.maxBodyBytes) {
        over = true;
        chunks.length = 0;
        this.tooLarge(req, res);
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      if (over || res.headersSent) return;
      try {
        const started = process.hrtime.bigint();
        const text = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks, size).toString('utf8');
        chunks.length = 0;
        const outcome = admit(text, mutator, mode);
        // Encoded once: its length and the bytes written come from the same pass over the text.
        const body = Buffer.from(outcome.body);
        res.writeHead(outcome.status, { 'content-type': 'application/json', 'content-length': body.length });
        res.end(body);
        this.record(outcome, Number(process.hrtime.bigint() - started) / 1e9);
      } catch (err) {
        this.internalError(res, err);
      }
    });
  }

  private record(outcome: AdmissionOutcome, seconds: number): void {
    const m = this.opts.metrics;
    m.admissions.inc({ result: outcome.result });
    if (outcome.result === 'rejected') m.errors.inc({ kind: 'bad-request' });
    else m.latency.observe(seconds);
    if (outcome.injectedContainers > 0) m.injectedContainers.inc(outcome.injectedContainers);
    const level = outcome.result === 'rejected' || outcome.result === 'denied' ? 'warn' : outcome.result === 'mutated' ? 'info' : 'debug';
    if (this.log.enabled(level)) {
      // Everything here may come from the client: only short, cut pieces of it are logged.
      this.log.log(level, 'admission', {
        uid: clientString(outcome.uid),
        namespace: clientString(outcome.namespace),
        pod: clientString(outcome.name),
        result: outcome.result,
        injectedContainers: outcome.injectedContainers,
        reason: clientString(outcome.reason, 4 * CLIENT_TEXT_MAX),
        durationMs: Math.round(seconds * 1e6) / 1e3,
      });
    }
  }
}
