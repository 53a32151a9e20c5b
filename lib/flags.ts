/**
 * A tiny typed flag layer over node:util parseArgs. Each command declares its
 * flags once; the same declaration parses the command line, prints `--help`,
 * and renders the argument list the manifests give the container, so the
 * constructs can never pass a flag the command does not know.
 */
import { parseArgs } from 'util';

interface FlagBase {
  /** What the option does: --help shows it, and so do the chart's values.yaml and values.schema.json (lib/options.ts). */
  readonly help: string;
  /** How to spell it on a command line, shown by --help only. */
  readonly cliNote?: string;
}
export interface StringFlag extends FlagBase {
  readonly kind: 'string';
  readonly default: string;
  readonly choices?: readonly string[];
  /** A value other than the default must match this (JavaScript and RE2 alike, so the chart's schema can carry it). */
  readonly pattern?: ValuePattern;
}
/** A pattern a value must match, and what it means in words (for error messages). */
export interface ValuePattern {
  readonly regex: string;
  /** Matching this makes the value wrong even when `regex` matches (RE2 has no lookahead). */
  readonly forbidden?: string;
  readonly rule: string;
}
export interface IntegerFlag extends FlagBase {
  readonly kind: 'integer';
  readonly default: number;
  readonly min?: number;
  readonly max?: number;
}
export interface BooleanFlag extends FlagBase {
  readonly kind: 'boolean';
  readonly default: boolean;
}
export interface ListFlag extends FlagBase {
  readonly kind: 'list';
  readonly default: readonly string[];
  /** Fewest items a given list may have (an empty one would otherwise mean the default). */
  readonly minItems?: number;
  /** No item may appear twice. */
  readonly unique?: boolean;
  /** Each item must match this; it never holds a comma, which separates items on the command line. */
  readonly item?: ValuePattern;
}
export type FlagSpec = StringFlag | IntegerFlag | BooleanFlag | ListFlag;
export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

type ValueOf<S extends FlagSpec> = S extends StringFlag
  ? string
  : S extends IntegerFlag
    ? number
    : S extends BooleanFlag
      ? boolean
      : readonly string[];

/** The parsed values of a flag set, keyed by flag name (kebab-case, as typed). */
export type FlagValues<S extends FlagSpecs> = { readonly [K in keyof S]: ValueOf<S[K]> };

/** A bad command line: the CLI prints the message and the usage, never a stack trace. */
export class UsageError extends Error {}

export function parseFlags<S extends FlagSpecs>(specs: S, argv: readonly string[]): FlagValues<S> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = { type: spec.kind === 'boolean' ? 'boolean' : 'string', multiple: spec.kind === 'list' };
    if (spec.kind === 'boolean') options[`no-${name}`] = { type: 'boolean' };
  }
  let parsed: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values: parsed } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/\. To specify.*$/s, ''));
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const raw = parsed[name];
    switch (spec.kind) {
      case 'boolean':
        out[name] = parsed[`no-${name}`] === true ? false : raw === true ? true : spec.default;
        break;
      case 'list': {
        if (!Array.isArray(raw)) {
          out[name] = spec.default;
          break;
        }
        const list = raw.flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter(Boolean);
        if (spec.minItems !== undefined && list.length < spec.minItems) throw new UsageError(`--${name} needs at least ${spec.minItems} value${spec.minItems === 1 ? '' : 's'}`);
        for (const [i, item] of list.entries()) {
          if (spec.item && !matches(spec.item, item)) throw new UsageError(`--${name} "${item}" must be ${spec.item.rule}`);
          if (spec.unique && list.indexOf(item) !== i) throw new UsageError(`--${name} "${item}" is given twice`);
        }
        out[name] = list;
        break;
      }
      case 'integer': {
        if (raw === undefined) {
          out[name] = spec.default;
          break;
        }
        const n = Number(raw);
        if (!Number.isInteger(n) || (spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
          throw new UsageError(`--${name} must be a whole number${rangeText(spec)}, got "${String(raw)}"`);
        }
        out[name] = n;
        break;
      }
      case 'string': {
        const v = raw === undefined ? spec.default : String(raw);
        if (spec.choices && !spec.choices.includes(v)) {
          throw new UsageError(`--${name} must be one of ${spec.choices.join(', ')}, got "${v}"`);
        }
        if (spec.pattern && v !== spec.default && !matches(spec.pattern, v)) throw new UsageError(`--${name} must be ${spec.pattern.rule}, got "${v}"`);
        out[name] = v;
        break;
      }
    }
  }
  return out as FlagValues<S>;
}

/** Whether a value satisfies a pattern (both halves of it). */
export function matches(pattern: ValuePattern, value: string): boolean {
  return new RegExp(pattern.regex).test(value) && !(pattern.forbidden !== undefined && new RegExp(pattern.forbidden).test(value));
}

/** The allowed range in words (" from 1 to 30", " of at least 5"), shared by the parser's and the constructs' messages. */
export function rangeText(spec: IntegerFlag): string {
  if (spec.min !== undefined && spec.max !== undefined) return ` from ${spec.min} to ${spec.max}`;
  if (spec.min !== undefined) return ` of at least ${spec.min}`;
  if (spec.max !== undefined) return ` of at most ${spec.max}`;
  return '';
}

/**
 * The argument list for a container: every flag whose value differs from the
 * command's default, in declaration order, so manifests stay short and stable.
 */
export function renderFlags<S extends FlagSpecs>(specs: S, values: Partial<FlagValues<S>>): string[] {
  const args: string[] = [];
  for (const [name, spec] of Object.entries(specs)) {
    const v = (values as Record<string, unknown>)[name];
    if (v === undefined) continue;
    switch (spec.kind) {
      case 'boolean':
        if (v !== spec.default) args.push(v ? `--${name}` : `--no-${name}`);
        break;
      case 'list': {
        const list = v as readonly string[];
        if (list.join(',') !== spec.default.join(',')) for (const item of list) args.push(`--${name}=${item}`);
        break;
      }
      default:
        if (v !== spec.default) args.push(`--${name}=${v as string | number}`);
    }
  }
  return args;
}

export function usageText(command: string, summary: string, specs: FlagSpecs): string {
  const lines = [`Usage: lxcfs-kit ${command} [flags]`, '', summary, '', 'Flags:'];
  for (const [name, spec] of Object.entries(specs)) {
    const def = spec.kind === 'list' ? spec.default.join(',') : String(spec.default);
    const choices = spec.kind === 'string' && spec.choices ? ` (${spec.choices.join('|')})` : '';
    const note = spec.cliNote ? ` (${spec.cliNote})` : '';
    lines.push(`  --${name}${choices}`, `      ${spec.help}${note}${def === '' ? '' : ` [default: ${def}]`}`);
  }
  return lines.join('\n');
}
