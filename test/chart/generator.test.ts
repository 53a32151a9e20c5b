/** The generator's merge and condition logic on small, hand-checked inputs. */
import { Json } from '../../lib/constructs';
import { conditionFor, mergeVariants } from '../../lib/generator/merge';
import { TemplateEmitter } from '../../lib/generator/emit';
import { allCombos, Dimension, Placeholders } from '../../lib/generator/template-props';

const dims: Dimension[] = [
  { name: 'a', values: ['x', 'y', 'z'], condition: (v) => `eq .a "${v}"` },
  { name: 'b', values: ['false', 'true'], condition: (v) => (v === 'true' ? '.b' : 'not .b') },
];
const combos = allCombos(dims); // a=x,b=false; a=x,b=true; a=y,...
const all = combos.map((_, i) => i);
const where = (pred: (c: Record<string, string>) => boolean) => all.filter((i) => pred(combos[i]));

test('conditions use only the dimensions that matter', () => {
  expect(conditionFor(where((c) => c.b === 'true'), all, combos, dims)).toBe('.b');
  expect(conditionFor(where((c) => c.a === 'y'), all, combos, dims)).toBe('eq .a "y"');
  expect(conditionFor(where((c) => c.a !== 'x'), all, combos, dims)).toBe('or (eq .a "y") (eq .a "z")');
  expect(conditionFor(where((c) => c.a === 'z' && c.b === 'true'), all, combos, dims)).toBe('and (eq .a "z") (.b)');
  // Relative to a context: inside "a is z", "b" alone decides.
  expect(conditionFor(where((c) => c.a === 'z' && c.b === 'true'), where((c) => c.a === 'z'), combos, dims)).toBe('.b');
});

test('merging keeps shared parts plain and makes only the differences conditional', () => {
  const values: Json[] = combos.map((c) => ({
    kind: 'X',
    items: [{ name: 'always' }, ...(c.b === 'true' ? [{ name: 'sometimes' }] : [])],
    mode: c.a,
  }));
  const ph = new Placeholders();
  const emitter = new TemplateEmitter({ placeholders: ph, condition: (w, ctx) => conditionFor(w, ctx, combos, dims) });
  expect(emitter.object(mergeVariants(all, values), all)).toEqual([
    'items:',
    '  - name: always',
    '  {{- if .b }}',
    '  - name: sometimes',
    '  {{- end }}',
    'kind: X',
    // "y" is quoted: Helm parses YAML 1.1, where a bare y is a boolean.
    'mode: {{ if eq .a "x" }}x{{ else if eq .a "y" }}"y"{{ else }}z{{ end }}',
  ]);
});

test('lists whose orders disagree fall back to whole branches instead of guessing', () => {
  const merged = mergeVariants([0, 1], [['p', 'q'], ['q', 'p']]);
  expect(merged.t).toBe('branch');
});
