/**
 * The README's overview and the operations pages (docs/: failure modes, operations, csi,
 * development) tell the truth: the commands
 * they give run against this checkout's chart (real Helm), the Argo CD
 * Application points at what the release publishes and ignores exactly the
 * field the webhook writes, and the names, metrics and events they quote exist in
 * the code. Links across all pages are checked by docs.test.ts.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parse, parseAllDocuments } from 'yaml';
import { INJECT_LABEL, INJECTED_ANNOTATION, LEGACY_NAMESPACE_LABEL, VERSION } from '../../lib/contract';
import * as constructs from '../../lib/constructs';
import { volumeNameFor } from '../../lib/injection';
import { helm, removeHelmFiles } from './helm';
import { docSection, fencedBlocks, readRepoFile, repoPath, ROOT } from './repo';
import { readWorkflow } from './workflow-model';

const overview = docSection('overview');
const operations = docSection('operations');
const failureModes = docSection('failure-modes');
const development = docSection('development');
const docs = [overview, failureModes, operations, docSection('csi'), development].join('\n');
const CHART_REPOSITORY = String(readWorkflow('release.yml').env?.['CHART_REPOSITORY']);
const LOCAL_CHART = './charts/lxcfs-kit';

interface K8sObject {
  readonly kind: string;
  readonly apiVersion: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly webhooks?: readonly { name: string; clientConfig: { caBundle?: string }; namespaceSelector?: unknown }[];
}

/** Shell commands of the sh blocks, `\` continuations joined, comments dropped. */
function shellCommands(markdown: string): string[][] {
  return fencedBlocks(markdown)
    .filter((b) => b.lang === 'sh')
    .flatMap((b) => b.body.replace(/\\\n\s*/g, ' ').split('\n'))
    .map((l) => l.replace(/\s#.*$/, '').trim())
    .filter((l) => l !== '')
    .map((l) => l.split(/\s+/));
}

function helmCommands(verb: string): string[][] {
  return shellCommands(docs).filter((w) => w[0] === 'helm' && w[1] === verb);
}

/** A README `helm install/upgrade` turned into `helm template` of this checkout's chart. */
function asTemplate(words: readonly string[]): string[] {
  const out: string[] = ['template'];
  for (let i = 2; i < words.length; i++) {
    const w = words[i];
    if (w === '--version') {
      expect(words[i + 1]).toBe(VERSION);
      i++;
    } else if (w === '--reuse-values' || w === '--create-namespace') {
      continue;
    } else if (w.startsWith('oci://')) {
      expect(w).toBe(`${CHART_REPOSITORY}/lxcfs-kit`);
      out.push(LOCAL_CHART);
    } else out.push(w);
  }
  return out;
}

function render(args: readonly string[]): K8sObject[] {
  return parseAllDocuments(helm(args, ROOT))
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/** The Pod Security labels of the Namespace in the generated manifests. */
function podSecurityLabels(): Record<string, string> {
  const namespace = parseAllDocuments(readRepoFile('dist', 'lxcfs-kit.k8s.yaml'))
    .map((d) => d.toJS() as { kind?: string; metadata?: { labels?: Record<string, string> } } | null)
    .find((o) => o?.kind === 'Namespace');
  return Object.fromEntries(Object.entries(namespace?.metadata?.labels ?? {}).filter(([k]) => k.startsWith('pod-security.kubernetes.io/')));
}

describe('README overview and operations', () => {
  afterAll(() => removeHelmFiles());

  test('the failure table is keyed by the exact error texts users report', () => {
    for (const text of ['Transport endpoint is not connected', 'Socket not connected', 'not a directory', 'hostPath type check failed']) {
      expect({ text, inTable: new RegExp(`^\\|[^|\\n]*\`[^\`\\n]*${text}[^\`\\n]*\`[^\\n]*\\|`, 'm').test(failureModes) }).toEqual({ text, inTable: true });
    }
    expect(failureModes).toMatch(/^\| pods running \*\*without\*\* lxcfs after a webhook outage/m);
  });

  test('names, labels, metrics and event reasons quoted in the docs exist in the code', () => {
    const sources = [
      'lib/agent/metrics.ts',
      'lib/webhook/metrics.ts',
      'lib/webhook/repair.ts',
      'lib/monitoring/rules.ts', // alert names
    ].map((f) => readRepoFile(f)).join('\n');
    const metrics = [...new Set([...docs.matchAll(/`(lxcfs_kit_[a-z_]+)`/g)].map((m) => m[1]))];
    expect(metrics.length).toBeGreaterThan(1);
    for (const m of metrics) expect({ m, defined: sources.includes(`'${m}'`) }).toEqual({ m, defined: true });
    const constructNames = new Set(Object.keys(constructs));
    const reasons = [...new Set([...docs.matchAll(/`(Lxcfs[A-Z][A-Za-z]+)`/g)].map((m) => m[1]))].filter((r) => !constructNames.has(r));
    expect(reasons.length).toBeGreaterThan(0);
    for (const r of reasons) expect({ r, defined: sources.includes(`'${r}'`) }).toEqual({ r, defined: true });

    expect(docs).toContain(`"${volumeNameFor('/proc/meminfo')}"`);
    expect(docs).toContain(`failed calling webhook "${constructs.WEBHOOK_ENTRY_NAMES.namespaces}"`);
    expect(docs).toContain(`\`${INJECT_LABEL}=enabled\``);
    expect(docs).toContain(`\`${LEGACY_NAMESPACE_LABEL}=enabled\``);
    expect(docs).toContain(`\`${INJECTED_ANNOTATION}\``);
  });

  test('the reference workload the quickstart applies exists with the limits the expected output assumes', () => {
    const file = 'test/fixtures/test-lxcfs-deployment.yaml';
    expect(overview).toContain(`apply -f ${file}`);
    const deployment = parse(fs.readFileSync(path.join(ROOT, file), 'utf8')) as {
      metadata: { name: string };
      spec: { template: { spec: { containers: { resources: { limits: { cpu: string; memory: string } } }[] } } };
    };
    expect(overview).toContain(`deploy/${deployment.metadata.name}`);
    expect(deployment.spec.template.spec.containers[0]?.resources.limits).toEqual({ cpu: '0.5', memory: '1024Mi' });
    expect(overview).toContain('MemTotal: 1048576 kB');
  });

  test('the Argo CD Application installs the published chart and ignores only the caBundle the webhook writes', () => {
    const yamlDocs = fencedBlocks(overview)
      .filter((b) => b.lang === 'yaml')
      .map((b) => parse(b.body) as Record<string, unknown>);
    const app = yamlDocs.find((d) => d['kind'] === 'Application') as {
      apiVersion: string;
      spec: {
        source: { repoURL: string; chart: string; targetRevision: string };
        destination: { namespace: string };
        syncPolicy: { syncOptions: string[]; managedNamespaceMetadata: { labels: Record<string, string> } };
        ignoreDifferences: { group: string; kind: string; jqPathExpressions: string[] }[];
      };
    };
    expect(app.apiVersion).toBe('argoproj.io/v1alpha1');
    expect(`oci://${app.spec.source.repoURL}`).toBe(CHART_REPOSITORY);
    expect(app.spec.source.chart).toBe('lxcfs-kit');
    expect(app.spec.source.targetRevision).toBe(VERSION);
    expect(app.spec.syncPolicy.syncOptions).toEqual(expect.arrayContaining(['CreateNamespace=true', 'RespectIgnoreDifferences=true']));
    expect(app.spec.syncPolicy.managedNamespaceMetadata.labels).toEqual(podSecurityLabels());
    expect(app.spec.ignoreDifferences).toEqual([
      { group: 'admissionregistration.k8s.io', kind: 'MutatingWebhookConfiguration', jqPathExpressions: ['.webhooks[]?.clientConfig.caBundle'] },
    ]);
    const repo = yamlDocs.find((d) => d['kind'] === 'Secret') as { metadata: { labels: Record<string, string> }; stringData: Record<string, string> };
    expect(repo.metadata.labels['argocd.argoproj.io/secret-type']).toBe('repository');
    expect(repo.stringData).toMatchObject({ type: 'helm', url: app.spec.source.repoURL, enableOCI: 'true' });

    // The field ignored is the one the chart leaves empty for the webhook to fill (self-managed certificates).
    const objects = render(['template', 'lxcfs-kit', LOCAL_CHART, '--namespace', app.spec.destination.namespace]);
    const configurations = objects.filter((o) => o.kind === 'MutatingWebhookConfiguration');
    expect(configurations).toHaveLength(1);
    expect(configurations[0]?.apiVersion.split('/')[0]).toBe(app.spec.ignoreDifferences[0]?.group);
    for (const w of configurations[0]?.webhooks ?? []) expect(w.clientConfig.caBundle ?? '').toBe('');
  });

  test('the Helm quickstart labels the namespace for Pod Security as the generated Namespace is labelled', () => {
    const labels = podSecurityLabels();
    expect(Object.keys(labels)).toEqual(['pod-security.kubernetes.io/enforce']);
    const commands = shellCommands(overview).map((w) => w.join(' '));
    for (const [key, value] of Object.entries(labels)) expect(commands).toContain(`kubectl label namespace lxcfs-kit ${key}=${value}`);
    expect(commands).toContain('kubectl create namespace lxcfs-kit');
  });

  test('the helm install commands render with this checkout\'s chart (Helm 3), into the namespace the docs use', () => {
    const installs = helmCommands('install');
    expect(installs.map((w) => w[3])).toEqual([`${CHART_REPOSITORY}/lxcfs-kit`, LOCAL_CHART]);
    for (const words of installs) {
      const objects = render(asTemplate(words));
      const daemonSets = objects.filter((o) => o.kind === 'DaemonSet');
      expect(daemonSets.map((d) => `${d.metadata.namespace}/${d.metadata.name}`)).toEqual(['lxcfs-kit/lxcfs-kit-agent']);
    }
    // The rollout command of the migration guide names that DaemonSet.
    expect(operations).toContain('kubectl -n lxcfs-kit rollout status daemonset/lxcfs-kit-agent');
  });

  test('the migration\'s helm upgrade sets a value that exists and turns on the legacy namespace label', () => {
    const upgrades = helmCommands('upgrade');
    expect(upgrades).toHaveLength(1);
    const objects = render(asTemplate(upgrades[0]));
    const configuration = objects.find((o) => o.kind === 'MutatingWebhookConfiguration');
    expect(JSON.stringify(configuration?.webhooks?.map((w) => w.namespaceSelector))).toContain(LEGACY_NAMESPACE_LABEL);
    const defaults = render(['template', 'lxcfs-kit', LOCAL_CHART, '--namespace', 'lxcfs-kit']).find((o) => o.kind === 'MutatingWebhookConfiguration');
    expect(JSON.stringify(defaults?.webhooks?.map((w) => w.namespaceSelector))).not.toContain(LEGACY_NAMESPACE_LABEL);
  });

  test('the development section states how the images are tested without a Docker engine', () => {
    expect(development).toMatch(/no Docker engine/);
    expect(development).toContain('test/release/dockerfile.test.ts');
    expect(fs.existsSync(repoPath('test', 'release', 'dockerfile.test.ts'))).toBe(true);
  });
});
