/**
 * A SMALL PromQL evaluator for the monitoring tests: no Prometheus engine exists on npm, so the
 * alert and dashboard expressions are parsed by Prometheus's own grammar
 * (@prometheus-io/lezer-promql, the parser of the Prometheus UI) and evaluated here over samples
 * the test supplies. It implements exactly the subset lxcfs-kit's expressions use and THROWS on
 * anything else, so an expression outside the subset fails its test instead of passing untested:
 *
 * - instant selectors (=, !=, =~, !~; 5-minute lookback) and range selectors `[d]`
 * - rate / increase (counter resets handled; no extrapolation, so a little lower than
 *   Prometheus on sparse data — thresholds sit far from the boundary), time(), absent(),
 *   histogram_quantile (linear interpolation inside a bucket, as Prometheus does)
 * - sum / max / min / count with by / without
 * - arithmetic and comparisons (filtering, or `bool`) between scalars and vectors, vector–vector
 *   one-to-one matching with on / ignoring; and / or / unless with on / ignoring
 */
import { parser } from '@prometheus-io/lezer-promql';
import type { SyntaxNode } from '@lezer/common';

export type Labels = Readonly<Record<string, string>>;
export interface Sample {
  readonly labels: Labels; // includes __name__
  readonly t: number; // seconds
  readonly v: number;
}
export interface VectorElement {
  readonly labels: Labels;
  readonly v: number;
}
type Value = { kind: 'scalar'; v: number } | { kind: 'vector'; items: VectorElement[] } | { kind: 'matrix'; series: { labels: Labels; points: { t: number; v: number }[] }[] };

const LOOKBACK = 300;

/** Parses with the Prometheus grammar; throws on a syntax error. */
export function parse(expr: string): SyntaxNode {
  const tree = parser.parse(expr);
  let bad: string | undefined;
  tree.iterate({
    enter: (n) => {
      if (n.type.isError && bad === undefined) bad = `syntax error at ${n.from} in ${JSON.stringify(expr)}`;
    },
  });
  if (bad) throw new Error(bad);
  const top = tree.topNode.firstChild;
  if (!top) throw new Error(`empty expression ${JSON.stringify(expr)}`);
  return top;
}

/** A selector as written in an expression: metric name and its matchers. */
export interface SelectorUse {
  readonly metric: string;
  readonly matchers: ReadonlyArray<{ readonly label: string; readonly op: string; readonly value: string }>;
}

/** Every vector selector and every label name an expression refers to (matchers, by/without, on/ignoring). */
export function references(expr: string): { selectors: SelectorUse[]; labels: string[] } {
  const root = parse(expr);
  const selectors: SelectorUse[] = [];
  const labels = new Set<string>();
  const walk = (n: SyntaxNode): void => {
    if (n.name === 'VectorSelector') selectors.push(selector(expr, n));
    if (n.name === 'GroupingLabels') for (const l of children(n, 'LabelName')) labels.add(text(expr, l));
    for (let c = n.firstChild; c; c = c.nextSibling) walk(c);
  };
  walk(root);
  for (const s of selectors) for (const m of s.matchers) labels.add(m.label);
  return { selectors, labels: [...labels] };
}

export class Engine {
  constructor(private readonly samples: readonly Sample[]) {}

  /** The instant vector (or scalar) of `expr` at time `t` (seconds). */
  query(expr: string, t: number): VectorElement[] | number {
    const v = this.eval(expr, parse(expr), t);
    if (v.kind === 'matrix') throw new Error('a range vector is not a query result');
    return v.kind === 'scalar' ? v.v : v.items;
  }

  private eval(src: string, n: SyntaxNode, t: number): Value {
    switch (n.name) {
      case 'NumberDurationLiteral':
        return { kind: 'scalar', v: Number(text(src, n)) };
      case 'ParenExpr':
        return this.eval(src, only(n), t);
      case 'VectorSelector':
        return { kind: 'vector', items: this.instant(selector(src, n), t) };
      case 'MatrixSelector':
        return this.range(src, n, t);
      case 'FunctionCall':
        return this.call(src, n, t);
      case 'AggregateExpr':
        return this.aggregate(src, n, t);
      case 'BinaryExpr':
        return this.binary(src, n, t);
      default:
        throw new Error(`unsupported PromQL node ${n.name} in ${JSON.stringify(src)} (extend the test evaluator)`);
    }
  }

  private select(sel: SelectorUse): Map<string, Sample[]> {
    const out = new Map<string, Sample[]>();
    for (const s of this.samples) {
      if (s.labels.__name__ !== sel.metric || !sel.matchers.every((m) => matchOne(m, s.labels[m.label] ?? ''))) continue;
      const key = JSON.stringify(sortLabels(s.labels));
      const list = out.get(key) ?? [];
      list.push(s);
      out.set(key, list);
    }
    for (const l of out.values()) l.sort((a, b) => a.t - b.t);
    return out;
  }

