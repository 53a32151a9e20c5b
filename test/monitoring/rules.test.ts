/** The alert definitions: complete, parseable by Prometheus's grammar, and each with its runbook section. */
import * as fs from 'fs';
import * as path from 'path';
import pkg from '../../package.json';
import { alertRules, runbookAnchor, RUNBOOK_BASE_URL } from '../../lib/monitoring/rules';
import { dashboardPanels } from '../../lib/monitoring/dashboard';
import { parse } from './promql';

const rules = alertRules({ name: 'lxcfs-kit', namespace: 'lxcfs-kit', failurePolicy: 'Fail' });
const runbooks = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'runbooks.md'), 'utf8');
const headings = runbooks.split('\n').filter((l) => l.startsWith('## ')).map((l) => l.slice(3).trim());

test('the issue\'s failure list is covered', () => {
  expect(rules.map((r) => r.alert)).toEqual(
    expect.arrayContaining([
      'LxcfsKitAgentDown', // agent not ready
      'LxcfsKitLxcfsDown', // lxcfs down on a node
      'LxcfsKitHealingGaveUp', // mounts healing gave up on
      'LxcfsKitLxcfsRestarting', // lxcfs restarting repeatedly
      'LxcfsKitUninjectedPods', // opted-in pods without lxcfs
      'LxcfsKitWebhookCertificateExpiresSoon',
      'LxcfsKitWebhookCertificateSyncFailing', // CA not published
      'LxcfsKitWebhookAdmissionErrors',
      'LxcfsKitWebhookSlow', // latency heading for the timeout
      'LxcfsKitWebhookUnavailable', // replicas unavailable (failurePolicy named)
    ]),
  );
  expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
});

test('every expression and dashboard query parses with the Prometheus grammar', () => {
  for (const r of rules) expect(() => parse(r.expr)).not.toThrow();
  for (const p of dashboardPanels({ name: 'x', namespace: 'y', failurePolicy: 'Fail' })) for (const q of p.queries) expect(() => parse(q.expr)).not.toThrow();
  expect(() => parse('sum by (node (up)')).toThrow(/syntax error/);
});

test('every alert has a severity, a summary naming the node, pod or namespace, and a runbook section', () => {
  expect(RUNBOOK_BASE_URL).toBe(`${pkg.homepage.replace(/#readme$/, '')}/blob/v${pkg.version}/docs/runbooks.md`);
  for (const r of rules) {
    expect(['critical', 'warning']).toContain(r.labels.severity);
    expect(r.annotations.summary).toMatch(/\$labels\.(node|pod)|namespace lxcfs-kit/);
    expect(r.annotations.runbook_url).toBe(`${RUNBOOK_BASE_URL}#${runbookAnchor(r.alert)}`);
    expect(headings).toContain(r.alert);
    expect(r.for).toMatch(/^\d+[smh]$/);
  }
  // No runbook section for an alert that does not exist.
  expect(headings.filter((h) => !rules.some((r) => r.alert === h))).toEqual([]);
});
