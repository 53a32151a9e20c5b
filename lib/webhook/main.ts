/**
 * `lxcfs-kit webhook`: wires the flags to the HTTPS admission server, the
 * metrics server, the certificate source (files or self-managed) and the
 * leader-elected repair reconciler, and shuts all of it down cleanly on
 * SIGTERM/SIGINT.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AddressInfo } from 'net';
import { parseFlags, UsageError, usageText } from '../flags';
import { CertFileWatcher, readPair } from './cert-files';
import { WEBHOOK_FLAGS, WebhookFlags } from './flags';
import type { KubeApi } from './kube-api';
import { BatchingSink, errorText, Logger, LogLevel, LogSink } from '../log';
import { WebhookMetrics } from './metrics';
import { PodMutator } from './mutate';
import type { InjectionMode } from '../injection';
import { LeaderElector, RepairReconciler } from './repair';
import { SelfCertManager } from './self-certs';
import { WebhookServer } from './server';
import { bundleTrusts, createCa, KeyPairPem } from './tls';

const SUMMARY =
  'Serve the lxcfs-kit mutating admission webhook over HTTPS (TLS 1.2+): POST /mutate, GET /healthz, GET /readyz;\n' +
  'Prometheus /metrics on a separate plain-HTTP port. Certificates come from files (reloaded when they change)\n' +
  'or are self-managed in a Secret. A Lease-elected replica reports (or evicts) opted-in pods created without lxcfs.';

const LEASE_DURATION_SECONDS = 15;

/** The webhook's log (lib/log.ts shape); every line names the replica that wrote it. */
export function webhookLogger(sink: LogSink, level: LogLevel, identity: string): Logger {
  return new Logger(sink, 'webhook', level, { instance: identity });
}

/**
 * The command line as the webhook reads it, judged before it starts anything: every
 * UsageError a command line (and $POD_NAMESPACE) alone can cause (the options property
 * tests run the manifests' args through it).
 */
export function readWebhookCommandLine(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): { flags: WebhookFlags; namespace: string; mutator: PodMutator; csiMutator: PodMutator } {
  const flags = parseFlags(WEBHOOK_FLAGS, argv);
  const namespace = flags.namespace || env.POD_NAMESPACE || '';
  let mutator: PodMutator;
  let csiMutator: PodMutator;
  try {
    mutator = PodMutator.fromFlags(flags['lxcfs-path'], flags.file, namespace, flags['injection-mode'] as InjectionMode);
    csiMutator = PodMutator.fromFlags(flags['lxcfs-path'], flags.file, namespace, 'csi');
  } catch (err) {
    throw new UsageError(errorText(err));
  }
  if (flags['cert-mode'] === 'files' && (!flags['tls-cert-file'] || !flags['tls-key-file'])) {
    throw new UsageError('--cert-mode files needs --tls-cert-file and --tls-key-file (or use --cert-mode self inside a cluster)');
  }
  if (flags['cert-mode'] === 'self' && !namespace) throw new UsageError('--cert-mode self needs --namespace or $POD_NAMESPACE');

  return { flags, namespace, mutator, csiMutator };
}

