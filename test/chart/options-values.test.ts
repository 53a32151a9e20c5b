/**
 * One definition per option, through the real Helm binaries: chart values anywhere in the
 * ranges values.schema.json accepts render container args the commands' real start-up parsers
 * accept with the same values; values just outside are refused by the schema (and by the
 * command); and `--help` of both commands says what values.yaml says.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import fc from 'fast-check';
import * as YAML from 'yaml';
import { UsageError } from '../../lib/flags';
import { synthesizeObjects } from '../../lib/generator/chart';
import { ChartValues, defaultValues, helpSentence, mergeValues, propsFromValues } from '../../lib/generator/values';
import { OptionDef, OPTIONS, optionSpec } from '../../lib/options';
import { acceptedValue, commandLines, expectedFlags, INJECTION_MODES, Json, nearestRejected, readCommandLine, rejectedValues, setPath } from '../unit/options-support';
import { CHART, helms, helmTemplate, parseObjects, REPO_ROOT, runHelm, valuesFile } from './helm';

const RELEASE = { name: 'opts', namespace: 'lxcfs-kit' };
const charted = OPTIONS.filter((o): o is OptionDef & { value: string } => o.value !== undefined);
const HELMS = helms();

/** Values setting any subset of the charted options, anywhere in their ranges, and an injection mode. */
const acceptedValues: fc.Arbitrary<{ [key: string]: Json }> = fc
  .tuple(fc.record(Object.fromEntries(charted.map((o) => [o.value, acceptedValue(o)])), { requiredKeys: [] }), fc.constantFrom(...INJECTION_MODES))
  .map(([chosen, mode]) => {
    const values: { [key: string]: Json } = { injection: { mode } };
    for (const [key, value] of Object.entries(chosen)) setPath(values, key, value as Json);
    return values;
  });

describe('chart values reach the commands as they are', () => {
  test('property (40 value sets, Helm 3.17 and 4.1 in turn): every rendered container\'s args pass its command\'s real parser with the values given', () => {
    let run = 0;
    fc.assert(
      fc.property(acceptedValues, (values) => {
        const helm = HELMS[run++ % HELMS.length];
        const objects = parseObjects(helmTemplate(helm, CHART, RELEASE.name, RELEASE.namespace, values));
        const lines = commandLines(objects);
        expect(lines.map((l) => l.args[0]).sort()).toEqual(['agent', 'webhook']);
        const merged = mergeValues(defaultValues(), values) as unknown as ChartValues;
        const expected = expectedFlags(propsFromValues(merged, RELEASE));
        for (const line of lines) {
          const { command, flags } = readCommandLine(line);
          for (const [flag, value] of Object.entries(expected[command])) expect([helm.label, line.where, flag, flags[flag]]).toEqual([helm.label, line.where, flag, value]);
        }
      }),
      { numRuns: 40 },
    );
    expect(run).toBe(40);
  });

  const rejectable = charted.filter((o) => rejectedValues(o) !== undefined);
  const outside = fc.oneof(...rejectable.map((o) => fc.tuple(fc.constant(o), rejectedValues(o) as fc.Arbitrary<Json>)));
  // The bounds' neighbours first (one per option and bound), then random ones.
  const nearest = rejectable.flatMap((o) => nearestRejected(o).map((v): [[OptionDef & { value: string }, Json]] => [[o, v]]));

  test(`property (${nearest.length} bound neighbours + 16 value sets): a value just outside an option's range fails helm template on the schema, naming the value, and the command refuses it too`, () => {
    let run = 0;
    fc.assert(
      fc.property(outside, ([o, bad]) => {
        const helm = HELMS[run++ % HELMS.length];
        const values: { [key: string]: Json } = {};
        setPath(values, o.value, bad);
        const r = runHelm(helm, ['template', RELEASE.name, CHART, '--namespace', RELEASE.namespace, '-f', valuesFile(values)]);
        expect([helm.label, o.value, r.status]).toEqual([helm.label, o.value, 1]);
        expect(r.stderr).toMatch(/schema/i);
        expect(r.stderr).toContain(o.value.slice(o.value.lastIndexOf('.') + 1));
        // The command, given the same value on an otherwise valid command line, refuses it as well.
        const { command, flag } = o.flags[0];
        const valid = command === 'webhook' ? ['webhook', '--cert-mode=self'] : ['agent'];
        const items = Array.isArray(bad) ? (bad.length === 0 ? [''] : bad) : [bad];
        const env = { POD_NAMESPACE: RELEASE.namespace };
        expect(() => readCommandLine({ where: 'cli', args: valid, env })).not.toThrow();
        expect(() => readCommandLine({ where: 'cli', args: [...valid, ...items.map((v) => `--${flag}=${typeof v === 'string' ? v : JSON.stringify(v)}`)], env })).toThrow(UsageError);
      }),
      { numRuns: nearest.length + 16, examples: nearest },
    );
    expect(run).toBe(nearest.length + 16);
  });
});

