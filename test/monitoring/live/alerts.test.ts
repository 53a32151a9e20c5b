/**
 * The alerts and dashboard queries against what a RUNNING agent (real lxcfs, root) and a RUNNING
 * webhook (real HTTPS process) expose on /metrics:
 * - every metric, label and matched label value they use exists there (or is one of the target
 *   labels / the `up` series Prometheus itself adds to every scraped target);
 * - over an hour of the real samples (the healthy install) no alert fires and every dashboard
 *   query returns data;
 * - each alert fires when the series it watches are changed the way its failure changes them,
 *   and its summary names the node or pod.
 * No Prometheus runs here: expressions are parsed by Prometheus's grammar and evaluated by the
 * small evaluator in ../promql.ts (its own tests: ../promql.test.ts).
 */
import * as net from 'net';
import { alertRules, AlertRule, MonitoringTarget, TARGET_LABELS } from '../../../lib/monitoring/rules';
import { dashboardPanels } from '../../../lib/monitoring/dashboard';
import { E2EEnv } from '../../e2e/support/env';
import { describeE2E } from '../../e2e/support/prereqs';
import { fixturePod, makePki, request, review, startFileModeWebhook, TestPki, WebhookProcess } from '../../webhook/helpers';
import { parseExposition, Exposition } from '../exposition';
import { Engine, Labels, references, Sample, VectorElement } from '../promql';

const TARGET: MonitoringTarget = { name: 'lxcfs-kit', namespace: 'lxcfs-kit', failurePolicy: 'Fail' };
const AGENT_TARGET = { namespace: 'lxcfs-kit', pod: 'lxcfs-kit-agent-x7k2p', node: 'node-a', job: 'lxcfs-kit-agent-metrics', instance: '10.0.0.1:9479' };
const WEBHOOK_TARGET = { namespace: 'lxcfs-kit', pod: 'lxcfs-kit-webhook-6d9f7-q2w3e', job: 'lxcfs-kit-webhook', instance: '10.1.0.7:9090' };
const STEP = 30;
const HOUR = 3600;

/** One scrape every STEP seconds over the last hour up to `now`, of a target's exposed samples plus its `up`. */
type Timeline = Sample[];
function timeline(exposed: Exposition, target: Labels, now: number): Timeline {
  const out: Sample[] = [];
  for (let t = now - HOUR; t <= now; t += STEP) {
    out.push({ labels: { __name__: 'up', ...target }, t, v: 1 });
    for (const s of exposed.samples) out.push({ labels: { ...s.labels, ...target }, t, v: s.v });
  }
  return out;
}

