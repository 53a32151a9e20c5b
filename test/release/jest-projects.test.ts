/**
 * `npm test` runs jest projects (jest.config.js): a test file that no project matches would
 * never run, and one that two match would run twice. Asked of jest itself, per project.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT as REPO } from './repo';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- jest.config.js is CommonJS outside the TypeScript project
const { projects } = require('../../jest.config') as { projects: { displayName: string }[] };

function testFilesOnDisk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'fixtures' ? [] : testFilesOnDisk(p);
    return e.name.endsWith('.test.ts') ? [path.relative(REPO, p)] : [];
  });
}

function listedBy(project: string): string[] {
  const out = execFileSync(process.execPath, [require.resolve('jest/bin/jest'), '--listTests', '--selectProjects', project], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  return out
    .split('\n')
    .filter((l) => l.endsWith('.test.ts'))
    .map((l) => path.relative(REPO, l.trim()));
}

test('every test file on disk belongs to exactly one jest project', () => {
  const owners = new Map<string, string[]>();
  for (const project of projects.map((p) => p.displayName)) {
    for (const file of listedBy(project)) owners.set(file, [...(owners.get(file) ?? []), project]);
  }
  const problems = testFilesOnDisk(path.join(REPO, 'test'))
    .map((f) => ({ file: f, in: owners.get(f) ?? [] }))
    .filter((o) => o.in.length !== 1)
    .map((o) => `${o.file}: ${o.in.length === 0 ? 'in no project (add its folder to a project in jest.config.js)' : `in ${o.in.join(', ')}`}`);
  expect(problems).toEqual([]);
  expect(owners.size).toBeGreaterThan(20);
});
