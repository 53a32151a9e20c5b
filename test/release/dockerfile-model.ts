/**
 * A small reader for the parts of Dockerfile and .dockerignore syntax this
 * repository uses, so the release tests can check the image recipe statically
 * (these machines have no Docker engine; CI builds the images for real).
 */

export interface Instruction {
  readonly keyword: string;
  /** Arguments after the keyword, continuation lines joined, flags included. */
  readonly args: string;
  readonly line: number;
}

export interface Stage {
  readonly name: string;
  /** The base as written (after ARG substitution): an image reference or an earlier stage's name. */
  readonly base: string;
  readonly platform?: string;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults ('' when none). */
  readonly globalArgs: Readonly<Record<string, string>>;
  readonly stages: readonly Stage[];
}

/** Splits a Dockerfile into instructions: comments dropped, `\` continuations joined. */
export function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  let pending = '';
  let startLine = 0;
  lines.forEach((raw, index) => {
    const trimmed = raw.trim();
    // Comment lines are removed even in the middle of a continued instruction.
    if (trimmed.startsWith('#')) return;
    if (pending === '' && trimmed === '') return;
    if (pending === '') startLine = index + 1;
    if (trimmed.endsWith('\\')) {
      pending += `${trimmed.slice(0, -1).trim()} `;
      return;
    }
    const full = `${pending}${trimmed}`.trim();
    pending = '';
    if (full === '') return;
    const space = full.search(/\s/);
    const keyword = (space < 0 ? full : full.slice(0, space)).toUpperCase();
    out.push({ keyword, args: space < 0 ? '' : full.slice(space + 1).trim(), line: startLine });
  });
  if (pending.trim() !== '') throw new Error('Dockerfile ends inside a continued instruction');
  return out;
}

/** Replaces `${NAME}` and `$NAME` with the given values; unknown names become ''. */
export function substitute(text: string, values: Readonly<Record<string, string>>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare) as string;
    return values[name] ?? '';
  });
}

/** `ARG NAME=default` / `ARG NAME`, quotes removed from the default. */
export function parseArg(args: string): { name: string; value: string | undefined } {
  const eq = args.indexOf('=');
  if (eq < 0) return { name: args.trim(), value: undefined };
  return { name: args.slice(0, eq).trim(), value: args.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1') };
}

export function parseDockerfile(text: string): Dockerfile {
  const globalArgs: Record<string, string> = {};
  const stages: { name: string; base: string; platform?: string; instructions: Instruction[] }[] = [];
  for (const ins of instructions(text)) {
    if (ins.keyword === 'FROM') {
      const words = ins.args.split(/\s+/);
      const platformFlag = words.find((w) => w.startsWith('--platform='));
      const rest = words.filter((w) => !w.startsWith('--'));
      const base = substitute(rest[0] ?? '', globalArgs);
      const asIndex = rest.findIndex((w) => w.toUpperCase() === 'AS');
      const name = asIndex >= 0 ? (rest[asIndex + 1] ?? '') : String(stages.length);
      stages.push({ name, base, platform: platformFlag?.slice('--platform='.length), instructions: [] });
      continue;
    }
    const current = stages[stages.length - 1];
    if (current === undefined) {
      if (ins.keyword === 'ARG') {
        const { name, value } = parseArg(ins.args);
        globalArgs[name] = value ?? '';
      }
      continue;
    }
    current.instructions.push(ins);
  }
  return { globalArgs, stages };
}

export function stage(file: Dockerfile, name: string): Stage {
  const found = file.stages.find((s) => s.name === name);
  if (!found) throw new Error(`Dockerfile has no stage named ${name}; stages: ${file.stages.map((s) => s.name).join(', ')}`);
  return found;
}

/** The stage and every stage it is built FROM, nearest first. */
export function ancestry(file: Dockerfile, name: string): Stage[] {
  const chain: Stage[] = [];
  let current: Stage | undefined = stage(file, name);
  while (current) {
    chain.push(current);
    const base: string = current.base;
    current = file.stages.find((s) => s.name === base);
  }
  return chain;
}

/** The effective value of a keyword that later stages override (USER, ENTRYPOINT, CMD): nearest wins. */
export function effective(file: Dockerfile, name: string, keyword: string): Instruction | undefined {
  for (const s of ancestry(file, name)) {
    const found = [...s.instructions].reverse().find((i) => i.keyword === keyword);
    if (found) return found;
  }
  return undefined;
}

/** `COPY`/`ADD` arguments split into flags, sources and destination. */
export function copyParts(args: string): { flags: Record<string, string>; sources: string[]; destination: string } {
  const words = args.split(/\s+/).filter((w) => w !== '');
  const flags: Record<string, string> = {};
  const paths: string[] = [];
  for (const w of words) {
    const flag = /^--([a-z-]+)(?:=(.*))?$/.exec(w);
    if (flag && paths.length === 0) flags[flag[1]] = flag[2] ?? 'true';
    else paths.push(w);
  }
  const destination = paths.pop() ?? '';
  return { flags, sources: paths, destination };
}

/** LABEL key="value" pairs of one instruction. */
export function labels(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Za-z0-9_.\-/]+)=("(?:[^"\\]|\\.)*"|\S+)/g;
  for (let m = re.exec(args); m; m = re.exec(args)) {
    out[m[1]] = (m[2]).replace(/^"(.*)"$/, '$1');
  }
  return out;
}

/** Exec-form JSON arrays (`["node", "x"]`) of ENTRYPOINT/CMD. */
export function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string')) {
    throw new Error(`not an exec-form array: ${args}`);
  }
  return parsed;
}

function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
      if (pattern[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Whether `.dockerignore` keeps a path (relative, `/`-separated) in the build
 * context. As in Docker: the last matching pattern wins, `!` re-includes, and a
 * pattern that matches a parent directory matches everything below it.
 */
export function contextIncludes(dockerignore: string, relPath: string): boolean {
  const rules = dockerignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const body = (negate ? l.slice(1) : l).replace(/^\/+/, '').replace(/\/+$/, '');
      return { negate, re: globToRegExp(body) };
    });
  const parts = relPath.replace(/^\/+/, '').replace(/\/+$/, '').split('/');
  const prefixes = parts.map((_p, i) => parts.slice(0, i + 1).join('/'));
  let included = true;
  for (const rule of rules) {
    if (prefixes.some((p) => rule.re.test(p))) included = rule.negate;
  }
  return included;
}
