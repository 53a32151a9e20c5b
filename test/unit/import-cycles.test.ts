/**
 * No module of lib/ imports itself through others. ESLint's import/no-cycle (see
 * eslint.config.mjs) skips `import type`, so this walk counts every import, type-only ones
 * included: a cycle of types still couples the modules (certificates ↔ webhook once did).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

const ROOT = path.resolve(__dirname, '..', '..');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every local module a file imports, type-only and re-exports included. */
function localImports(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
  return importedFiles
    .map((i) => i.fileName)
    .filter((s) => s.startsWith('.'))
    .map((s) => {
      const base = path.resolve(path.dirname(file), s);
      return [`${base}.ts`, path.join(base, 'index.ts')].find((c) => fs.existsSync(c));
    })
    .filter((f): f is string => f !== undefined);
}

/** Each cycle found by a depth-first walk, as the chain of files that closes it. */
function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const dep of graph.get(file) ?? []) {
      if (state.get(dep) === 'open') cycles.push([...stack.slice(stack.indexOf(dep)), dep]);
      else if (!state.has(dep)) visit(dep);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return cycles;
}

test('the walk finds a cycle of type-only imports (a -> b -> a)', () => {
  expect(importCycles(new Map([['a', ['b']], ['b', ['a']], ['c', ['a']]]))).toEqual([['a', 'b', 'a']]);
});

test('lib/ has no import cycles, type-only imports included', () => {
  const files = sourceFiles(path.join(ROOT, 'lib'));
  expect(files.length).toBeGreaterThan(50);
  const graph = new Map(files.map((f) => [f, localImports(f)]));
  const cycles = importCycles(graph).map((c) => c.map((f) => path.relative(ROOT, f)).join(' -> '));
  expect(cycles).toEqual([]);
});
