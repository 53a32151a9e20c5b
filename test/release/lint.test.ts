/**
 * The codebase checks itself: `npm run lint` (typescript-eslint's type-aware recommended rules,
 * import/no-cycle and import/no-extraneous-dependencies, see eslint.config.mjs) reports zero
 * findings. It runs here, in the chart project, because type-aware linting of the whole repository
 * takes tens of seconds; `npx jest --selectProjects unit` stays quick.
 */
import { spawn } from 'child_process';
import * as path from 'path';
import { ROOT, packageJson } from './repo';

interface LintMessage {
  readonly ruleId: string | null;
  readonly line: number;
  readonly message: string;
}
interface LintResult {
  readonly filePath: string;
  readonly messages: readonly LintMessage[];
}

// The package's exports map hides bin/eslint.js from require.resolve; its package.json is exported.
const ESLINT_BIN = path.join(path.dirname(require.resolve('eslint/package.json')), 'bin', 'eslint.js');

function runEslint(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ESLINT_BIN, '--format', 'json', '.'], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('npm run lint is eslint over the whole repository', () => {
  expect(packageJson().scripts['lint']).toBe('eslint .');
});

test('eslint reports zero findings over the repository', async () => {
  const { code, stdout, stderr } = await runEslint();
  // Exit 2 is a broken configuration or a crash: its reason is on stderr, not in the report.
  expect({ code: code === 2 ? 2 : 'ran', stderr: code === 2 ? stderr : '' }).toEqual({ code: 'ran', stderr: '' });
  const results = JSON.parse(stdout) as LintResult[];
  const findings = results.flatMap((r) => r.messages.map((m) => `${r.filePath.slice(ROOT.length + 1)}:${m.line} ${m.ruleId ?? 'parse'}: ${m.message}`));
  expect(findings).toEqual([]);
  // The run did cover the code: every TypeScript part of the repository was linted.
  const linted = new Set(results.map((r) => r.filePath.slice(ROOT.length + 1).split('/')[0]));
  for (const part of ['lib', 'test', 'bench', 'main.ts']) expect(linted).toContain(part);
}, 600000);
