/**
 * One definition per option (lib/options.ts): what the constructs accept is exactly what the
 * commands they deploy accept. Property tests synthesize LxcfsKit from generated props and run
 * every rendered container's args through the real start-up parser of the command it runs.
 */
import * as fs from 'fs';
import * as path from 'path';
import { App, Chart } from 'cdk8s';
import fc from 'fast-check';
import * as ts from 'typescript';
import { JsonObject, LxcfsKit, LxcfsKitConfigError, LxcfsKitProps } from '../../lib/constructs';
import { renderFlags, UsageError } from '../../lib/flags';
import { flagSpec, OptionDef, OPTIONS, optionSpec, propKey } from '../../lib/options';
import { helpSentence } from '../../lib/generator/values';
import { acceptedProps, acceptedValue, commandLines, expectedFlags, INJECTION_MODES, InjectionMode, Json, nearestRejected, readCommandLine, rejectedValues, setPath } from './options-support';

const REPO = path.resolve(__dirname, '..', '..');

function synth(props: LxcfsKitProps): JsonObject[] {
  const chart = new Chart(new App(), 'test');
  new LxcfsKit(chart, 'kit', props);
  return chart.toJson() as JsonObject[];
}

describe('every option that reaches a flag is declared once', () => {
  test('every referenced flag exists, and an option naming two flags names one shared spec', () => {
    for (const o of OPTIONS) {
      for (const ref of o.flags) expect(flagSpec(ref)).toBeDefined();
      for (const ref of o.flags.slice(1)) expect(flagSpec(ref)).toBe(optionSpec(o));
    }
    expect(new Set(OPTIONS.map((o) => o.prop)).size).toBe(OPTIONS.length);
  });

  test('property: props anywhere in their accepted ranges synthesize, and every container\'s args pass its command\'s real parser with the props\' values', () => {
    let runs = 0;
    fc.assert(
      fc.property(acceptedProps, (props) => {
        const lines = commandLines(synth(props));
        expect(lines.map((l) => l.args[0]).sort()).toEqual(['agent', 'webhook']);
        const expected = expectedFlags(props);
        for (const line of lines) {
          const { command, flags } = readCommandLine(line);
          for (const [flag, value] of Object.entries(expected[command])) expect([line.where, flag, flags[flag]]).toEqual([line.where, flag, value]);
        }
        runs++;
      }),
      { numRuns: 300 },
    );
    expect(runs).toBe(300);
  });

  const rejectable = OPTIONS.filter((o) => rejectedValues(o) !== undefined);
  const outside = fc.oneof(
    ...rejectable.map((o) => fc.tuple(fc.constant(o), rejectedValues(o) as fc.Arbitrary<Json>, acceptedProps, fc.constantFrom(...INJECTION_MODES))),
  );

  test('property: a value just outside an option\'s range is refused at synth time with the rule to follow, and the command refuses it too', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(outside, ([o, bad, base, mode]) => {
        const props = JSON.parse(JSON.stringify({ ...base, injectionMode: mode })) as { [key: string]: Json };
        setPath(props, o.prop, bad);
        let error: unknown;
        try {
          synth(props);
        } catch (err) {
          error = err;
        }
        expect(error).toBeInstanceOf(LxcfsKitConfigError);
        expect((error as Error).message).toMatch(fixFor(o, bad));
        expectCommandRefuses(o, bad);
        seen.add(o.prop);
      }),
      { numRuns: 200, examples: rejectable.flatMap((o) => nearestRejected(o).map((v): [[OptionDef, Json, LxcfsKitProps, InjectionMode]] => [[o, v, {}, 'hostPath']])) },
    );
    expect([...seen].sort()).toEqual(rejectable.map((o) => o.prop).sort());
  });

  test('the drift of issue 14 (repair every 2 s, no evictions) is refused at synth time, naming both fixes', () => {
    const chart = new Chart(new App(), 'test');
    expect(() => new LxcfsKit(chart, 'k', { webhook: { repairIntervalSeconds: 2, evictionsPerMinute: 0 } })).toThrow(LxcfsKitConfigError);
    expect(() => synth({ webhook: { repairIntervalSeconds: 2, evictionsPerMinute: 0 } })).toThrow(
      /webhook\.repairIntervalSeconds must be a whole number of at least 5, got 2[^\n]*--repair-interval[\s\S]*webhook\.evictionsPerMinute must be a whole number of at least 1, got 0[^\n]*--evictions-per-minute/,
    );
    // The same values on the command line: what the deployed webhook would have said at start.
    expect(() => readCommandLine({ where: 'cli', args: ['webhook', '--cert-mode=self', '--repair-interval=2'], env: { POD_NAMESPACE: 'x' } })).toThrow(UsageError);
    expect(() => readCommandLine({ where: 'cli', args: ['webhook', '--cert-mode=self', '--evictions-per-minute=0'], env: { POD_NAMESPACE: 'x' } })).toThrow(UsageError);
  });
});