  private instant(sel: SelectorUse, t: number): VectorElement[] {
    const items: VectorElement[] = [];
    for (const series of this.select(sel).values()) {
      const last = series.filter((s) => s.t <= t && s.t > t - LOOKBACK).pop();
      if (last) items.push({ labels: last.labels, v: last.v });
    }
    return items;
  }

  private range(src: string, n: SyntaxNode, t: number): Value {
    const vs = child(n, 'VectorSelector');
    const seconds = duration(text(src, child(n, 'DurationExpr')));
    return {
      kind: 'matrix',
      series: [...this.select(selector(src, vs)).values()].map((ss) => ({
        labels: ss[0].labels,
        points: ss.filter((s) => s.t <= t && s.t > t - seconds).map((s) => ({ t: s.t, v: s.v })),
      })),
    };
  }

  private call(src: string, n: SyntaxNode, t: number): Value {
    const fn = text(src, child(n, 'FunctionIdentifier'));
    const args = elements(child(n, 'FunctionCallBody'));
    switch (fn) {
      case 'time':
        return { kind: 'scalar', v: t };
      case 'rate':
      case 'increase': {
        const m = this.eval(src, args[0], t);
        if (m.kind !== 'matrix') throw new Error(`${fn}() needs a range vector`);
        const seconds = duration(text(src, child(args[0], 'DurationExpr')));
        const items: VectorElement[] = [];
        for (const s of m.series) {
          if (s.points.length < 2) continue;
          let inc = 0;
          for (let i = 1; i < s.points.length; i++) {
            const d = s.points[i].v - s.points[i - 1].v;
            inc += d >= 0 ? d : s.points[i].v; // a counter reset starts from zero
          }
          items.push({ labels: dropName(s.labels), v: fn === 'rate' ? inc / seconds : inc });
        }
        return { kind: 'vector', items };
      }
      case 'absent': {
        const v = this.vector(src, args[0], t);
        if (v.length > 0) return { kind: 'vector', items: [] };
        const labels: Record<string, string> = {};
        if (args[0].name === 'VectorSelector') for (const m of selector(src, args[0]).matchers) if (m.op === '=') labels[m.label] = m.value;
        return { kind: 'vector', items: [{ labels, v: 1 }] };
      }
      case 'histogram_quantile': {
        const q = this.scalar(src, args[0], t);
        const groups = new Map<string, { labels: Labels; buckets: { le: number; v: number }[] }>();
        for (const e of this.vector(src, args[1], t)) {
          const { le, ...rest } = e.labels;
          const labels = dropName(rest);
          const key = JSON.stringify(sortLabels(labels));
          const g = groups.get(key) ?? { labels, buckets: [] };
          g.buckets.push({ le: le === '+Inf' ? Infinity : Number(le), v: e.v });
          groups.set(key, g);
        }
        return { kind: 'vector', items: [...groups.values()].map((g) => ({ labels: g.labels, v: quantile(q, g.buckets) })) };
      }
      default:
        throw new Error(`unsupported function ${fn}() (extend the test evaluator)`);
    }
  }

  private aggregate(src: string, n: SyntaxNode, t: number): Value {
    const op = text(src, child(n, 'AggregateOp'));
    const mod = n.getChild('AggregateModifier');
    const body = elements(child(n, 'FunctionCallBody'));
    if (body.length !== 1) throw new Error(`${op} with a parameter is not supported`);
    const by = mod ? children(child(mod, 'GroupingLabels'), 'LabelName').map((l) => text(src, l)) : [];
    const without = mod?.getChild('Without') !== null && mod !== null;
    const groups = new Map<string, { labels: Record<string, string>; vs: number[] }>();
    for (const e of this.vector(src, body[0], t)) {
      const labels: Record<string, string> = {};
      for (const [k, v] of Object.entries(dropName(e.labels))) if (without ? !by.includes(k) : by.includes(k)) labels[k] = v;
      const key = JSON.stringify(sortLabels(labels));
      const g = groups.get(key) ?? { labels, vs: [] };
      g.vs.push(e.v);
      groups.set(key, g);
    }
    const reduce: Record<string, (vs: number[]) => number> = {
      sum: (vs) => vs.reduce((a, b) => a + b, 0),
      max: (vs) => Math.max(...vs),
      min: (vs) => Math.min(...vs),
      count: (vs) => vs.length,
    };
    if (!reduce[op]) throw new Error(`unsupported aggregation ${op} (extend the test evaluator)`);
    return { kind: 'vector', items: [...groups.values()].map((g) => ({ labels: g.labels, v: reduce[op](g.vs) })) };
  }

