/** Paths and file readers shared by the release tests. */
import * as fs from 'fs';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '..', '..');

export function repoPath(...parts: string[]): string {
  return path.join(ROOT, ...parts);
}

export function readRepoFile(...parts: string[]): string {
  return fs.readFileSync(repoPath(...parts), 'utf8');
}

export interface PackageJson {
  readonly name: string;
  readonly version: string;
  readonly license?: string;
  readonly main?: string;
  readonly types?: string;
  readonly private?: boolean;
  readonly bin?: Readonly<Record<string, string>>;
  readonly scripts: Readonly<Record<string, string>>;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly peerDependencies?: Readonly<Record<string, string>>;
  readonly devDependencies?: Readonly<Record<string, string>>;
  readonly files?: readonly string[];
}

/** The root package.json: the published cdk8s library. */
export function packageJson(): PackageJson {
  return JSON.parse(readRepoFile('package.json')) as PackageJson;
}

/** app/package.json: the binaries' runtime dependencies, installed into the images (never published). */
export function appPackageJson(): PackageJson {
  return JSON.parse(readRepoFile('app', 'package.json')) as PackageJson;
}

/** The Markdown pages a reader navigates: README.md, SECURITY.md and every .md below docs/ (relative paths). */
export function docPages(): string[] {
  const under = (dir: string): string[] =>
    fs.readdirSync(repoPath(dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? under(path.join(dir, e.name)) : e.name.endsWith('.md') ? [path.join(dir, e.name)] : [],
    );
  return ['README.md', 'SECURITY.md', ...under('docs').sort()];
}

/**
 * The text between `<!-- BEGIN name ... -->` and `<!-- END name -->`, looked up in README.md
 * and the docs/ pages (the README is short; its detail lives in docs/). Sections of the same
 * name on several pages are joined.
 */
export function docSection(name: string): string {
  const found: string[] = [];
  for (const page of docPages()) {
    const text = readRepoFile(page);
    const begin = new RegExp(`<!-- BEGIN ${name}\\b[^>]*-->`).exec(text);
    const end = text.indexOf(`<!-- END ${name} -->`);
    if (begin && end >= 0) found.push(text.slice(begin.index + begin[0].length, end));
  }
  if (found.length === 0) throw new Error(`no page of README.md or docs/ has section markers for ${name}`);
  return found.join('\n');
}

/** Older name of docSection, from when every section lived in README.md. */
export const readmeSection = docSection;

export interface FencedBlock {
  readonly lang: string;
  readonly body: string;
}

/** Fenced code blocks (```lang ... ```) of a Markdown text, in order; indented fences (in lists) are dedented. */
export function fencedBlocks(markdown: string): FencedBlock[] {
  const out: FencedBlock[] = [];
  const re = /^([ \t]*)```([A-Za-z0-9_-]*)[^\n]*\n([\s\S]*?)^[ \t]*```[ \t]*$/gm;
  for (let m = re.exec(markdown); m; m = re.exec(markdown)) {
    const indent = (m[1]).length;
    const body = (m[3])
      .split('\n')
      .map((line) => line.slice(Math.min(indent, line.length - line.trimStart().length)))
      .join('\n');
    out.push({ lang: m[2], body });
  }
  return out;
}
