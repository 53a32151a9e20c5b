/**
 * Client input in messages and logs: a request body is hostile (any type, any
 * length, any depth), so whatever of it reaches a reason or a log line goes
 * through here: bounded in length, printable, and never able to throw (no
 * toString/valueOf of client objects, no recursion into them).
 */

/** Longest piece of client input a message or log line carries. */
export const CLIENT_TEXT_MAX = 64;

/** A short description of any JSON value a client sent: strings quoted and cut, containers summarized. */
export function clientText(value: unknown, max = CLIENT_TEXT_MAX): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(cut(value, max));
    case 'number':
    case 'boolean':
      return String(value);
    case 'undefined':
      return 'nothing';
    case 'object':
      if (value === null) return 'null';
      return Array.isArray(value) ? `an array of ${value.length}` : 'an object';
    default:
      return `a ${typeof value}`;
  }
}

/** A client string for a log field: at most `max` characters, marked when cut; anything else is dropped. */
export function clientString(value: unknown, max = CLIENT_TEXT_MAX): string | undefined {
  return typeof value === 'string' ? cut(value, max) : undefined;
}

function cut(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}…(${s.length} chars)`;
}
