/** Builds the native mount helper with the system compiler, as the image build does. */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const REPO_ROOT = path.resolve(__dirname, '../../..');
export const HELPER_SOURCE = path.join(REPO_ROOT, 'lib/agent/native/lxcfs-kit-remount.c');

export function buildHelper(outDir: string): string {
  const out = path.join(outDir, 'lxcfs-kit-remount');
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', out, HELPER_SOURCE], { stdio: ['ignore', 'inherit', 'inherit'] });
  return out;
}

/**
 * Transpiles lib/ to JavaScript (no type check; `tsc` does that) so agents start
 * in a fraction of a second and the benchmark measures the agent's RSS without
 * the TypeScript compiler loaded. Returns the path of cli.js.
 */
export function transpileLib(outDir: string): string {
  // Loaded lazily: only suites that start agents pay for it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof import('typescript');
  const walk = (dir: string): string[] =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const p = path.join(dir, e.name);
      return e.isDirectory() ? walk(p) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
    });
  for (const file of walk(path.join(REPO_ROOT, 'lib'))) {
    const out = path.join(outDir, path.relative(REPO_ROOT, file)).replace(/\.ts$/, '.js');
    const { outputText } = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, resolveJsonModule: true },
    });
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, outputText);
  }
  fs.copyFileSync(path.join(REPO_ROOT, 'package.json'), path.join(outDir, 'package.json'));
  return path.join(outDir, 'lib/cli.js');
}
