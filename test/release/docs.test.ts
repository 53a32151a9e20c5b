/**
 * The pages a reader navigates (README.md, SECURITY.md, docs/) hold together: every
 * relative link reaches a file, every anchor a heading of its page, every repository
 * path a page names in code exists, and the failure-modes table names, for each row,
 * what you do, the module that handles it and the test that proves it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { docPages, docSection, readRepoFile, repoPath } from './repo';

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) inFence = !inFence;
    if (inFence) continue;
    const m = /^#{1,6}\s+(.*)$/.exec(line);
    if (!m) continue;
    const base = (m[1])
      .trim()
      .toLowerCase()
      .replace(/`/g, '')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Markdown link targets outside code: `[text](target)`. */
function linkTargets(markdown: string): string[] {
  const prose = markdown.replace(/^\s*```[\s\S]*?^\s*```/gm, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]);
}

/** Repository paths a page names in code spans, e.g. `lib/agent/heal.ts` (globs and placeholders skipped). */
function repoPathsIn(markdown: string): string[] {
  return [...markdown.matchAll(/`((?:lib|test|docs|bench|charts|dist|app|\.github|\.ci)\/[A-Za-z0-9_./-]+)`/g)]
    .map((m) => m[1])
    .filter((p) => !/[*<>{}]/.test(p));
}

const pages = docPages();

describe('docs pages (README.md, SECURITY.md, docs/)', () => {
  test('the README is short and points at the docs pages', () => {
    const readme = readRepoFile('README.md');
    expect(readme.split('\n').length).toBeLessThan(250);
    for (const page of ['docs/failure-modes.md', 'docs/operations.md', 'docs/constructs.md', 'docs/values.md', 'SECURITY.md']) {
      expect(readme).toContain(`](${page})`);
    }
  });

  test('every relative link reaches a file, and every anchor a heading of its target page', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const page of pages) {
      for (const target of linkTargets(readRepoFile(page))) {
        if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
        const [file, anchor] = target.split('#') as [string, string | undefined];
        const resolved = file === '' ? page : path.normalize(path.join(path.dirname(page), file));
        checked++;
        if (!fs.existsSync(repoPath(resolved))) {
          broken.push(`${page}: ${target} (no ${resolved})`);
          continue;
        }
        if (anchor !== undefined && !anchorsOf(readRepoFile(resolved)).has(anchor)) broken.push(`${page}: ${target} (no heading #${anchor} in ${resolved})`);
      }
    }
    expect(checked).toBeGreaterThan(30);
    expect(broken).toEqual([]);
  });

  test('the anchor rule matches GitHub on the headings this project uses', () => {
    const anchors = anchorsOf('# The webhook (`lxcfs-kit webhook`)\n## Failure modes, by the error you see\n## Notes\n## Notes\n```sh\n# not a heading\n```\n');
    expect([...anchors]).toEqual(['the-webhook-lxcfs-kit-webhook', 'failure-modes-by-the-error-you-see', 'notes', 'notes-1']);
  });

  test('every repository path named in code on a page exists', () => {
    // docs/examples/ pages name paths inside the example app (its own dist/), not the repository's.
    const missing = pages.filter((p) => !p.startsWith(path.join('docs', 'examples'))).flatMap((page) => repoPathsIn(readRepoFile(page)).filter((p) => !fs.existsSync(repoPath(p))).map((p) => `${page}: ${p}`));
    expect(missing).toEqual([]);
  });

  describe('failure modes table', () => {
    const table = docSection('failure-modes')
      .split('\n')
      .filter((l) => l.startsWith('|'));
    const header = (table[0] ?? '').split('|').map((c) => c.trim());
    const rows = table.slice(2).map((l) => l.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim()));
    const column = (name: string): number => header.indexOf(name) - 1;

    test('has a "what you do", a "handled in" and a "proven by" column, filled in every row', () => {
      for (const name of ['what you see', 'what lxcfs-kit does', 'what you do', 'handled in', 'proven by']) expect(column(name)).toBeGreaterThanOrEqual(0);
      expect(rows.length).toBeGreaterThanOrEqual(10);
      for (const row of rows) {
        expect(row).toHaveLength(header.length - 2);
        for (const name of ['what you do', 'handled in', 'proven by']) expect({ row: row[0], name, filled: (row[column(name)] ?? '') !== '' }).toEqual({ row: row[0], name, filled: true });
      }
    });

    test('has rows for "the webhook is not ready" and "healing gave up on a mount"', () => {
      const firsts = rows.map((r) => r[0] ?? '');
      expect(firsts.some((c) => c.startsWith('the webhook is not ready'))).toBe(true);
      expect(firsts.some((c) => c.startsWith('healing gave up on a mount'))).toBe(true);
    });

    test('each row names a module under lib/ and a test file that exist ("same" repeats the row above)', () => {
      let previous: { modules: string[]; tests: string[] } = { modules: [], tests: [] };
      for (const row of rows) {
        const handled = row[column('handled in')] ?? '';
        const proven = row[column('proven by')] ?? '';
        const modules = handled.startsWith('same') ? previous.modules : repoPathsIn(handled);
        const tests = proven.startsWith('same') ? previous.tests : repoPathsIn(proven);
        expect({ row: row[0], modules: modules.filter((m) => m.startsWith('lib/')).length > 0 }).toEqual({ row: row[0], modules: true });
        expect({ row: row[0], tests: tests.filter((t) => /^test\/.*\.test\.ts$/.test(t)).length > 0 }).toEqual({ row: row[0], tests: true });
        for (const p of [...modules, ...tests]) expect({ row: row[0], p, exists: fs.existsSync(repoPath(p)) }).toEqual({ row: row[0], p, exists: true });
        previous = { modules, tests };
      }
    });
  });
});
