/**
 * Merges one object's synthesized variants (one per dimension combination) into a
 * single tree: what is the same everywhere stays plain, a map key or list item
 * that exists only in some combinations becomes conditional, and values that
 * differ become if/else branches. Conditions are found per node, so the chart
 * says `{{- if eq .Values.certificates.source "self" }}` rather than listing combinations.
 */
import { Json, JsonObject } from '../constructs';
import { Combo, Dimension } from './template-props';

/** A set of combination indexes. */
export type ComboSet = readonly number[];

export type MergedNode =
  | { readonly t: 'lit'; readonly value: Json }
  | { readonly t: 'map'; readonly entries: ReadonlyArray<{ readonly key: string; readonly when?: ComboSet; readonly ctx: ComboSet; readonly node: MergedNode }> }
  | { readonly t: 'list'; readonly items: ReadonlyArray<{ readonly when?: ComboSet; readonly ctx: ComboSet; readonly node: MergedNode }> }
  | { readonly t: 'branch'; readonly arms: ReadonlyArray<{ readonly when: ComboSet; readonly node: MergedNode }> };

const isMap = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const same = (a: Json | undefined, b: Json | undefined) => JSON.stringify(a) === JSON.stringify(b);

/** values[i] is the value in combination ctx[i]. */
export function mergeVariants(ctx: ComboSet, values: readonly Json[]): MergedNode {
  if (values.every((v) => same(v, values[0]))) return { t: 'lit', value: values[0] };
  if (values.every(isMap)) return mergeMaps(ctx, values);
  if (values.every(Array.isArray)) {
    const merged = mergeLists(ctx, values as Json[][]);
    if (merged) return merged;
  }
  return branch(ctx, values);
}

function branch(ctx: ComboSet, values: readonly Json[]): MergedNode {
  const arms: Array<{ when: number[]; value: Json }> = [];
  values.forEach((v, i) => {
    const arm = arms.find((a) => same(a.value, v));
    if (arm) arm.when.push(ctx[i]);
    else arms.push({ when: [ctx[i]], value: v });
  });
  return { t: 'branch', arms: arms.map((a) => ({ when: a.when, node: { t: 'lit', value: a.value } })) };
}

function mergeMaps(ctx: ComboSet, maps: readonly JsonObject[]): MergedNode {
  const keys: string[] = [];
  for (const m of maps) for (const k of Object.keys(m)) if (!keys.includes(k)) keys.push(k);
  keys.sort();
  return {
    t: 'map',
    entries: keys.map((key) => {
      const present = ctx.filter((_, i) => key in maps[i]);
      const values = maps.filter((m) => key in m).map((m) => m[key]);
      return { key, ...(present.length === ctx.length ? {} : { when: present }), ctx: present, node: mergeVariants(present, values) };
    }),
  };
}

/** The identity of a list item across combinations: its `name` (or a selector expression's `key`), or the item itself when it is a scalar. */
function identity(item: Json): string | undefined {
  if (isMap(item)) {
    if (typeof item.name === 'string') return `name:${item.name}`;
    return typeof item.key === 'string' && typeof item.operator === 'string' ? `key:${item.key}` : undefined;
  }
  if (Array.isArray(item)) return undefined;
  return `value:${JSON.stringify(item)}`;
}

function mergeLists(ctx: ComboSet, lists: readonly Json[][]): MergedNode | undefined {
  const sameLength = lists.every((l) => l.length === lists[0].length);
  const ids = lists.map((l) => l.map(identity));
  const identified = ids.every((l) => l.every((id) => id !== undefined) && new Set(l).size === l.length);
  if (!identified) {
    if (!sameLength) return undefined;
    return { t: 'list', items: lists[0].map((_, j) => ({ ctx, node: mergeVariants(ctx, lists.map((l) => l[j])) })) };
  }
  // Union of the items, keeping every list's order; give up when two lists disagree on it.
  const order: string[] = [];
  for (const l of ids) {
    let at = 0;
    for (const id of l as string[]) {
      const found = order.indexOf(id);
      if (found === -1) order.splice(at, 0, id);
      at = (found === -1 ? at : found) + 1;
    }
  }
  for (const l of ids) {
    const projected = order.filter((id) => (l as string[]).includes(id));
    if (projected.join('\n') !== (l as string[]).join('\n')) return undefined;
  }
  return {
    t: 'list',
    items: order.map((id) => {
      const holders = lists.map((_, i) => i).filter((i) => ids[i].includes(id));
      const present = holders.map((i) => ctx[i]);
      const values = holders.map((i) => lists[i][ids[i].indexOf(id)]);
      return { ...(present.length === ctx.length ? {} : { when: present }), ctx: present, node: mergeVariants(present, values) };
    }),
  };
}

/**
 * The Go-template condition that holds for the combinations in `when` and for no other
 * combination of `ctx`, using as few dimensions as possible.
 */
export function conditionFor(when: ComboSet, ctx: ComboSet, combos: readonly Combo[], dimensions: readonly Dimension[]): string {
  const inside = new Set(when);
  const outside = ctx.filter((c) => !inside.has(c));
  const subsets = dimensionSubsets(dimensions.length);
  for (const subset of subsets) {
    const dims = subset.map((i) => dimensions[i]);
    const key = (c: number) => dims.map((d) => combos[c][d.name]).join('|');
    const inKeys = new Set(when.map(key));
    if (outside.some((c) => inKeys.has(key(c)))) continue;
    return expression(dims, when.map((c) => combos[c]), ctx.map((c) => combos[c]));
  }
  throw new Error('no condition separates these combinations (a dimension is missing)');
}

/** Subsets of dimension indexes, smallest first. */
function dimensionSubsets(n: number): number[][] {
  const all: number[][] = [];
  for (let mask = 1; mask < 1 << n; mask++) {
    all.push([...Array(n).keys()].filter((i) => mask & (1 << i)));
  }
  return all.sort((a, b) => a.length - b.length || a.join().localeCompare(b.join()));
}

/** An AND of per-dimension ORs when the selected combinations form a product, else an OR of ANDs. */
function expression(dims: readonly Dimension[], selected: readonly Combo[], context: readonly Combo[]): string {
  const valuesOf = (d: Dimension, cs: readonly Combo[]) => d.values.filter((v) => cs.some((c) => c[d.name] === v));
  const perDim = dims.map((d) => valuesOf(d, selected));
  const productSize = perDim.reduce((n, vs) => n * vs.length, 1);
  const distinct = new Set(selected.map((c) => dims.map((d) => c[d.name]).join('|'))).size;
  const oneDim = (d: Dimension, vs: readonly string[]) => {
    if (vs.length === valuesOf(d, context).length) return undefined;
    return vs.length === 1 ? d.condition(vs[0]) : `or ${vs.map((v) => `(${d.condition(v)})`).join(' ')}`;
  };
  const and = (parts: Array<string | undefined>) => {
    const kept = parts.filter((p): p is string => p !== undefined);
    if (kept.length === 0) return 'true';
    return kept.length === 1 ? kept[0] : `and ${kept.map((p) => `(${p})`).join(' ')}`;
  };
  if (productSize === distinct) return and(dims.map((d, i) => oneDim(d, perDim[i])));
  const tuples = [...new Set(selected.map((c) => JSON.stringify(dims.map((d) => c[d.name]))))].map((t) => JSON.parse(t) as string[]);
  return `or ${tuples.map((t) => `(${and(dims.map((d, i) => d.condition(t[i])))})`).join(' ')}`;
}
