/**
 * The test PromQL evaluator (promql.ts) against results worked out by hand from Prometheus's
 * semantics, so the alert tests built on it can be trusted; and it refuses what it does not
 * implement instead of guessing.
 */
import { Engine, references, Sample, VectorElement } from './promql';

const T = 10_000;
function series(name: string, labels: Record<string, string>, values: number[], step = 30): Sample[] {
  return values.map((v, i) => ({ labels: { __name__: name, ...labels }, t: T - (values.length - 1 - i) * step, v }));
}
const byNode = (r: VectorElement[] | number) => Object.fromEntries((r as VectorElement[]).map((e) => [e.labels.node ?? JSON.stringify(e.labels), e.v]));

const engine = new Engine([
  ...series('up', { node: 'a', pod: 'x-agent-1' }, [1, 1, 0]),
  ...series('up', { node: 'b', pod: 'x-agent-2' }, [1, 1, 1]),
  ...series('c_total', { node: 'a' }, [0, 2, 5, 1, 4]), // a reset after 5: increase 2+3+1+3 = 9
  ...series('c_total', { node: 'b' }, [7, 7, 7, 7, 7]),
  ...series('h_bucket', { le: '0.1' }, [0, 50]),
  ...series('h_bucket', { le: '1' }, [0, 90]),
  ...series('h_bucket', { le: '+Inf' }, [0, 100]),
  ...series('old', { node: 'a' }, [1], 1).map((s) => ({ ...s, t: T - 600 })),
]);

test('instant selectors with each matcher, and the 5-minute lookback', () => {
  expect(byNode(engine.query('up{node="a"}', T))).toEqual({ a: 0 });
  expect(byNode(engine.query('up{node!="a"}', T))).toEqual({ b: 1 });
  expect(byNode(engine.query('up{pod=~"x-agent-.+"}', T))).toEqual({ a: 0, b: 1 });
  expect(byNode(engine.query('up{pod!~".*-2"}', T))).toEqual({ a: 0 });
  expect(engine.query('old', T)).toEqual([]);
  expect(byNode(engine.query('old', T - 500))).toEqual({ a: 1 });
});

test('comparisons filter, bool turns them into 0/1, arithmetic with scalars drops the name', () => {
  expect(byNode(engine.query('up == 0', T))).toEqual({ a: 0 });
  expect(byNode(engine.query('up == bool 0', T))).toEqual({ a: 1, b: 0 });
  expect(engine.query('7 * 86400', T)).toBe(604800);
  expect((engine.query('up * 2', T) as VectorElement[]).every((e) => e.labels.__name__ === undefined)).toBe(true);
  expect(engine.query('time() - 10', T)).toBe(T - 10);
});

test('increase and rate handle counter resets', () => {
  expect(byNode(engine.query('increase(c_total[5m])', T))).toEqual({ a: 9, b: 0 });
  expect(byNode(engine.query('rate(c_total[5m])', T))).toEqual({ a: 9 / 300, b: 0 });
  // Only samples inside the window count.
  expect(byNode(engine.query('increase(c_total[1m])', T))).toEqual({ a: 3, b: 0 });
});

test('aggregations with by and without', () => {
  expect(engine.query('sum(up)', T)).toEqual([{ labels: {}, v: 1 }]);
  expect(byNode(engine.query('max by (node) (up)', T))).toEqual({ a: 0, b: 1 });
  expect(engine.query('count without (node, pod) (up)', T)).toEqual([{ labels: {}, v: 2 }]);
});

test('set operators and vector matching with on / ignoring', () => {
  expect(byNode(engine.query('up and on (node) c_total > 6', T))).toEqual({ b: 1 });
  expect(byNode(engine.query('up unless on (node) c_total > 6', T))).toEqual({ a: 0 });
  expect(byNode(engine.query('up == 0 or c_total > 6', T))).toEqual({ a: 0, b: 7 });
  expect(byNode(engine.query('c_total - on (node) up', T))).toEqual({ a: 4, b: 6 });
  // Without on/ignoring every label must match: c_total has no pod label, so nothing matches.
  expect(engine.query('c_total - up', T)).toEqual([]);
});

test('absent() takes the equality matchers as labels', () => {
  expect(engine.query('absent(up{node="c"})', T)).toEqual([{ labels: { node: 'c' }, v: 1 }]);
  expect(engine.query('absent(up{node="a"})', T)).toEqual([]);
  expect(engine.query('absent(up == 5)', T)).toEqual([{ labels: {}, v: 1 }]);
});

test('histogram_quantile interpolates inside the bucket and caps at the highest finite bound', () => {
  // 100 observations: 50 ≤ 0.1, 40 in (0.1, 1], 10 above 1.
  const q = (x: number) => (engine.query(`histogram_quantile(${x}, sum by (le) (increase(h_bucket[5m])))`, T) as VectorElement[])[0].v;
  expect(q(0.5)).toBeCloseTo(0.1);
  expect(q(0.7)).toBeCloseTo(0.1 + 0.9 * 0.5);
  expect(q(0.99)).toBe(1);
});

test('it refuses what it does not implement, and PromQL syntax errors', () => {
  expect(() => engine.query('avg(up)', T)).toThrow(/unsupported aggregation avg/);
  expect(() => engine.query('deriv(c_total[5m])', T)).toThrow(/unsupported function deriv/);
  expect(() => engine.query('up offset 5m', T)).toThrow(/unsupported PromQL node OffsetExpr/);
  expect(() => engine.query('up * on (node) group_left c_total', T)).toThrow(/group_left/);
  expect(() => engine.query('sum by (node (up)', T)).toThrow(/syntax error/);
});

test('references lists metrics, matchers and grouping labels', () => {
  const r = references('sum by (namespace, pod) (rate(a_total{kind="x"}[5m])) / on (pod) b');
  expect(r.selectors.map((s) => s.metric)).toEqual(['a_total', 'b']);
  expect(r.labels.sort()).toEqual(['kind', 'namespace', 'pod']);
});
