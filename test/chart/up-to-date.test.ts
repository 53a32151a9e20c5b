/**
 * The committed charts/, dist/ and docs/values.md are exactly what `npm run synth` produces now:
 * synthesize into a temporary folder (through main.ts, as npm run synth does) and
 * compare every file byte for byte, in both directions.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { REPO_ROOT } from './helm';

function filesUnder(root: string, dir: string): string[] {
  const abs = path.join(root, dir);
  if (!fs.existsSync(abs)) return [];
  return fs.readdirSync(abs, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .sort();
}

test('npm run synth reproduces the committed charts/ and dist/ exactly', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-synth-'));
  execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(REPO_ROOT, 'main.ts'), tmp], { cwd: REPO_ROOT, stdio: 'pipe' });
  for (const dir of ['charts', 'dist']) {
    const fresh = filesUnder(tmp, dir);
    expect(fresh.length).toBeGreaterThan(0);
    expect(filesUnder(REPO_ROOT, dir)).toEqual(fresh);
    for (const file of fresh) {
      const committed = fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');
      const regenerated = fs.readFileSync(path.join(tmp, file), 'utf8');
      if (committed !== regenerated) throw new Error(`${file} is out of date: run npm run synth and commit the result`);
    }
  }
  // The props and values reference, generated beside the chart from the same sources.
  const reference = path.join('docs', 'values.md');
  expect(fs.existsSync(path.join(tmp, reference))).toBe(true);
  if (fs.readFileSync(path.join(REPO_ROOT, reference), 'utf8') !== fs.readFileSync(path.join(tmp, reference), 'utf8')) {
    throw new Error(`${reference} is out of date: run npm run synth and commit the result`);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('synthesizing twice gives byte-identical output (deterministic)', () => {
  const runs = [0, 1].map(() => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-synth-'));
    execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(REPO_ROOT, 'main.ts'), tmp], { cwd: REPO_ROOT, stdio: 'pipe' });
    const all = [...filesUnder(tmp, 'charts'), ...filesUnder(tmp, 'dist')].map((f) => `${f}\n${fs.readFileSync(path.join(tmp, f), 'utf8')}`);
    fs.rmSync(tmp, { recursive: true, force: true });
    return all.join('\n');
  });
  expect(runs[0]).toBe(runs[1]);
});

test('dist/ holds no key material', () => {
  const text = fs.readFileSync(path.join(REPO_ROOT, 'dist', 'lxcfs-kit.k8s.yaml'), 'utf8');
  expect(text).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE|LS0tLS1CRUdJT|caBundle|kind: Secret/);
});
