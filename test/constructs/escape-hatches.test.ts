/**
 * The escape-hatch example of the docs (the TypeScript block that calls addJsonPatch), as a user
 * would paste it: type-checked with the project's strict settings (`lxcfs-kit` resolving to this
 * checkout), run, and synthesized; the patched fields are in the output.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import * as ts from 'typescript';

const ROOT = path.resolve(__dirname, '..', '..');

/** The fields of a synthesized object this test reads. */
interface Manifest {
  readonly kind?: string;
  readonly spec?: { readonly revisionHistoryLimit?: number; readonly template?: { readonly spec?: { readonly containers?: ReadonlyArray<{ readonly env?: readonly unknown[] }> } } };
}

/** The one ts block calling addJsonPatch, in README.md or a page under docs/. */
function example(): string {
  const files = ['README.md', ...listMarkdown(path.join(ROOT, 'docs')).map((f) => path.relative(ROOT, f))];
  const blocks = files.flatMap((f) => [...fs.readFileSync(path.join(ROOT, f), 'utf8').matchAll(/```(?:ts|typescript)\n([\s\S]*?)```/g)].map((m) => m[1]));
  const found = blocks.filter((b) => b.includes('addJsonPatch') && b.includes("from 'lxcfs-kit'"));
  expect(found).toHaveLength(1);
  return found[0];
}
function listMarkdown(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listMarkdown(path.join(dir, e.name)) : e.name.endsWith('.md') ? [path.join(dir, e.name)] : []));
}

describe('escape-hatch example', () => {
  const workDir = path.join(ROOT, '.work', `escape-hatch-example-${process.pid}`);
  const file = path.join(workDir, 'main.ts');
  beforeAll(() => {
    fs.mkdirSync(path.join(workDir, 'dist'), { recursive: true });
    fs.writeFileSync(file, example());
  });
  afterAll(() => fs.rmSync(workDir, { recursive: true, force: true }));

  test('type-checks under the strict project settings', () => {
    const parsed = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
    const program = ts.createProgram([file], { ...parsed?.options, noEmit: true, baseUrl: ROOT, paths: { 'lxcfs-kit': ['lib/index.ts'] }, types: ['node'] });
    const messages = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === file).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(messages).toEqual([]);
  });

  test('runs, and the synthesized manifests carry the patches', () => {
    const js = ts.transpileModule(example(), { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the example's require(): module names known only once it is compiled
    const load = (id: string): unknown => (id === 'lxcfs-kit' ? require('../../lib') : require(id));
    const previous = process.env['CDK8S_OUTDIR'];
    process.env['CDK8S_OUTDIR'] = path.join(workDir, 'dist');
    try {
      const m = { exports: {} };
      // eslint-disable-next-line @typescript-eslint/no-implied-eval -- runs the docs' own example, compiled just above, as a CommonJS module
      const run = new Function('require', 'module', 'exports', js) as (req: typeof load, mod: typeof m, exp: object) => void;
      run(load, m, m.exports);
    } finally {
      if (previous === undefined) delete process.env['CDK8S_OUTDIR'];
      else process.env['CDK8S_OUTDIR'] = previous;
    }
    const [out] = fs.readdirSync(path.join(workDir, 'dist'));
    const objects = parseAllDocuments(fs.readFileSync(path.join(workDir, 'dist', out), 'utf8')).map((d) => d.toJS() as Manifest);
    const ds = objects.find((o) => o.kind === 'DaemonSet');
    expect(ds?.spec?.template?.spec?.containers?.[0]?.env).toContainEqual({ name: 'HTTPS_PROXY', value: 'http://proxy.internal:3128' });
    expect(objects.find((o) => o.kind === 'Deployment')?.spec?.revisionHistoryLimit).toBe(3);
  });
});
