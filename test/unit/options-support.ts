/**
 * What the options property tests share: value generators derived from each option's flag
 * spec (inside and just outside what it accepts), the flag values a configuration should give
 * each command, and the command lines of the containers in rendered manifests, read by the
 * commands' real start-up parsers (readAgentCommandLine, readWebhookCommandLine).
 */
import fc from 'fast-check';
import { readAgentCommandLine } from '../../lib/agent/main';
import { JsonObject, LxcfsKitProps } from '../../lib/constructs';
import { DEFAULT_LXCFS_FILES, DEFAULT_LXCFS_PATH } from '../../lib/contract';
import { FlagSpec, matches, ValuePattern } from '../../lib/flags';
import { injectionProblems, LXCFS_FILE_PATTERN } from '../../lib/injection';
import { Command, flagOf, OptionDef, OPTIONS, optionSpec } from '../../lib/options';
import { readWebhookCommandLine } from '../../lib/webhook/main';

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type InjectionMode = 'hostPath' | 'csi' | 'podSecurity';
export const INJECTION_MODES: readonly InjectionMode[] = ['hostPath', 'csi', 'podSecurity'];

const pathSegment = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,9}$/);

/** Strings matching a pattern (both halves). */
function matching(pattern: ValuePattern): fc.Arbitrary<string> {
  return fc.stringMatching(new RegExp(pattern.regex)).filter((v) => matches(pattern, v));
}

/** The lxcfs path: what injectionProblems accepts (both commands run it). */
const lxcfsPath = fc
  .tuple(fc.constantFrom('', '/var/lib', '/run', '/opt', '/srv/nodes'), fc.array(pathSegment, { minLength: 1, maxLength: 3 }))
  .map(([base, parts]) => `${base}/${parts.join('/')}`)
  .filter((p) => injectionProblems(p, DEFAULT_LXCFS_FILES).length === 0);

/** A file set injectionProblems accepts: the pattern's strings and real files, no two sharing a volume name. */
const lxcfsFiles = fc
  .uniqueArray(fc.oneof(fc.constantFrom(...DEFAULT_LXCFS_FILES), matching(LXCFS_FILE_PATTERN)), { minLength: 1, maxLength: 4 })
  .filter((files) => injectionProblems(DEFAULT_LXCFS_PATH, files).length === 0);

function acceptedBySpec(spec: FlagSpec): fc.Arbitrary<Json> {
  switch (spec.kind) {
    case 'integer': {
      const min = spec.min ?? 0;
      return fc.integer({ min, max: spec.max ?? min + 1_000_000 });
    }
    case 'boolean':
      return fc.boolean();
    case 'string':
      if (spec.choices) return fc.constantFrom(...spec.choices);
      if (spec.pattern) return matching(spec.pattern);
      return fc.string();
    case 'list': {
      const item = spec.item ? matching(spec.item) : fc.string();
      const constraints = { minLength: spec.minItems ?? 0, maxLength: 4 };
      return spec.unique ? fc.uniqueArray(item, constraints) : fc.array(item, constraints);
    }
  }
}

/** Values the option accepts: anywhere in its flag's range. */
export function acceptedValue(o: OptionDef): fc.Arbitrary<Json> {
  if (o.prop === 'lxcfsPath') return lxcfsPath;
  if (o.prop === 'files') return lxcfsFiles;
  return acceptedBySpec(optionSpec(o));
}

/** Values just outside what the option accepts (empty when its type leaves no room, as for booleans). */
export function rejectedValues(o: OptionDef): fc.Arbitrary<Json> | undefined {
  if (o.prop === 'lxcfsPath') {
    return fc.constantFrom('/', '/etc', '/var/lib', '/var/lib/kubelet', 'var/lib/lxcfs', '/proc/lxcfs', '/sys/fs/lxcfs', '/var/lib//lxcfs', '/var/lib/./lxcfs', '/var/lib/lxcfs/..');
  }
  const spec = optionSpec(o);
  switch (spec.kind) {
    case 'boolean':
      return undefined;
    case 'integer': {
      const outside: fc.Arbitrary<number>[] = [];
      if (spec.min !== undefined) outside.push(fc.constant(spec.min - 1), fc.integer({ min: spec.min - 1000, max: spec.min - 1 }), fc.constant(spec.min + 0.5));
      if (spec.max !== undefined) outside.push(fc.constant(spec.max + 1), fc.integer({ min: spec.max + 1, max: spec.max + 1000 }));
      return fc.oneof(...outside);
    }
    case 'string':
      if (spec.choices) {
        const choices = spec.choices;
        return fc.constantFrom(...choices.map((c) => c.toUpperCase()), ...choices.map((c) => ` ${c}`), 'none').filter((v) => !choices.includes(v));
      }
      if (spec.pattern) {
        const pattern = spec.pattern;
        return fc
          .tuple(matching(pattern), fc.constantFrom('trailing', 'relative', 'space'))
          .map(([v, how]) => (how === 'trailing' ? `${v}/` : how === 'relative' ? v.slice(1) : `${v} x`))
          .filter((v) => !matches(pattern, v));
      }
      return undefined;
    case 'list': {
      const bad: fc.Arbitrary<Json>[] = [];
      if (spec.minItems) bad.push(fc.constant([]));
      const item = spec.item;
      if (item) {
        const badItems =
          o.prop === 'files'
            ? ['/etc/passwd', '/proc/../etc/passwd', '/proc/meminfo/', `/proc/${'a'.repeat(49)}`, '/proc/mem info', '/proc//meminfo', '/proc/./meminfo']
            : ['l', 'enable-cfs', '-a,b', '-p', '--pidfile=/run/x.pid', '-f', '--foreground', '-n', '--help', '-v', '--version', '- x', '-\u00e9'];
        bad.push(fc.tuple(acceptedBySpec(spec) as fc.Arbitrary<string[]>, fc.constantFrom(...badItems)).map(([good, b]) => [...good, b]));
      }
      if (spec.unique) bad.push((acceptedBySpec(spec) as fc.Arbitrary<string[]>).map((good) => [...good, good[0]]));
      return fc.oneof(...bad);
    }
  }
}

