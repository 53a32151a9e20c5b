/**
 * The README's cdk8s example, as a user would paste it: extracted from
 * README.md, type-checked with the project's strict compiler settings (with
 * `lxcfs-kit` resolving to this checkout's lib/index.ts, as the published
 * package's types would), then run and synthesized. What it writes must be the
 * install the prose promises.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import * as ts from 'typescript';
import { App, Chart } from 'cdk8s';
import { LxcfsKit } from '../../lib';
import { AGENT_IMAGE, WEBHOOK_IMAGE } from '../../lib/contract';
import { fencedBlocks, docSection, repoPath, ROOT } from './repo';

interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly spec?: {
    readonly replicas?: number;
    readonly template?: { readonly spec?: { readonly containers?: readonly { image?: string; command?: string[]; args?: string[] }[] } };
  };
}

function readmeExample(): string {
  const blocks = fencedBlocks(docSection('overview')).filter((b) => ['ts', 'typescript'].includes(b.lang) && b.body.includes("from 'lxcfs-kit'"));
  expect(blocks).toHaveLength(1);
  return (blocks[0] as { body: string }).body;
}

function compilerOptions(): ts.CompilerOptions {
  const configFile = repoPath('tsconfig.json');
  const parsed = ts.getParsedCommandLineOfConfigFile(configFile, {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (!parsed) throw new Error('tsconfig.json could not be read');
  return {
    ...parsed.options,
    noEmit: true,
    // The published package maps 'lxcfs-kit' to its build; here, to the source.
    baseUrl: ROOT,
    paths: { 'lxcfs-kit': ['lib/index.ts'] },
    types: ['node'],
  };
}

describe('README cdk8s example', () => {
  // Inside the checkout (git-ignored .work/) so 'cdk8s' and 'constructs' resolve as in a user's app.
  const workDir = path.join(ROOT, '.work', `readme-example-${process.pid}`);
  const outDir = path.join(workDir, 'dist');
  const exampleFile = path.join(workDir, 'main.ts');
  let objects: K8sObject[] = [];

  beforeAll(() => {
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(exampleFile, readmeExample());
  });
  afterAll(() => {
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  test('type-checks under the strict project settings', () => {
    const program = ts.createProgram([exampleFile], compilerOptions());
    const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.file === undefined || d.file.fileName === exampleFile);
    const messages = diagnostics.map((d) => {
      const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
      return `${where ? `line ${where.line + 1}: ` : ''}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    expect(messages).toEqual([]);
  });

  test('runs and synthesizes', () => {
    const js = ts.transpileModule(readmeExample(), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      fileName: exampleFile,
    }).outputText;
    // The example's imports: 'lxcfs-kit' is this checkout, everything else as installed.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the example's require(): module names known only once it is compiled
    const load = (id: string): unknown => (id === 'lxcfs-kit' ? require('../../lib') : require(id));
    const previous = process.env['CDK8S_OUTDIR'];
    process.env['CDK8S_OUTDIR'] = outDir;
    try {
      const moduleObject = { exports: {} };
      // eslint-disable-next-line @typescript-eslint/no-implied-eval -- runs the README's own example, compiled just above, as a CommonJS module
      const run = new Function('require', 'module', 'exports', js) as (req: typeof load, mod: typeof moduleObject, exp: object) => void;
      run(load, moduleObject, moduleObject.exports);
    } finally {
      if (previous === undefined) delete process.env['CDK8S_OUTDIR'];
      else process.env['CDK8S_OUTDIR'] = previous;
    }
    const files = fs.readdirSync(outDir).filter((f) => f.endsWith('.yaml'));
    expect(files).toEqual(['platform.k8s.yaml']);
    objects = parseAllDocuments(fs.readFileSync(path.join(outDir, files[0]), 'utf8')).map((d) => d.toJS() as K8sObject);
    expect(objects.length).toBeGreaterThan(5);
  });

  test('what it synthesizes is what the README says: namespace, 3 webhook replicas evicting, both images', () => {
    const ofKind = (kind: string): K8sObject[] => objects.filter((o) => o.kind === kind);
    expect(ofKind('Namespace').map((n) => n.metadata.name)).toEqual(['lxcfs-kit']);
    const namespaced = objects.filter((o) => o.metadata.namespace !== undefined);
    expect(new Set(namespaced.map((o) => o.metadata.namespace))).toEqual(new Set(['lxcfs-kit']));

    const [daemonSet] = ofKind('DaemonSet');
    const agent = daemonSet?.spec?.template?.spec?.containers?.[0];
    expect(agent?.image).toBe(AGENT_IMAGE);
    // The images' ENTRYPOINT runs the CLI; the manifests pass only its arguments.
    expect(agent?.command).toBeUndefined();
    expect(agent?.args?.[0]).toBe('agent');

    const [deployment] = ofKind('Deployment');
    expect(deployment?.spec?.replicas).toBe(3);
    const webhook = deployment?.spec?.template?.spec?.containers?.[0];
    expect(webhook?.image).toBe(WEBHOOK_IMAGE);
    expect(webhook?.command).toBeUndefined();
    expect(webhook?.args?.[0]).toBe('webhook');
    expect(webhook?.args).toContain('--repair-mode=evict');

    expect(ofKind('MutatingWebhookConfiguration')).toHaveLength(1);
  });

  test('a prop that would deadlock the cluster is rejected with a fix, as the README says', () => {
    const chart = new Chart(new App({ outdir: outDir }), 'bad');
    expect(() => new LxcfsKit(chart, 'lxcfs-kit', { webhook: { replicas: 1, failurePolicy: 'Fail' } })).toThrow(/replicas to 2 or more, or failurePolicy to Ignore/);
  });
});