test('two files with one volume name (which JSON Schema cannot see) fail helm template naming both, as the constructs and the webhook refuse them', () => {
  const files = ['/proc/meminfo', '/proc/a.b', '/proc/A-b'];
  for (const helm of HELMS) {
    const r = runHelm(helm, ['template', RELEASE.name, CHART, '--namespace', RELEASE.namespace, '-f', valuesFile({ lxcfs: { files } })]);
    expect([helm.label, r.status]).toEqual([helm.label, 1]);
    expect(r.stderr).toContain('lxcfs.files: "/proc/a.b" and "/proc/A-b" give the same volume name lxcfs-kit-proc-a-b; keep one of them');
  }
  expect(() => synthesizeObjects({ files })).toThrow(/lxcfs files "\/proc\/a\.b" and "\/proc\/A-b" give the same volume name lxcfs-kit-proc-a-b/);
  expect(() => readCommandLine({ where: 'cli', args: ['webhook', '--cert-mode=self', ...files.map((f) => `--file=${f}`)], env: { POD_NAMESPACE: RELEASE.namespace } })).toThrow(UsageError);
  // Distinct names render.
  expect(() => helmTemplate(HELMS[0], CHART, RELEASE.name, RELEASE.namespace, { lxcfs: { files: ['/proc/meminfo', '/proc/a.b'] } })).not.toThrow();
});

describe('--help of both commands says what values.yaml says', () => {
  const valuesYaml = YAML.parseDocument(fs.readFileSync(path.join(CHART, 'values.yaml'), 'utf8'));

  /** The comment above a key of values.yaml, and the key's value. */
  function documented(dotted: string): { comment: string; value: unknown } {
    const parts = dotted.split('.');
    let map = valuesYaml.contents as YAML.YAMLMap;
    for (const [i, part] of parts.entries()) {
      const pair = map.items.find((p) => YAML.isScalar(p.key) && p.key.value === part) as YAML.Pair<YAML.Scalar, YAML.Node> | undefined;
      if (!pair) throw new Error(`values.yaml has no ${dotted}`);
      // The comment above a map's first key belongs to the map in the YAML library's model.
      const comment = pair.key.commentBefore ?? (map.items[0] === pair ? map.commentBefore : undefined) ?? '';
      if (i === parts.length - 1) return { comment: comment.replace(/\s+/g, ' ').trim(), value: (pair.value as YAML.Node).toJSON() };
      map = pair.value as unknown as YAML.YAMLMap;
    }
    throw new Error('unreachable');
  }

  /** Each flag's help text and shown default, from `lxcfs-kit <command> --help` as a user runs it. */
  function helpOf(command: string): Map<string, { help: string; shownDefault: string | undefined }> {
    const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'lib/cli.ts', command, '--help'], {
      cwd: REPO_ROOT,
      env: { ...process.env, TS_NODE_PROJECT: path.join(REPO_ROOT, 'tsconfig.json') },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(0);
    const flags = new Map<string, { help: string; shownDefault: string | undefined }>();
    const lines = r.stdout.split('\n');
    lines.forEach((line, i) => {
      const m = /^ {2}--([a-z-]+)/.exec(line);
      if (!m) return;
      const text = lines[i + 1].trim();
      const d = / \[default: (.*)\]$/.exec(text);
      flags.set(m[1], { help: d ? text.slice(0, d.index) : text, shownDefault: d?.[1] });
    });
    return flags;
  }

  const shown = { agent: helpOf('agent'), webhook: helpOf('webhook') };

  test.each(charted.flatMap((o) => o.flags.map((ref) => [o.value, ref.command, ref.flag, o] as const)))(
    '%s: `%s --help` shows --%s with the docs and default of values.yaml',
    (value, command, flag, o) => {
      const entry = shown[command].get(flag);
      expect(entry).toBeDefined();
      const spec = optionSpec(o);
      const help = spec.cliNote ? entry!.help.replace(` (${spec.cliNote})`, '') : entry!.help;
      const yaml = documented(value);
      expect([helpSentence(help), ...(o.chartNote ? [o.chartNote] : [])].join(' ')).toBe(yaml.comment);
      expect(entry!.shownDefault).toBe(Array.isArray(yaml.value) ? yaml.value.join(',') : String(yaml.value));
    },
  );
});
