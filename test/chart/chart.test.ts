/**
 * The generated chart with real Helm 3.17 and 4.1: lint, render, equivalence with
 * the constructs, determinism, no key material, schema and value checks.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Json, JsonObject } from '../../lib/constructs';
import { ChartValues, defaultValues, mergeValues, propsFromValues, synthesizeObjects } from '../../lib/generator';
import { CHART, Helm, helms, helmTemplate, parseObjects, REPO_ROOT, runHelm, valuesFile, jsonText } from './helm';
import { MATRIX, TEST_CA_BUNDLE } from './matrix';

const HELMS: Helm[] = helms();

/** Values the chart refuses: each `fail` of templates/validate.yaml has one (a test counts them). */
interface Refusal {
  readonly what: string;
  readonly namespace: string;
  readonly values: Json;
  /** The template's message. */
  readonly message: RegExp;
  /** What the schema says instead, where it catches the values first. */
  readonly schema?: RegExp;
  /** Why values.schema.json cannot express the rule (lint then passes and only logs the failure). */
  readonly templateOnly?: string;
}

const b64 = (text: string) => Buffer.from(text).toString('base64');
const existing = (existingSecret: JsonObject) => ({ certificates: { source: 'existingSecret', existingSecret } });
const REFUSALS: readonly Refusal[] = [
  { what: 'one replica with failurePolicy Fail', namespace: 'lxcfs-kit', values: { webhook: { replicas: 1 } }, message: /replicas below 2 .* set webhook\.replicas to 2 or more, or webhook\.failurePolicy to Ignore/, schema: /replicas/ },
  { what: 'installing into default', namespace: 'default', values: {}, message: /namespace "default".*dedicated namespace/, templateOnly: 'the release namespace is not a value' },
  { what: 'a common label that would break selectors', namespace: 'lxcfs-kit', values: { commonLabels: { 'app.kubernetes.io/name': 'x' } }, message: /label "app.kubernetes.io\/name" is set by lxcfs-kit itself/, schema: /app\.kubernetes\.io\/name/ },
  { what: 'overriding the sync wave', namespace: 'lxcfs-kit', values: { commonAnnotations: { 'argocd.argoproj.io/sync-wave': '9' } }, message: /sync-wave is set by lxcfs-kit itself/, schema: /argocd\.argoproj\.io\/sync-wave/ },
  { what: 'existingSecret without a Secret name', namespace: 'lxcfs-kit', values: existing({ secretName: '', caBundle: TEST_CA_BUNDLE }), message: /secretName is empty/, schema: /secretName/ },
  { what: 'existingSecret without a caBundle', namespace: 'lxcfs-kit', values: existing({ secretName: 'x' }), message: /caBundle is empty/, schema: /caBundle/ },
  {
    what: 'a private key after the certificate in caBundle',
    namespace: 'lxcfs-kit',
    values: existing({ secretName: 'x', caBundle: b64('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n-----BEGIN EC PRIVATE KEY-----\nBBBB\n-----END EC PRIVATE KEY-----\n') }),
    message: /contains a private key/,
    schema: /caBundle/,
  },
  { what: 'a caBundle that is not a PEM certificate', namespace: 'lxcfs-kit', values: existing({ secretName: 'x', caBundle: b64('just some text') }), message: /does not decode to a PEM certificate/, schema: /caBundle/ },
  {
    what: 'a pod label that repeats a common label',
    namespace: 'lxcfs-kit',
    values: { commonLabels: { team: 'a' }, webhook: { podLabels: { team: 'b' } } },
    message: /webhook\.podLabels: label "team" is also in commonLabels/,
    templateOnly: 'JSON Schema cannot compare the keys of two maps',
  },
  {
    what: 'the same port for HTTPS and metrics',
    namespace: 'lxcfs-kit',
    values: { webhook: { ports: { https: 9443, metrics: 9443 } } },
    message: /webhook\.ports\.https and webhook\.ports\.metrics are both 9443/,
    templateOnly: 'JSON Schema cannot compare two values',
  },
  {
    what: 'two lxcfs files with one volume name',
    namespace: 'lxcfs-kit',
    values: { lxcfs: { files: ['/proc/a.b', '/proc/a-b'] } },
    message: /lxcfs\.files: "\/proc\/a\.b" and "\/proc\/a-b" give the same volume name lxcfs-kit-proc-a-b/,
    templateOnly: 'JSON Schema cannot compare what two items turn into',
  },
];