  private binary(src: string, n: SyntaxNode, t: number): Value {
    const parts = elements(n);
    const [lhsNode, rhsNode] = [parts[0], parts[parts.length - 1]];
    let opNode = lhsNode.nextSibling!;
    const op = opNode.name;
    let matching: { on: boolean; labels: string[] } | undefined;
    let bool = false;
    for (opNode = opNode.nextSibling!; opNode.from !== rhsNode.from; opNode = opNode.nextSibling!) {
      if (opNode.name === 'BoolModifier') bool = true;
      else if (opNode.name === 'MatchingModifierClause') {
        if (opNode.getChild('GroupLeft') || opNode.getChild('GroupRight')) throw new Error('group_left/right are not supported');
        matching = { on: opNode.getChild('On') !== null, labels: children(child(opNode, 'GroupingLabels'), 'LabelName').map((l) => text(src, l)) };
      } else throw new Error(`unsupported binary modifier ${opNode.name}`);
    }
    const lhs = this.eval(src, lhsNode, t);
    const rhs = this.eval(src, rhsNode, t);
    const signature = (l: Labels): string => {
      const rest = dropName(l);
      const keys = Object.keys(rest).filter((k) => (matching?.on ? matching.labels.includes(k) : !(matching?.labels ?? []).includes(k)));
      return JSON.stringify(sortLabels(Object.fromEntries(keys.map((k) => [k, rest[k]]))));
    };

    if (op === 'And' || op === 'Or' || op === 'Unless') {
      if (lhs.kind !== 'vector' || rhs.kind !== 'vector') throw new Error(`${op.toLowerCase()} needs two vectors`);
      const rightSigs = new Set(rhs.items.map((e) => signature(e.labels)));
      if (op === 'And') return { kind: 'vector', items: lhs.items.filter((e) => rightSigs.has(signature(e.labels))) };
      if (op === 'Unless') return { kind: 'vector', items: lhs.items.filter((e) => !rightSigs.has(signature(e.labels))) };
      const leftSigs = new Set(lhs.items.map((e) => signature(e.labels)));
      return { kind: 'vector', items: [...lhs.items, ...rhs.items.filter((e) => !leftSigs.has(signature(e.labels)))] };
    }

    const arith: Record<string, (a: number, b: number) => number> = {
      Add: (a, b) => a + b,
      Sub: (a, b) => a - b,
      Mul: (a, b) => a * b,
      Div: (a, b) => a / b,
    };
    const compare: Record<string, (a: number, b: number) => boolean> = {
      Gtr: (a, b) => a > b,
      Lss: (a, b) => a < b,
      Gte: (a, b) => a >= b,
      Lte: (a, b) => a <= b,
      Eql: (a, b) => a === b,
      Neq: (a, b) => a !== b,
    };
    if (!arith[op] && !compare[op]) throw new Error(`unsupported operator ${op}`);
    const apply = (a: number, b: number): number | undefined => {
      if (arith[op]) return arith[op](a, b);
      const holds = compare[op](a, b);
      if (bool) return holds ? 1 : 0;
      return holds ? a : undefined;
    };
    if (lhs.kind === 'scalar' && rhs.kind === 'scalar') {
      if (compare[op] && !bool) throw new Error('comparison between scalars needs bool');
      return { kind: 'scalar', v: apply(lhs.v, rhs.v)! };
    }
    if (lhs.kind === 'matrix' || rhs.kind === 'matrix') throw new Error('binary operator on a range vector');
    const keepName = compare[op] !== undefined && !bool;
    const out: VectorElement[] = [];
    if (lhs.kind === 'vector' && rhs.kind === 'scalar') {
      for (const e of lhs.items) {
        const r = apply(e.v, rhs.v);
        if (r !== undefined) out.push({ labels: keepName ? e.labels : dropName(e.labels), v: compare[op] && !bool ? e.v : r });
      }
    } else if (lhs.kind === 'scalar' && rhs.kind === 'vector') {
      for (const e of rhs.items) {
        const r = apply(lhs.v, e.v);
        if (r !== undefined) out.push({ labels: keepName ? e.labels : dropName(e.labels), v: compare[op] && !bool ? e.v : r });
      }
    } else if (lhs.kind === 'vector' && rhs.kind === 'vector') {
      const right = new Map<string, VectorElement>();
      for (const e of rhs.items) {
        const sig = signature(e.labels);
        if (right.has(sig)) throw new Error('many-to-many matching on the right-hand side');
        right.set(sig, e);
      }
      for (const e of lhs.items) {
        const r = right.get(signature(e.labels));
        if (!r) continue;
        const v = apply(e.v, r.v);
        if (v === undefined) continue;
        // One-to-one matching keeps the left side's labels (restricted to `on` labels when given).
        const base = dropName(e.labels);
        const labels = matching?.on ? Object.fromEntries(Object.entries(base).filter(([k]) => matching.labels.includes(k))) : Object.fromEntries(Object.entries(base).filter(([k]) => !(matching?.labels ?? []).includes(k)));
        out.push({ labels: keepName ? e.labels : labels, v });
      }
    }
    return { kind: 'vector', items: out };
  }