/** What the synth-time message must say: the value's name and the rule (range, choices or pattern) to follow. */
function fixFor(o: OptionDef, bad: Json): RegExp {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  if (o.prop === 'lxcfsPath') return /lxcfs path "[^"]*" (must be an absolute host path such as \/var\/lib\/lxcfs|must be written without|is a system directory[^;]*; choose a directory of its own)/;
  if (o.prop === 'files') return /lxcfs file "[^"]*" (must be an absolute file path under \/proc or \/sys|is listed twice)|lxcfs file set is empty[^\n]*name at least one file/;
  const spec = optionSpec(o);
  const label = esc(o.prop);
  switch (spec.kind) {
    case 'integer':
      return new RegExp(`${label} must be a whole number (of at least ${spec.min}|of at most ${spec.max}|from ${spec.min} to ${spec.max}), got ${esc(typeof bad === 'string' ? bad : JSON.stringify(bad))}`);
    case 'string':
      return spec.choices ? new RegExp(`${label} must be one of ${esc(spec.choices.join(', '))}`) : new RegExp(`${label} "[^"]*" must be ${esc(spec.pattern?.rule ?? '')}`);
    case 'list':
      return new RegExp(`${label} (is empty[^\\n]*list at least|item "[^"]*" must be ${esc(spec.item?.rule ?? '')}|item "[^"]*" is listed twice)`);
    default:
      throw new Error(`no rejected values for ${o.prop}`);
  }
}

/** The command's own parser refuses the value as the constructs would have rendered it, on an otherwise valid command line. */
function expectCommandRefuses(o: OptionDef, bad: Json): void {
  const { command, flag } = o.flags[0];
  const valid = command === 'webhook' ? ['webhook', '--cert-mode=self'] : ['agent'];
  const env = { POD_NAMESPACE: 'lxcfs-kit' };
  expect(() => readCommandLine({ where: 'cli', args: valid, env })).not.toThrow();
  const spec = optionSpec(o);
  // An empty list renders no flag at all (the command would take its default): the explicit empty value is what it refuses.
  const rendered = Array.isArray(bad) && bad.length === 0 ? [`--${flag}=`] : renderFlags({ [flag]: spec }, { [flag]: bad as string | number | string[] });
  expect(() => readCommandLine({ where: 'cli', args: [...valid, ...rendered], env })).toThrow(UsageError);
}

describe('the constructs\' TSDoc says what the flag spec says', () => {
  const files = ['props.ts', 'kit.ts', 'agent.ts', 'webhook.ts'].map((f) => path.join(REPO, 'lib', 'constructs', f));
  const docs = new Map<string, Array<{ where: string; text: string; defaultText: string | undefined }>>();
  for (const file of files) {
    const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isPropertySignature(node) && ts.isIdentifier(node.name) && ts.isInterfaceDeclaration(node.parent)) {
        const jsDoc = ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc);
        const text = jsDoc.map((d) => ts.getTextOfJSDocComment(d.comment) ?? '').join(' ').replace(/\s+/g, ' ').trim();
        const tag = ts.getJSDocTags(node).find((t) => t.tagName.text === 'default');
        const entry = { where: `${path.basename(file)} ${node.parent.name.text}.${node.name.text}`, text, defaultText: tag ? ts.getTextOfJSDocComment(tag.comment) : undefined };
        docs.set(node.name.text, [...(docs.get(node.name.text) ?? []), entry]);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }

  test.each(OPTIONS.map((o) => [o.prop, o] as const))('%s: every prop declaring it documents the flag\'s default as @default', (_prop, o) => {
    const found = docs.get(propKey(o)) ?? [];
    expect(found.length).toBeGreaterThan(0);
    for (const d of found) expect([d.where, literal(d.defaultText ?? '')]).toEqual([d.where, optionSpec(o).default]);
  });

  test.each(OPTIONS.filter((o) => o.rendering === 'direct').map((o) => [o.prop, o] as const))('%s: the TSDoc starts with the flag\'s help', (_prop, o) => {
    for (const d of docs.get(propKey(o)) ?? []) expect([d.where, d.text.startsWith(helpSentence(optionSpec(o).help).replace(/\.$/, ''))]).toEqual([d.where, true]);
  });
});

/** The value of a literal written in a @default tag: a string, number, boolean or array of them. */
function literal(text: string): unknown {
  const source = ts.createSourceFile('default.ts', `(${text});`, ts.ScriptTarget.Latest, true);
  const statement = source.statements[0];
  if (source.statements.length !== 1 || !ts.isExpressionStatement(statement)) throw new Error(`@default ${text} is not one literal`);
  const value = (node: ts.Expression): unknown => {
    if (ts.isParenthesizedExpression(node)) return value(node.expression);
    if (ts.isStringLiteral(node)) return node.text;
    if (ts.isNumericLiteral(node)) return Number(node.text);
    if (node.kind === ts.SyntaxKind.TrueKeyword) return true;
    if (node.kind === ts.SyntaxKind.FalseKeyword) return false;
    if (ts.isArrayLiteralExpression(node)) return node.elements.map(value);
    throw new Error(`@default ${text} is not a literal; write the default itself (a string, number, boolean or array)`);
  };
  return value(statement.expression);
}

test('the accepted-value generators stay inside what the constructs accept (sanity of the generators themselves)', () => {
  for (const o of OPTIONS) {
    for (const v of fc.sample(acceptedValue(o), 20)) {
      const props = {} as { [key: string]: Json };
      setPath(props, o.prop, v);
      expect(() => synth(props as unknown as LxcfsKitProps)).not.toThrow();
    }
  }
});