/** Objects keyed by kind/namespace/name, so the comparison does not depend on file order. */
function byIdentity(objects: readonly JsonObject[]): Record<string, JsonObject> {
  const out: Record<string, JsonObject> = {};
  for (const o of objects) {
    const meta = o.metadata as JsonObject;
    const id = `${jsonText(o.kind)}/${jsonText(meta.namespace ?? '')}/${jsonText(meta.name)}`;
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
    const clusterScoped = objects.filter((o) => ['ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration'].includes(jsonText(o.kind)));
    expect(clusterScoped.length).toBeGreaterThanOrEqual(7);
    for (const o of clusterScoped) expect(jsonText((o.metadata as JsonObject).name)).toMatch(/^blue-lxcfs-kit/);
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

  test.each(REFUSALS.map((r) => [r.what, r] as const))('the chart refuses %s with a message that says how to fix it', (_what, refusal) => {
    const r = runHelm(helm, ['template', 'lxcfs-kit', CHART, '--namespace', refusal.namespace, '-f', valuesFile(refusal.values)]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(refusal.schema ?? refusal.message);
  });

  test.each(REFUSALS.map((r) => [r.what, r] as const))('helm lint --strict refuses what helm template refuses: %s', (_what, refusal) => {
    const r = runHelm(helm, ['lint', '--strict', CHART, '--namespace', refusal.namespace, '-f', valuesFile(refusal.values)]);
    if (refusal.templateOnly) {
      // Not expressible in values.schema.json; lint runs templates but does not stop on a `fail`.
      expect(r.status).toBe(0);
      // Helm 4 logs the message with its quotes escaped.
      expect((r.stdout + r.stderr).replace(/\\"/g, '"')).toMatch(refusal.message);
    } else {
      expect({ status: r.status, out: r.stdout + r.stderr }).toEqual({ status: 1, out: expect.stringMatching(refusal.schema ?? refusal.message) as unknown });
    }
  });

  test('the template reports every problem it finds in one error', () => {
    const r = runHelm(helm, ['template', 'r', CHART, '--namespace', 'default', '-f', valuesFile({ commonLabels: { team: 'a' }, agent: { podLabels: { team: 'b' } }, webhook: { ports: { https: 9443, metrics: 9443 } } })]);
    expect(r.status).not.toBe(0);
    for (const message of [/namespace "default"/, /agent\.podLabels: label "team"/, /both 9443/]) expect(r.stderr).toMatch(message);
  });

  test('a bare `repairMode: off` in a values file (YAML 1.1 reads it as false) passes lint and renders --repair-mode=off without the repair RBAC', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-off-'));
    const file = path.join(dir, 'values.yaml');
    fs.writeFileSync(file, 'webhook:\n  repairMode: off\n');
    expect(runHelm(helm, ['lint', '--strict', CHART, '--namespace', 'lxcfs-kit', '-f', file]).status).toBe(0);
    const r = runHelm(helm, ['template', 'r', CHART, '--namespace', 'lxcfs-kit', '-f', file]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('- "--repair-mode=off"');
    const objects = parseObjects(r.stdout);
    expect(objects.filter((o) => jsonText((o.metadata as JsonObject).name).endsWith('-webhook-reconciler'))).toEqual([]);
    const quoted = parseObjects(helmTemplate(helm, CHART, 'r', 'lxcfs-kit', { webhook: { repairMode: 'off' } }));
    expect(objects).toEqual(quoted);
  });

  test.each([
    ['a privileged webhook container', { webhook: { securityContext: { privileged: true } } }, /privileged/],
    ['privilege escalation', { webhook: { securityContext: { allowPrivilegeEscalation: true } } }, /allowPrivilegeEscalation/],
    ['added capabilities', { webhook: { securityContext: { capabilities: { add: ['SYS_ADMIN'] } } } }, /capabilities/],
    ['a writable root filesystem', { webhook: { securityContext: { readOnlyRootFilesystem: false } } }, /readOnlyRootFilesystem/],
    ['an unmasked /proc', { webhook: { securityContext: { procMount: 'Unmasked' } } }, /procMount/],
    ['root as the container user', { webhook: { securityContext: { runAsUser: 0 } } }, /runAsUser/],
    ['root as the pod user', { webhook: { podSecurityContext: { runAsUser: 0 } } }, /runAsUser/],
    ['seccomp Unconfined', { webhook: { securityContext: { seccompProfile: { type: 'Unconfined' } } } }, /seccompProfile|type/],
    ['runAsNonRoot false', { webhook: { podSecurityContext: { runAsNonRoot: false } } }, /runAsNonRoot/],
    ['an extra flag the chart renders from a value', { agent: { extraArgs: ['--lxcfs-path=/x'] } }, /extraArgs/],
    ['a negated managed flag', { webhook: { extraArgs: ['--no-legacy-namespace-label'] } }, /extraArgs/],
    ['an extra arg that is not a flag', { webhook: { extraArgs: ['rm -rf'] } }, /extraArgs/],
    ['a flag the agent does not have', { agent: { extraArgs: ['--log-level=debug'] } }, /extraArgs/],
    ['an extra env var the chart sets', { webhook: { extraEnv: [{ name: 'POD_NAME', value: 'x' }] } }, /extraEnv|name/],
    ['a pod label that would break selectors', { agent: { podLabels: { 'app.kubernetes.io/instance': 'x' } } }, /podLabels|propertyName/],
    ['helm.sh/chart in commonLabels', { commonLabels: { 'helm.sh/chart': 'x' } }, /commonLabels|propertyName/],
    ['a scrape annotation in agent.podAnnotations', { agent: { podAnnotations: { 'prometheus.io/port': '1' } } }, /podAnnotations|propertyName/],
    ['a memory quantity with a typo', { agent: { resources: { limits: { memory: '512MB' } } } }, /memory/],
    ['a malformed digest', { webhook: { image: { digest: 'sha256:xyz' } } }, /digest/],
    ['a pull secret without a name', { imagePullSecrets: [{}] }, /imagePullSecrets|name/],
    ['a privileged port for the non-root webhook', { webhook: { ports: { https: 443 } } }, /https/],
    ['a PDB percentage without %', { webhook: { podDisruptionBudget: { minAvailable: 'half' } } }, /minAvailable/],
    ['a fullnameOverride too long for derived names', { fullnameOverride: 'x'.repeat(41) }, /fullnameOverride/],
  ])('lint and template both refuse %s', (_what, values, mentions) => {
    for (const command of ['lint', 'template']) {
      const args = command === 'lint' ? ['lint', '--strict', CHART] : ['template', 'r', CHART];
      const r = runHelm(helm, [...args, '--namespace', 'lxcfs-kit', '-f', valuesFile(values)]);
      expect({ command, status: r.status }).toEqual({ command, status: 1 });
      expect(r.stdout + r.stderr).toMatch(mentions);
    }
  });
});

test('every `fail` of templates/validate.yaml has a refusal case, and the schema-side ones are in values.schema.json', () => {
  const validate = fs.readFileSync(path.join(CHART, 'templates', 'validate.yaml'), 'utf8');
  expect(REFUSALS).toHaveLength((validate.match(/\{\{- \$problems = append \$problems /g) ?? []).length);
  // One `fail` at the end lists them all.
  expect((validate.match(/\{\{- fail /g) ?? []).length).toBe(1);
  for (const dir of fs.readdirSync(path.join(CHART, 'templates')).filter((f) => f !== 'validate.yaml')) {
    expect(fs.readFileSync(path.join(CHART, 'templates', dir), 'utf8')).not.toMatch(/\{\{-? (fail|required) /);
  }
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
    expect(notes).toContain('kubectl -n tools get daemonset,deployment -l app.kubernetes.io/instance=edge');
    // The caBundle is written at run time, except when it comes from the values.
    expect(notes.includes('ignoreDifferences')).toBe(!JSON.stringify(values).includes('existingSecret'));
  }
});

test('Chart.yaml carries home, sources, icon, maintainers, keywords and Artifact Hub annotations that match the chart', () => {
  const chart = parseObjects(fs.readFileSync(path.join(CHART, 'Chart.yaml'), 'utf8'))[0] as {
    home: string;
    sources: string[];
    icon: string;
    maintainers: Array<{ name: string; url?: string }>;
    keywords: string[];
    annotations: Record<string, string>;
  };
  expect(chart.home).toMatch(/^https:\/\/github\.com\/lxcfs-kit\/lxcfs-kit/);
  expect(chart.sources).toContain('https://github.com/lxcfs-kit/lxcfs-kit');
  // The icon is served from this repository's main branch: the file must exist here.
  const iconPath = chart.icon.replace('https://raw.githubusercontent.com/lxcfs-kit/lxcfs-kit/main/', '');
  expect(fs.readFileSync(path.join(REPO_ROOT, iconPath), 'utf8')).toMatch(/^<svg /);
  expect(chart.maintainers.length).toBeGreaterThan(0);
  expect(chart.keywords).toEqual(expect.arrayContaining(['lxcfs', 'admission-webhook']));
  const ann = chart.annotations;
  expect(ann['artifacthub.io/license']).toBe('Apache-2.0');
  expect(['ai-machine-learning', 'database', 'integration-delivery', 'monitoring-logging', 'networking', 'security', 'storage', 'streaming-messaging']).toContain(ann['artifacthub.io/category']);
  // The images Artifact Hub scans are the ones the chart's defaults render.
  const images = (parseObjects(ann['artifacthub.io/images'])[0] as unknown as Array<{ name: string; image: string }>).map((i) => i.image).sort();
  const rendered = parseObjects(helmTemplate(HELMS[1], CHART, 'lxcfs-kit', 'lxcfs-kit', {}))
    .filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')
    .map((o) => (o as unknown as { spec: { template: { spec: { containers: Array<{ image: string }> } } } }).spec.template.spec.containers[0].image)
    .sort();
  expect(images).toEqual(rendered);
  expect((parseObjects(ann['artifacthub.io/links'])[0] as unknown as Array<{ url: string }>).every((l) => l.url.startsWith('https://'))).toBe(true);
  // Helm itself finds nothing to recommend.
  for (const helm of HELMS) expect(runHelm(helm, ['lint', '--strict', CHART, '--namespace', 'lxcfs-kit']).stdout).not.toMatch(/\[(INFO|WARNING)\]/);
});

test('standard labels: helm.sh/chart and managed-by on every chart object, instance is the release name everywhere (selectors too); the plain manifests carry no managed-by', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  for (const helm of HELMS) {
    const objects = parseObjects(helmTemplate(helm, CHART, 'blue', 'tools', { serviceMonitor: { enabled: true }, monitoring: { prometheusRule: { enabled: true }, dashboard: { enabled: true } } }));
    for (const o of objects) {
      const labels = (o.metadata as JsonObject).labels as Record<string, string>;
      expect({ kind: o.kind, chart: labels['helm.sh/chart'], by: labels['app.kubernetes.io/managed-by'], instance: labels['app.kubernetes.io/instance'] }).toEqual({
        kind: o.kind,
        chart: `lxcfs-kit-${pkg.version}`,
        by: 'Helm',
        instance: 'blue',
      });
    }
    for (const w of objects.filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')) {
      const spec = w.spec as { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> } } };
      expect(spec.selector.matchLabels['app.kubernetes.io/instance']).toBe('blue');
      // The chart version is not in the selector (selectors are immutable across upgrades).
      expect(spec.selector.matchLabels['helm.sh/chart']).toBeUndefined();
    }
  }
  const manifests = fs.readFileSync(path.join(REPO_ROOT, 'dist', 'lxcfs-kit.k8s.yaml'), 'utf8');
  expect(manifests).not.toMatch(/managed-by|helm\.sh\/chart/);
});