export async function runWebhook(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usageText('webhook', SUMMARY, WEBHOOK_FLAGS)}\n`);
    return;
  }
  const { flags, namespace, mutator, csiMutator } = readWebhookCommandLine(argv, process.env);

  const identity = process.env.POD_NAME || os.hostname();
  const logger = webhookLogger(new BatchingSink(process.stdout), flags['log-level'] as LogLevel, identity);
  const metrics = new WebhookMetrics();
  const stops: (() => Promise<void> | void)[] = [];
  const syncMs = flags['sync-interval'] * 1000;

  let kube: KubeApi | undefined;
  const needsKube = flags['cert-mode'] === 'self' || flags['repair-mode'] !== 'off';
  if (needsKube && (flags['cert-mode'] === 'self' || kubeConfigured())) {
    // ESM-only client: loaded only when a cluster is in play.
    const { connect } = await import('./kube');
    try {
      kube = await connect();
    } catch (err) {
      // Self mode cannot work without the API; in files mode only the reconciler is lost.
      if (flags['cert-mode'] === 'self') throw err;
      logger.warn('no usable Kubernetes configuration; continuing without the repair reconciler', { error: errorText(err) });
    }
  }

  let selfCerts: SelfCertManager | undefined;
  const server = new WebhookServer({
    mutator,
    csiMutator,
    metrics,
    logger,
    limits: { maxBodyBytes: flags['max-request-bytes'], maxInFlight: flags['max-in-flight'] },
    extraReady: () => selfCerts?.readyToServe() ?? true,
  });
  let port: number;

  if (flags['cert-mode'] === 'files') {
    const firstPair = readPair(flags['tls-cert-file'], flags['tls-key-file']);
    port = await server.listen(firstPair, flags.port, flags.address);
    const watcher = new CertFileWatcher(flags['tls-cert-file'], flags['tls-key-file'], firstPair, (p) => server.reload(p), logger.child({ subsystem: 'certificates' }));
    watcher.start(syncMs);
    stops.push(() => watcher.stop());
  } else {
    // Listen at once with a throwaway certificate: /healthz answers from the first second even
    // when the API server is not reachable yet (after a power loss), and /readyz stays failing
    // until the shared serving certificate is loaded, so the Service never routes to this one.
    port = await server.listen(provisionalPair(), flags.port, flags.address, { provisional: true });
    const certLog = logger.child({ subsystem: 'certificates' });
    const certs = new SelfCertManager({
      kube: kube as KubeApi,
      namespace,
      secretName: flags['secret-name'],
      serviceName: flags['service-name'],
      webhookConfiguration: flags['webhook-configuration'],
      certLifetimeMs: flags['cert-lifetime'] * 1000,
      caLifetimeMs: flags['ca-lifetime'] * 1000,
      logger,
      metrics,
      onServingPair: (p) => {
        try {
          server.reload(p);
        } catch (err) {
          metrics.errors.inc({ kind: 'certificate' });
          certLog.error('could not load the new serving certificate; keeping the current one', { error: errorText(err) });
        }
      },
    });
    selfCerts = certs;
    const backoff = new Backoff(500, Math.max(10_000, syncMs));
    const sync = loop(syncMs, async () => {
      try {
        await certs.sync();
        backoff.reset();
        return undefined;
      } catch (err) {
        metrics.errors.inc({ kind: 'certificate' });
        const retryInMs = backoff.next();
        certLog.warn('certificate sync failed; retrying', { error: errorText(err), retryInMs });
        return retryInMs;
      }
    }, true);
    stops.push(sync.stop);
    // The poll is the safety net; the watch re-publishes the caBundle within moments of an
    // upgrade or GitOps sync replacing the configuration.
    const unwatch = (kube as KubeApi).watchWebhookConfiguration(flags['webhook-configuration'], sync.kick, (err) =>
      certLog.debug('webhook configuration watch ended; restarting', { error: errorText(err) }),
    );
    stops.push(unwatch);
  }
  stops.push(() => server.close());

  const metricsServer = metrics.createServer();
  await new Promise<void>((resolve, reject) => {
    metricsServer.once('error', reject);
    metricsServer.listen(flags['metrics-port'], flags.address, resolve);
  });
  stops.push(() => new Promise<void>((r) => metricsServer.close(() => r())));
  const metricsPort = (metricsServer.address() as AddressInfo).port;

  const configurationReady = async (): Promise<boolean> => {
    const config = await (kube as KubeApi).getWebhookConfiguration(flags['webhook-configuration']);
    const cert = server.servingCertPem();
    return config !== undefined && config.webhooks.length > 0 && cert !== undefined && config.webhooks.every((w) => bundleTrusts(w.caBundle, cert));
  };
  stops.push(...startRepair(flags, kube, namespace, identity, mutator, logger, metrics, configurationReady));
  logger.always('listening', { port, metricsPort, certMode: flags['cert-mode'], repairMode: flags['repair-mode'], files: flags.file });

  await new Promise<void>((resolve) => {
    const shutdown = (signal: string): void => {
      const delay = flags['shutdown-delay'];
      logger.always('shutting down', { signal, shutdownDelaySeconds: delay });
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      server.drain();
      // Stop in reverse start order: reconciler (releases its Lease), metrics, HTTPS (drains), cert loops.
      // Every step's failure is caught and logged inside, so nothing is left to handle here.
      void (async () => {
        // The API server may still pick this replica until the endpoints update reaches it.
        await new Promise((r) => setTimeout(r, delay * 1000));
        for (const stop of stops.reverse()) {
          try {
            await stop();
          } catch (err) {
            logger.warn('shutdown step failed', { error: errorText(err) });
          }
        }
      })().finally(resolve);
    };
    const onTerm = (): void => shutdown('SIGTERM');
    const onInt = (): void => shutdown('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}

function startRepair(
  flags: WebhookFlags,
  kube: KubeApi | undefined,
  namespace: string,
  identity: string,
  mutator: PodMutator,
  logger: Logger,
  metrics: WebhookMetrics,
  configurationReady: () => Promise<boolean>,
): (() => Promise<void> | void)[] {
  const mode = flags['repair-mode'];
  if (mode === 'off') return [];
  const log = logger.child({ subsystem: 'repair' });
  if (!kube || !namespace) {
    log.warn('repair reconciler not started: it needs a cluster (in-cluster or $KUBECONFIG) and --namespace/$POD_NAMESPACE', { repairMode: mode });
    return [];
  }
  const elector = new LeaderElector({ kube, namespace, leaseName: flags['lease-name'], identity, leaseDurationSeconds: LEASE_DURATION_SECONDS, logger: log });
  const reconciler = new RepairReconciler({
    kube,
    mutator,
    mode: mode === 'evict' ? 'evict' : 'report',
    legacyNamespaceLabel: flags['legacy-namespace-label'],
    evictionsPerMinute: flags['evictions-per-minute'],
    skipPodSecurityEnforced: flags['pod-security-enforced-namespaces'] === 'skip',
    configurationReady,
    identity,
    logger,
    metrics,
  });
  let lastScan = 0;
  let scan: Promise<void> | undefined;
  const intervalMs = flags['repair-interval'] * 1000;
  // The scan runs beside the renewal loop, not inside it: a scan that outlasts the lease (a big
  // cluster, a slow API server, a starved process) must not cost the Lease, or a second replica
  // would take over and report and evict with a budget of its own.
  const { stop } = loop(Math.min((LEASE_DURATION_SECONDS * 1000) / 3, intervalMs), async () => {
    const leading = await elector.tryAcquireOrRenew();
    metrics.leader.set(leading ? 1 : 0);
    if (!leading || scan || Date.now() - lastScan < intervalMs) return;
    lastScan = Date.now();
    scan = reconciler
      .scan()
      .then((r) => log.info('repair scan', { uninjected: r.uninjected.length, actions: r.uninjected.map((u) => `${u.namespace}/${u.name}:${u.action}`) }))
      .catch((err: unknown) => {
        metrics.errors.inc({ kind: 'repair' });
        log.warn('repair scan failed', { error: errorText(err) });
      })
      .finally(() => (scan = undefined));
  }, true);
  return [
    async () => {
      await stop();
      await scan;
      await elector.release();
      metrics.leader.set(0);
    },
  ];
}

/**
 * Runs `fn` every `ms` (or after the delay a round returns), never overlapping. `kick` runs it
 * as soon as possible (right after the current round if one is running); `stop` ends the loop
 * and waits for a running round.
 */
function loop(ms: number, fn: () => Promise<number | undefined | void>, immediately = false): { stop: () => Promise<void>; kick: () => void } {
  let stopped = false;
  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = undefined;
    let delay: number | undefined | void;
    running = fn()
      .then((d) => {
        delay = d;
      })
      .finally(() => {
        running = undefined;
        if (stopped) return;
        if (again) {
          again = false;
          setImmediate(tick);
        } else timer = setTimeout(tick, delay ?? ms);
      });
  };
  timer = setTimeout(tick, immediately ? 0 : ms);
  return {
    kick: () => {
      if (stopped) return;
      if (running) again = true;
      else tick();
    },
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

/** Capped exponential backoff between retries (the API server may still be starting after a power loss). */
class Backoff {
  private current: number;
  constructor(private readonly first: number, private readonly max: number) {
    this.current = first;
  }
  next(): number {
    const d = this.current;
    this.current = Math.min(this.current * 2, this.max);
    return d;
  }
  reset(): void {
    this.current = this.first;
  }
}

/** A throwaway self-signed pair that lets the listener (and /healthz) start before the real certificate exists. */
function provisionalPair(): KeyPairPem {
  return createCa('lxcfs-kit-webhook-provisional', 24 * 3600 * 1000);
}

function kubeConfigured(): boolean {
  if (process.env.KUBERNETES_SERVICE_HOST || process.env.KUBECONFIG) return true;
  return fs.existsSync(path.join(os.homedir(), '.kube', 'config'));
}