  private vector(src: string, n: SyntaxNode, t: number): VectorElement[] {
    const v = this.eval(src, n, t);
    if (v.kind !== 'vector') throw new Error(`expected an instant vector at ${JSON.stringify(text(src, n))}`);
    return v.items;
  }

  private scalar(src: string, n: SyntaxNode, t: number): number {
    const v = this.eval(src, n, t);
    if (v.kind !== 'scalar') throw new Error(`expected a scalar at ${JSON.stringify(text(src, n))}`);
    return v.v;
  }
}

function quantile(q: number, buckets: { le: number; v: number }[]): number {
  buckets.sort((a, b) => a.le - b.le);
  if (buckets.length < 2 || buckets[buckets.length - 1].le !== Infinity) return NaN;
  const total = buckets[buckets.length - 1].v;
  if (total === 0) return NaN;
  const rank = q * total;
  const i = buckets.findIndex((b) => b.v >= rank);
  // In the +Inf bucket Prometheus answers the highest finite bound.
  if (buckets[i].le === Infinity) return buckets[buckets.length - 2].le;
  const lower = i === 0 ? 0 : buckets[i - 1].le;
  const below = i === 0 ? 0 : buckets[i - 1].v;
  const inBucket = buckets[i].v - below;
  return inBucket === 0 ? buckets[i].le : lower + ((buckets[i].le - lower) * (rank - below)) / inBucket;
}

function selector(src: string, n: SyntaxNode): SelectorUse {
  const id = n.getChild('Identifier');
  const matchers: { label: string; op: string; value: string }[] = [];
  const list = n.getChild('LabelMatchers');
  if (list) {
    for (let m = list.firstChild; m; m = m.nextSibling) {
      if (m.name !== 'UnquotedLabelMatcher') continue;
      const opName = child(child(m, 'MatchOp'), undefined).name;
      const op = { EqlSingle: '=', Neq: '!=', EqlRegex: '=~', NeqRegex: '!~' }[opName];
      if (!op) throw new Error(`unsupported matcher ${opName}`);
      matchers.push({ label: text(src, child(m, 'LabelName')), op, value: JSON.parse(text(src, child(m, 'StringLiteral'))) as string });
    }
  }
  if (!id) throw new Error('selectors without a metric name are not supported');
  return { metric: text(src, id), matchers };
}

function matchOne(m: { op: string; value: string }, actual: string): boolean {
  switch (m.op) {
    case '=':
      return actual === m.value;
    case '!=':
      return actual !== m.value;
    case '=~':
      return new RegExp(`^(?:${m.value})$`).test(actual);
    default:
      return !new RegExp(`^(?:${m.value})$`).test(actual);
  }
}

function duration(s: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(s);
  if (!m) throw new Error(`unsupported duration ${s}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
}

function dropName(l: Labels): Record<string, string> {
  const rest: Record<string, string> = { ...l };
  delete rest['__name__'];
  return rest;
}

function sortLabels(l: Labels): [string, string][] {
  return Object.entries(l).sort(([a], [b]) => a.localeCompare(b));
}

const text = (src: string, n: SyntaxNode): string => src.slice(n.from, n.to);

function child(n: SyntaxNode, name: string | undefined): SyntaxNode {
  const c = name === undefined ? n.firstChild : n.getChild(name);
  if (!c) throw new Error(`expected ${name ?? 'a child'} in ${n.name}`);
  return c;
}

function children(n: SyntaxNode, name: string): SyntaxNode[] {
  return n.getChildren(name);
}

/** Expression children (skipping punctuation and keywords). */
function elements(n: SyntaxNode): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  for (let c = n.firstChild; c; c = c.nextSibling) {
    if (['ParenExpr', 'NumberDurationLiteral', 'VectorSelector', 'MatrixSelector', 'FunctionCall', 'AggregateExpr', 'BinaryExpr', 'StringLiteral'].includes(c.name)) out.push(c);
  }
  return out;
}

function only(n: SyntaxNode): SyntaxNode {
  const e = elements(n);
  if (e.length !== 1) throw new Error(`expected one expression in ${n.name}`);
  return e[0];
}
