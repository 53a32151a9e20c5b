import * as fc from 'fast-check';
import { jsonCostProblem } from '../../lib/webhook/admission';

/**
 * The guard in its plainest form, one character at a time: the admission path uses a faster scan
 * (strings skipped with indexOf), which must give the same verdict on any text.
 */
function referenceCostProblem(text: string, maxDepth: number, maxValues: number): string | undefined {
  let depth = 0;
  let values = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      if (++depth > maxDepth) return `body nests deeper than ${maxDepth} levels`;
      if (++values > maxValues) return `body holds more than ${maxValues} JSON values`;
    } else if (c === ',') {
      if (++values > maxValues) return `body holds more than ${maxValues} JSON values`;
    } else if (c === ']' || c === '}') depth--;
  }
  return undefined;
}

// Texts dense in what the scan decides on: quotes, backslash runs, brackets and commas.
const tricky = fc.array(fc.constantFrom('"', '\\', '\\\\', '\\"', '[', ']', '{', '}', ',', 'a', 'é', ':', '1'), { maxLength: 80 }).map((parts) => parts.join(''));

describe('jsonCostProblem', () => {
  test('gives the character-by-character verdict on any text, escaped quotes and backslash runs included (property)', () => {
    fc.assert(
      fc.property(tricky, fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 12 }), (text, maxDepth, maxValues) => {
        expect(jsonCostProblem(text, maxDepth, maxValues)).toBe(referenceCostProblem(text, maxDepth, maxValues));
      }),
      { numRuns: 20_000 },
    );
  });

  test('gives the same verdict on real JSON of any shape (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 40 }), (value, maxDepth, maxValues) => {
        const text = JSON.stringify(value);
        expect(jsonCostProblem(text, maxDepth, maxValues)).toBe(referenceCostProblem(text, maxDepth, maxValues));
      }),
      { numRuns: 5_000 },
    );
  });

  test('brackets and commas inside strings do not count, an escaped quote does not end a string', () => {
    expect(jsonCostProblem('{"a":"[[[[,,,,\\"[[[["}', 2, 3)).toBeUndefined();
    expect(jsonCostProblem('{"a":"\\\\"}[[[', 2, 100)).toBe('body nests deeper than 2 levels');
    expect(jsonCostProblem('"unterminated [[[[', 1, 1)).toBeUndefined();
  });
});