/** The values nearest to an option's range on the wrong side (its bounds' neighbours), tried first by every run. */
export function nearestRejected(o: OptionDef): Json[] {
  if (o.prop === 'lxcfsPath') return ['/var/lib', 'var/lib/lxcfs'];
  if (o.prop === 'files') return [[], ['/proc/meminfo', '/proc/meminfo'], [`/proc/${'a'.repeat(49)}`]];
  const spec = optionSpec(o);
  switch (spec.kind) {
    case 'integer':
      return [...(spec.min !== undefined ? [spec.min - 1] : []), ...(spec.max !== undefined ? [spec.max + 1] : [])];
    case 'string':
      return spec.choices ? [spec.choices[0].toUpperCase()] : [`${spec.default}/`];
    case 'list':
      return [...(spec.minItems ? [[]] : []), ...(spec.item ? [[...spec.default, 'l']] : [])];
    default:
      return [];
  }
}

/** Sets `value` at a dotted path of a nested object (creating the levels). */
export function setPath(target: { [key: string]: Json }, dotted: string, value: Json): void {
  const parts = dotted.split('.');
  let node = target;
  for (const p of parts.slice(0, -1)) {
    if (typeof node[p] !== 'object' || node[p] === null) node[p] = {};
    node = node[p] as { [key: string]: Json };
  }
  node[parts[parts.length - 1]] = value;
}

function getPath(source: unknown, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((node, p) => (node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[p] : undefined), source);
}

/** Construct props with any subset of the options set, anywhere in their accepted ranges, and an injection mode. */
export const acceptedProps: fc.Arbitrary<LxcfsKitProps> = fc
  .tuple(fc.record(Object.fromEntries(OPTIONS.map((o) => [o.prop, acceptedValue(o)])), { requiredKeys: [] }), fc.constantFrom(...INJECTION_MODES))
  .map(([chosen, mode]) => {
    const props: { [key: string]: Json } = { injectionMode: mode };
    for (const [prop, value] of Object.entries(chosen)) setPath(props, prop, value as Json);
    return props;
  });

/**
 * The flag values each command should run with for these props: the prop where set, else the
 * flag's default; the two derived options follow the injection mode as the constructs and the
 * chart render them (kubelet-dir only with the CSI plugin; Pod Security handling only for hostPath).
 */
export function expectedFlags(props: LxcfsKitProps): Record<Command, Record<string, unknown>> {
  const mode = props.injectionMode ?? 'hostPath';
  const out: Record<Command, Record<string, unknown>> = { agent: {}, webhook: {} };
  for (const o of OPTIONS) {
    const spec = optionSpec(o);
    const given = getPath(props, o.prop);
    let value = given ?? spec.default;
    if (o.prop === 'kubeletDir' && mode === 'hostPath') value = spec.default;
    if (o.prop === 'webhook.podSecurityEnforcedNamespaces' && mode !== 'hostPath') value = 'inject';
    for (const ref of o.flags) out[ref.command][flagOf(o, ref.command)] = value;
  }
  return out;
}

export interface CommandLine {
  /** Object kind/name and container name, for failure messages. */
  readonly where: string;
  readonly args: string[];
  readonly env: Record<string, string>;
}

/**
 * The command line of every container in the objects, as the kubelet starts it: env from
 * values and the downward API (for the pod's namespace, name and node), $(VAR) expanded in args.
 */
export function commandLines(objects: readonly JsonObject[]): CommandLine[] {
  const lines: CommandLine[] = [];
  for (const obj of objects) {
    const meta = obj.metadata as { name: string; namespace?: string };
    const podSpec = getPath(obj, 'spec.template.spec') as { containers?: unknown[]; initContainers?: unknown[] } | undefined;
    if (!podSpec) continue;
    for (const c of [...(podSpec.initContainers ?? []), ...(podSpec.containers ?? [])] as Array<{ name: string; command?: string[]; args?: string[]; env?: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }> }>) {
      const downward: Record<string, string> = { 'metadata.namespace': meta.namespace ?? 'default', 'metadata.name': `${meta.name}-pod`, 'spec.nodeName': 'node-1' };
      const env: Record<string, string> = {};
      for (const e of c.env ?? []) {
        const v = e.value ?? (e.valueFrom?.fieldRef ? downward[e.valueFrom.fieldRef.fieldPath] : undefined);
        if (v !== undefined) env[e.name] = v;
      }
      const args = (c.args ?? []).map((a) => a.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole));
      if (c.command !== undefined) throw new Error(`${obj.kind as string}/${meta.name} container ${c.name} overrides the image's command (${c.command.join(' ')}); the options tests only know lxcfs-kit's commands`);
      lines.push({ where: `${obj.kind as string}/${meta.name} container ${c.name}`, args, env });
    }
  }
  return lines;
}

/** Reads a container's command line with the real parser of the command it runs (throws the command's UsageError). */
export function readCommandLine(line: CommandLine): { command: Command; flags: Readonly<Record<string, unknown>> } {
  const [command, ...rest] = line.args;
  if (command === 'agent') return { command, flags: readAgentCommandLine(rest) };
  if (command === 'webhook') return { command, flags: readWebhookCommandLine(rest, line.env).flags };
  throw new Error(`${line.where} runs "${command}", which is no lxcfs-kit command`);
}
