/**
 * Chart placeholders. The chart generator synthesizes the constructs with a
 * placeholder string where a prop becomes a Helm value, then turns each
 * placeholder in the output into a Go-template expression. The constructs
 * only need to know one thing about them: a placeholder is not a value to
 * check (the chart's values.schema.json and its `fail` checks do that).
 */
const PLACEHOLDER = /__TPL_\d+__/;

/** The placeholder for number `n`. */
export function placeholder(n: number): string {
  return `__TPL_${n}__`;
}

export function isPlaceholder(value: unknown): boolean {
  return typeof value === 'string' && PLACEHOLDER.test(value);
}

export const PLACEHOLDER_PATTERN = /__TPL_(\d+)__/g;