/** A copy of `samples` where `fn` rewrites the samples of one metric (matching `labels`) in the last `seconds`. */
function change(samples: Timeline, now: number, metric: string, seconds: number, fn: (s: Sample, age: number) => number | undefined, labels: Labels = {}): Timeline {
  return samples.flatMap((s) => {
    if (s.labels.__name__ !== metric || s.t <= now - seconds || !Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return [s];
    const v = fn(s, now - s.t);
    return v === undefined ? [] : [{ ...s, v }];
  });
}

/** Adds a counter series (labels copied from `like`) that rises by `perStep` every step in the last `seconds`. */
function rising(samples: Timeline, now: number, like: Labels, seconds: number, perStep: number): Timeline {
  const added: Sample[] = [];
  for (let t = now - HOUR, v = 0; t <= now; t += STEP) {
    if (t > now - seconds) v += perStep;
    added.push({ labels: like, t, v });
  }
  return [...samples, ...added];
}

function secondsOf(d: string): number {
  const m = /^(\d+)([smh])$/.exec(d)!;
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'];
}

/** What Prometheus would fire at `now`: the expression holds at every evaluation through the `for` window (same label sets). */
function firing(rule: AlertRule, samples: Timeline, now: number): VectorElement[] {
  const engine = new Engine(samples);
  const at = (t: number) => engine.query(rule.expr, t) as VectorElement[];
  let current = at(now);
  for (let t = now - STEP; t >= now - secondsOf(rule.for); t -= STEP) {
    const keys = new Set(at(t).map((e) => JSON.stringify(e.labels)));
    current = current.filter((e) => keys.has(JSON.stringify(e.labels)));
  }
  return current;
}

/** The summary with `{{ $labels.x }}` filled in; throws when a referenced label is missing (Prometheus would print "<no value>"). */
function summary(rule: AlertRule, e: VectorElement): string {
  return rule.annotations.summary.replace(/\{\{\s*\$labels\.(\w+)\s*\}\}/g, (_, l: string) => {
    if (e.labels[l] === undefined) throw new Error(`${rule.alert}: summary uses $labels.${l}, which the alert's series lack (${JSON.stringify(e.labels)})`);
    return e.labels[l];
  });
}

describeE2E('alerts and dashboard against a running agent (real lxcfs) and webhook', () => {
  let env: E2EEnv;
  let webhook: WebhookProcess;
  let pki: TestPki;
  let agentExposed: Exposition;
  let webhookExposed: Exposition;
  let now: number;
  let healthy: Timeline;
  const rules = alertRules(TARGET);
  const rule = (name: string) => rules.find((r) => r.alert === name)!;

  beforeAll(async () => {
    env = new E2EEnv('monitoring');
    const agent = env.startAgent();
    await agent.waitReady();
    // A month-long certificate: the healthy install is far from any expiry alert.
    pki = makePki(['localhost'], 30 * 86400_000);
    webhook = await startFileModeWebhook(pki);
    // One of each outcome the alerts select on: a mutation, a malformed review (rejected) and a failed TLS handshake.
    await request(webhook.port, pki.ca.certPem, { body: review(fixturePod()) });
    await request(webhook.port, pki.ca.certPem, { body: '{"kind":"nope"}' });
    await new Promise<void>((resolve) => {
      const s = net.connect(webhook.port, '127.0.0.1', () => s.end('this is not a TLS client hello\r\n\r\n'));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    const metricsText = async (): Promise<string> => {
      const http = await import('http');
      return new Promise((resolve, reject) =>
        http.get({ host: '127.0.0.1', port: webhook.metricsPort, path: '/metrics' }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve(body));
        }).on('error', reject),
      );
    };
    // The TLS error is counted when the server gives up on the handshake: wait for it to show.
    for (;;) {
      webhookExposed = parseExposition(await metricsText());
      if (webhookExposed.samples.some((s) => s.labels.__name__ === 'lxcfs_kit_webhook_errors_total' && s.labels.kind === 'tls')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = await agent.http('/metrics');
    agentExposed = parseExposition(r.body);
    now = Math.floor(Date.now() / 1000);
    healthy = [...timeline(agentExposed, AGENT_TARGET, now), ...timeline(webhookExposed, WEBHOOK_TARGET, now)];
  }, 180_000);

  afterAll(async () => {
    await webhook?.stop();
    await env?.cleanup();
  });

  const allExpressions = (): Array<{ where: string; expr: string }> => [
    ...rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
    ...dashboardPanels(TARGET).flatMap((p) => p.queries.map((q) => ({ where: `panel "${p.title}"`, expr: q.expr }))),
  ];

  test('every metric, label and matched value the expressions use is exposed (or added by Prometheus)', () => {
    const exposed = [...agentExposed.samples, ...webhookExposed.samples];
    const help = new Map([...agentExposed.help, ...webhookExposed.help]);
    const labelsOf = (metric: string) => new Set(exposed.filter((s) => s.labels.__name__ === metric).flatMap((s) => Object.keys(s.labels)));
    const problems: string[] = [];
    for (const { where, expr } of allExpressions()) {
      const refs = references(expr);
      const known = new Set<string>([...TARGET_LABELS]);
      for (const sel of refs.selectors) {
        if (sel.metric === 'up') continue; // Prometheus's own series, with the target labels only
        const labels = labelsOf(sel.metric);
        if (labels.size === 0) {
          problems.push(`${where}: metric ${sel.metric} is not exposed`);
          continue;
        }
        labels.forEach((l) => known.add(l));
        for (const m of sel.matchers) {
          if (TARGET_LABELS.includes(m.label)) continue;
          if (!labels.has(m.label)) problems.push(`${where}: ${sel.metric} has no label ${m.label}`);
          else if (m.op === '=') {
            const family = sel.metric.replace(/_(bucket|count|sum)$/, '');
            const seen = exposed.some((s) => s.labels.__name__ === sel.metric && s.labels[m.label] === m.value);
            // A value not seen yet counts when the metric's own HELP lists it (e.g. errors by kind).
            if (!seen && !(help.get(family) ?? '').includes(m.value)) problems.push(`${where}: ${sel.metric}{${m.label}="${m.value}"} is neither exposed nor named in its HELP`);
          }
        }
      }
      for (const l of refs.labels) if (!known.has(l)) problems.push(`${where}: label ${l} exists on none of its metrics`);
    }
    expect(problems).toEqual([]);
  });

  test('the healthy install fires no alert, and every dashboard query returns data', () => {
    for (const r of rules) expect({ alert: r.alert, firing: firing(r, healthy, now) }).toEqual({ alert: r.alert, firing: [] });
    const engine = new Engine(healthy);
    for (const p of dashboardPanels(TARGET)) {
      for (const q of p.queries) {
        const result = engine.query(q.expr, now);
        expect({ panel: p.title, expr: q.expr, empty: Array.isArray(result) && result.length === 0 }).toEqual({ panel: p.title, expr: q.expr, empty: false });
      }
    }
  });

  const webhookLabels = (metric: string, extra: Labels = {}): Labels => ({ ...webhookExposed.samples.find((s) => s.labels.__name__ === metric)!.labels, ...WEBHOOK_TARGET, ...extra });

  /** For each alert: the failure, as the change it makes to the series. */
  const scenarios: Record<string, (h: Timeline) => Timeline> = {
    LxcfsKitAgentDown: (h) => change(h, now, 'up', 600, () => 0, { pod: AGENT_TARGET.pod }),
    LxcfsKitLxcfsDown: (h) => change(h, now, 'lxcfs_kit_agent_lxcfs_up', 300, () => 0),
    LxcfsKitHealingGaveUp: (h) => change(h, now, 'lxcfs_kit_agent_mounts_given_up', 1200, () => 2),
    LxcfsKitHealingUnsupported: (h) => change(h, now, 'lxcfs_kit_agent_healing_supported', 1800, () => 0),
    LxcfsKitLxcfsRestarting: (h) => change(h, now, 'lxcfs_kit_agent_lxcfs_restarts_total', 1500, (s, age) => s.v + Math.ceil((1500 - age) / 300)),
    LxcfsKitUninjectedPods: (h) => change(h, now, 'lxcfs_kit_webhook_uninjected_pods', 1800, () => 2),
    LxcfsKitWebhookCertificateExpiresSoon: (h) => change(h, now, 'lxcfs_kit_webhook_certificate_expiry_timestamp_seconds', 2 * HOUR, () => now + 2 * 86400, { cert: 'serving' }),
    LxcfsKitWebhookCertificateMissing: (h) => change(h, now, 'lxcfs_kit_webhook_certificate_expiry_timestamp_seconds', 1200, () => undefined, { cert: 'serving' }),
    LxcfsKitWebhookCertificateSyncFailing: (h) => rising(h, now, webhookLabels('lxcfs_kit_webhook_errors_total', { kind: 'certificate' }), 1800, 1),
    LxcfsKitWebhookTLSErrors: (h) => change(h, now, 'lxcfs_kit_webhook_errors_total', 1800, (s, age) => s.v + Math.floor((1800 - age) / 10), { kind: 'tls' }),
    LxcfsKitWebhookAdmissionErrors: (h) =>
      change(h, now, 'lxcfs_kit_webhook_admissions_total', 1800, (s, age) => s.v + Math.floor((1800 - age) / (s.labels.result === 'rejected' ? 3 : 30))),
    LxcfsKitWebhookSlow: (h) => {
      // About one admission a second, every one above the largest bucket: the count and +Inf rise, le="0.05" does not.
      const slower = (s: Sample, age: number) => s.v + (1800 - age);
      const counted = change(h, now, 'lxcfs_kit_webhook_admission_duration_seconds_count', 1800, slower);
      return change(counted, now, 'lxcfs_kit_webhook_admission_duration_seconds_bucket', 1800, slower, { le: '+Inf' });
    },
    LxcfsKitWebhookUnavailable: (h) => change(h, now, 'up', 900, () => 0, { pod: WEBHOOK_TARGET.pod }),
  };

  test('there is a failure scenario for every alert', () => {
    expect(Object.keys(scenarios).sort()).toEqual(rules.map((r) => r.alert).sort());
  });

  test.each(Object.keys(scenarios))('%s fires on its failure and its summary names the node or pod', (name) => {
    const samples = scenarios[name](healthy);
    const fired = firing(rule(name), samples, now);
    expect(fired.length).toBeGreaterThan(0);
    for (const e of fired) {
      const text = summary(rule(name), e);
      if (name !== 'LxcfsKitWebhookUnavailable') expect(text).toMatch(/node-a|lxcfs-kit-agent-x7k2p|lxcfs-kit-webhook-6d9f7-q2w3e/);
      else expect(text).toContain(TARGET.namespace);
    }
    // Runbook links point at the alert's own section.
    expect(rule(name).annotations.runbook_url).toMatch(new RegExp(`#${name.toLowerCase()}$`));
  });

  test('the agent alerts say which node, because the agent target carries the node label', () => {
    for (const r of rules.filter((x) => x.expr.includes('lxcfs_kit_agent_'))) expect(r.annotations.summary).toContain('{{ $labels.node }}');
  });
});
