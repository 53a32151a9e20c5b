/**
 * The options an operator sets that reach a command-line flag of the agent or the webhook.
 *
 * Each option's name, type, default, bounds and docs are declared once, in the flag spec of
 * the command that reads it (lib/agent/flags.ts, lib/webhook/flags.ts). This table only says
 * where else the option appears: its construct prop and its chart value. From it come the
 * constructs' checks (optionProblems), the chart's values.yaml leaves and values.schema.json
 * (lib/generator/values.ts) and the chart's container-args expressions (lib/generator/args.ts);
 * the flag parser and --help read the spec itself. So a prop the constructs accept is a flag
 * the command accepts, and a value the schema accepts renders one.
 *
 * Options that never reach a flag (resources, tolerations, replicas...) are not here.
 */
import { AGENT_FLAGS } from './agent/flags';
import { FlagSpec, matches, rangeText } from './flags';
import { WEBHOOK_FLAGS } from './webhook/flags';

/** The command a flag belongs to, by its first argument. */
export type Command = 'agent' | 'webhook';

export type FlagRef = { readonly command: 'agent'; readonly flag: keyof typeof AGENT_FLAGS } | { readonly command: 'webhook'; readonly flag: keyof typeof WEBHOOK_FLAGS };

export interface OptionDef {
  /** Path of the prop in LxcfsKitProps (`webhook.repairIntervalSeconds`); its last part is the key in the agent's or webhook's construct props. */
  readonly prop: string;
  /** The flags it sets; the first holds the spec (the others share it). */
  readonly flags: readonly [FlagRef, ...FlagRef[]];
  /** Path of its chart value, when the chart has one (else the chart derives the flag from other values). */
  readonly value?: string;
  /** Said in values.yaml only, after the flag's help: what a YAML author must know. */
  readonly chartNote?: string;
  /**
   * How the constructs and the chart set the flag: `direct` passes the value as it is;
   * `derived` combines it with other props (the flag is computed in the construct and in args.ts).
   */
  readonly rendering: 'direct' | 'derived';
  /** Checked by this function instead of the spec alone (it also judges the option with others). */
  readonly checkedBy?: string;
}

export const OPTIONS: readonly OptionDef[] = [
  {
    prop: 'lxcfsPath',
    flags: [{ command: 'agent', flag: 'lxcfs-path' }, { command: 'webhook', flag: 'lxcfs-path' }],
    value: 'lxcfs.path',
    rendering: 'direct',
    checkedBy: 'injectionProblems (lib/injection.ts), which both commands run too',
  },
  {
    prop: 'files',
    flags: [{ command: 'webhook', flag: 'file' }],
    value: 'lxcfs.files',
    rendering: 'direct',
    checkedBy: 'injectionProblems (lib/injection.ts), which the webhook runs too',
  },
  // Rendered with injection modes csi and podSecurity only.
  {
    prop: 'kubeletDir',
    flags: [{ command: 'agent', flag: 'kubelet-dir' }],
    value: 'injection.kubeletDir',
    chartNote: 'Used with injection modes csi and podSecurity.',
    rendering: 'derived',
  },
  { prop: 'agent.lxcfsArgs', flags: [{ command: 'agent', flag: 'lxcfs-arg' }], value: 'agent.lxcfsArgs', rendering: 'direct' },
  { prop: 'agent.reconcileIntervalSeconds', flags: [{ command: 'agent', flag: 'reconcile-interval' }], value: 'agent.reconcileIntervalSeconds', rendering: 'direct' },
  {
    prop: 'webhook.repairMode',
    flags: [{ command: 'webhook', flag: 'repair-mode' }],
    value: 'webhook.repairMode',
    chartNote: 'A bare off, which YAML 1.1 reads as false, means off too.',
    rendering: 'direct',
  },
  { prop: 'webhook.repairIntervalSeconds', flags: [{ command: 'webhook', flag: 'repair-interval' }], value: 'webhook.repairIntervalSeconds', rendering: 'direct' },
  { prop: 'webhook.evictionsPerMinute', flags: [{ command: 'webhook', flag: 'evictions-per-minute' }], value: 'webhook.evictionsPerMinute', rendering: 'direct' },
  { prop: 'webhook.legacyNamespaceLabel', flags: [{ command: 'webhook', flag: 'legacy-namespace-label' }], value: 'webhook.legacyNamespaceLabel', rendering: 'direct' },
  // Not a chart value: the chart derives it from injection.mode.
  { prop: 'webhook.podSecurityEnforcedNamespaces', flags: [{ command: 'webhook', flag: 'pod-security-enforced-namespaces' }], rendering: 'derived' },
];

