/**
 * The generated chart with real Helm 3.17 and 4.1: lint, render, equivalence with
 * the constructs, determinism, no key material, schema and value checks.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Json, JsonObject } from '../../lib/constructs';
import { ChartValues, defaultValues, mergeValues, propsFromValues, synthesizeObjects } from '../../lib/generator';
import { CHART, Helm, helms, helmTemplate, parseObjects, REPO_ROOT, runHelm, valuesFile } from './helm';
import { MATRIX } from './matrix';

const HELMS: Helm[] = helms();

/** Objects keyed by kind/namespace/name, so the comparison does not depend on file order. */
function byIdentity(objects: readonly JsonObject[]): Record<string, JsonObject> {
  const out: Record<string, JsonObject> = {};
  for (const o of objects) {
    const meta = o.metadata as JsonObject;
    const id = `${String(o.kind)}/${String(meta.namespace ?? '')}/${String(meta.name)}`;
    if (id in out) throw new Error(`duplicate object ${id}`);
    out[id] = o;
  }
  return out;
}

describe.each(HELMS.map((h) => [h.label, h] as const))('%s', (_label, helm) => {
  test('helm lint --strict passes on the defaults and on every matrix entry', () => {
    for (const entry of MATRIX) {
      const r = runHelm(helm, ['lint', '--strict', CHART, '--namespace', entry.namespace, '-f', valuesFile(entry.values)]);
      expect({ entry: entry.name, status: r.status, out: r.status === 0 ? '' : r.stdout + r.stderr }).toEqual({ entry: entry.name, status: 0, out: '' });
    }
  });

  test.each(MATRIX.map((e) => [e.name, e] as const))('render equals the constructs synthesized with the same props: %s', (_name, entry) => {
    const rendered = parseObjects(helmTemplate(helm, CHART, entry.release, entry.namespace, entry.values));
    const values = mergeValues(defaultValues(), entry.values) as unknown as ChartValues;
    const synthesized = synthesizeObjects(propsFromValues(values, { name: entry.release, namespace: entry.namespace }));
    expect(byIdentity(rendered)).toEqual(byIdentity(synthesized));
  });

  test('two renders are byte-identical (Argo CD sees no drift)', () => {
    for (const entry of MATRIX) {
      const a = helmTemplate(helm, CHART, entry.release, entry.namespace, entry.values);
      const b = helmTemplate(helm, CHART, entry.release, entry.namespace, entry.values);
      expect(a).toBe(b);
    }
  });

  test('no private key or certificate appears in any render', () => {
    for (const entry of MATRIX.filter((e) => !JSON.stringify(e.values).includes('caBundle'))) {
      const text = helmTemplate(helm, CHART, entry.release, entry.namespace, entry.values);
      expect(text).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE|LS0tLS1CRUdJT|caBundle|tls\.key:|tls\.crt:/);
    }
  });

  test('cluster-scoped names carry the release name, namespaced objects go to the release namespace', () => {
    const objects = parseObjects(helmTemplate(helm, CHART, 'blue', 'tools', { certificates: { source: 'self' }, webhook: { repairMode: 'evict' } }));
    const clusterScoped = objects.filter((o) => ['ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration'].includes(String(o.kind)));
    expect(clusterScoped.length).toBeGreaterThanOrEqual(7);
    for (const o of clusterScoped) expect(String((o.metadata as JsonObject).name)).toMatch(/^blue-lxcfs-kit/);
    for (const o of objects.filter((x) => !clusterScoped.includes(x))) expect((o.metadata as JsonObject).namespace).toBe('tools');
  });

  test.each([
    ['webhook.replicas as a string', { webhook: { replicas: 'two' } }, /replicas/],
    ['an unknown failurePolicy', { webhook: { failurePolicy: 'Maybe' } }, /failurePolicy/],
    ['lxcfs.files as a string', { lxcfs: { files: '/proc/meminfo' } }, /files/],
    ['an empty file set', { lxcfs: { files: [] } }, /files/],
    ['a relative lxcfs path', { lxcfs: { path: 'var/lib/lxcfs' } }, /path/],
    ['/etc as the lxcfs path (not a dedicated directory)', { lxcfs: { path: '/etc' } }, /path/],
    ['/var/lib as the lxcfs path (not a dedicated directory)', { lxcfs: { path: '/var/lib' } }, /path/],
    ['a path under /proc as the lxcfs path', { lxcfs: { path: '/proc/lxcfs' } }, /path/],
    ['a misspelt key', { webhook: { replica: 3 } }, /replica/],
    ['timeoutSeconds above the API limit', { webhook: { timeoutSeconds: 45 } }, /timeoutSeconds/],
  ])('the schema rejects %s with a clear error', (_what, values, mentions) => {
    const r = runHelm(helm, ['template', 'lxcfs-kit', CHART, '--namespace', 'lxcfs-kit', '-f', valuesFile(values)]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/values don't meet the specifications of the schema|schema/i);
    expect(r.stderr).toMatch(mentions);
  });

  test.each([
    ['one replica with failurePolicy Fail', 'lxcfs-kit', { webhook: { replicas: 1 } }, /replicas below 2 .* set webhook\.replicas to 2 or more, or webhook\.failurePolicy to Ignore/],
    ['installing into default', 'default', {}, /namespace "default".*dedicated namespace/],
    ['a common label that would break selectors', 'lxcfs-kit', { commonLabels: { 'app.kubernetes.io/name': 'x' } }, /label "app.kubernetes.io\/name" is set by lxcfs-kit itself/],
    ['overriding the sync wave', 'lxcfs-kit', { commonAnnotations: { 'argocd.argoproj.io/sync-wave': '9' } }, /sync-wave is set by lxcfs-kit itself/],
    ['existingSecret without a caBundle', 'lxcfs-kit', { certificates: { source: 'existingSecret', existingSecret: { secretName: 'x' } } }, /caBundle is empty/],
    [
      'a private key as caBundle',
      'lxcfs-kit',
      { certificates: { source: 'existingSecret', existingSecret: { secretName: 'x', caBundle: Buffer.from('-----BEGIN PRIVATE KEY-----').toString('base64') } } },
      /contains a private key/,
    ],
  ])('the chart refuses %s with a message that says how to fix it', (_what, namespace, values, message) => {
    const r = runHelm(helm, ['template', 'lxcfs-kit', CHART, '--namespace', namespace, '-f', valuesFile(values)]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});

test('Chart.yaml version and appVersion are the package version', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  const chart = fs.readFileSync(path.join(CHART, 'Chart.yaml'), 'utf8');
  expect(chart).toContain(`version: ${pkg.version}\n`);
  expect(chart).toMatch(new RegExp(`appVersion: "?${pkg.version.replace(/\./g, '\\.')}"?\\n`));
});

test('values.yaml documents every value and equals the schema defaults', () => {
  const text = fs.readFileSync(path.join(CHART, 'values.yaml'), 'utf8');
  const parsed = parseObjects(text)[0] as Json;
  expect(parsed).toEqual(defaultValues());
  const readme = fs.readFileSync(path.join(CHART, 'README.md'), 'utf8');
  for (const key of ['webhook.failurePolicy', 'lxcfs.path', 'certificates.source', 'agent.priorityClassName', 'webhook.legacyNamespaceLabel']) {
    expect(readme).toContain(`\`${key}\``);
  }
});

test('NOTES.txt renders on install (Helm 4.1 client-side dry run; Helm 3 needs a cluster for that)', () => {
  const helm4 = HELMS[1];
  const caBundle = Buffer.from('-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n').toString('base64');
  for (const values of [{}, { certificates: { source: 'certManager' } }, { certificates: { source: 'existingSecret', existingSecret: { secretName: 's', caBundle } } }]) {
    const r = runHelm(helm4, ['install', 'edge', CHART, '--namespace', 'tools', '--dry-run=client', '-f', valuesFile(values)]);
    expect(r.status).toBe(0);
    const notes = r.stdout.slice(r.stdout.indexOf('NOTES:'));
    expect(notes).toContain('kubectl label namespace <namespace> lxcfs-kit.io/inject=enabled');
    expect(notes).toContain('daemonset/edge-lxcfs-kit-agent');
    // The caBundle is written at run time, except when it comes from the values.
    expect(notes.includes('ignoreDifferences')).toBe(!JSON.stringify(values).includes('existingSecret'));
  }
});