/** The flag spec of a flag reference. */
export function flagSpec(ref: FlagRef): FlagSpec {
  return ref.command === 'agent' ? AGENT_FLAGS[ref.flag] : WEBHOOK_FLAGS[ref.flag];
}

/** The one spec of an option: type, default, bounds and docs. */
export function optionSpec(option: OptionDef): FlagSpec {
  return flagSpec(option.flags[0]);
}

/** The option with this prop path or chart value path; throws for an unknown one (a typo in the generator). */
export function option(by: { prop: string } | { value: string }): OptionDef {
  const found = OPTIONS.find((o) => ('prop' in by ? o.prop === by.prop : o.value === by.value));
  if (!found) throw new Error(`no option ${JSON.stringify(by)} in lib/options.ts`);
  return found;
}

/** The key of an option in the agent's or webhook's own construct props. */
export function propKey(option: OptionDef): string {
  return option.prop.slice(option.prop.lastIndexOf('.') + 1);
}

/** The options a command reads. */
export function optionsOf(command: Command): OptionDef[] {
  return OPTIONS.filter((o) => o.flags.some((f) => f.command === command));
}

/** The flag name an option sets on a command. */
export function flagOf(option: OptionDef, command: Command): string {
  const ref = option.flags.find((f) => f.command === command);
  if (!ref) throw new Error(`option ${option.prop} sets no flag of the ${command}`);
  return ref.flag;
}

/**
 * Problems with one value of an option, as the command's flag parser would find them, each
 * saying what to set instead. `label` names the value (a prop path or a chart value path).
 */
export function valueProblems(option: OptionDef, value: unknown, label: string): string[] {
  const spec = optionSpec(option);
  const ref = option.flags[0];
  const refuses = `the ${ref.command}'s --${ref.flag} refuses anything else, so the ${ref.command} would exit at start`;
  switch (spec.kind) {
    case 'integer': {
      const ok = typeof value === 'number' && Number.isInteger(value) && (spec.min === undefined || value >= spec.min) && (spec.max === undefined || value <= spec.max);
      return ok ? [] : [`${label} must be a whole number${rangeText(spec)}, got ${JSON.stringify(value)}: ${refuses}`];
    }
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${label} must be true or false, got ${JSON.stringify(value)}`];
    case 'string': {
      if (typeof value !== 'string') return [`${label} must be a string, got ${JSON.stringify(value)}`];
      if (spec.choices && !spec.choices.includes(value)) return [`${label} must be one of ${spec.choices.join(', ')}, got "${value}": ${refuses}`];
      if (spec.pattern && value !== spec.default && !matches(spec.pattern, value)) return [`${label} "${value}" must be ${spec.pattern.rule}`];
      return [];
    }
    case 'list': {
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) return [`${label} must be a list of strings, got ${JSON.stringify(value)}`];
      const items = value as string[];
      const problems: string[] = [];
      if (spec.minItems !== undefined && items.length < spec.minItems) {
        problems.push(`${label} is empty, which the ${ref.command} would read as its default (${spec.default.join(' ')}); list at least ${spec.minItems === 1 ? 'one item' : `${spec.minItems} items`}, such as ${spec.default[0]}`);
      }
      items.forEach((item, i) => {
        if (spec.item && !matches(spec.item, item)) problems.push(`${label} item "${item}" must be ${spec.item.rule}`);
        if (spec.unique && items.indexOf(item) !== i) problems.push(`${label} item "${item}" is listed twice; list it once`);
      });
      return problems;
    }
  }
}

/**
 * The flag values of a command's `direct` options, from the agent's or webhook's construct
 * props: the prop where given, else the flag's default (what the command would use).
 */
export function directFlagValues(command: Command, props: object): Record<string, unknown> {
  const values = props as Readonly<Record<string, unknown>>;
  return Object.fromEntries(
    optionsOf(command)
      .filter((o) => o.rendering === 'direct')
      .map((o) => [flagOf(o, command), values[propKey(o)] ?? optionSpec(o).default]),
  );
}
