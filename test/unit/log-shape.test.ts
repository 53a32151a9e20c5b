/**
 * Both long-running binaries log one shape (lib/log.ts): JSON lines that start with time, level,
 * msg and component. The loggers tested are the ones the binaries build (webhookLogger,
 * agentLogger, and the agent's LineLog that its parts and the CSI plugin write through).
 */
import * as fc from 'fast-check';
import { agentLogger } from '../../lib/agent/main';
import { LOG_KEYS, Logger, logLine } from '../../lib/log';
import { webhookLogger } from '../../lib/webhook/main';

function capture(make: (sink: { write(line: string): boolean }) => Logger): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: make({ write: (l) => lines.push(l) > 0 }), lines };
}

/** The parsed line, after checking it is one JSON object on one line with the fixed keys first. */
function parsed(line: string): Record<string, unknown> {
  expect(line.endsWith('\n')).toBe(true);
  expect(line.slice(0, -1)).not.toContain('\n');
  const entry = JSON.parse(line) as Record<string, unknown>;
  expect(Object.keys(entry).slice(0, LOG_KEYS.length)).toEqual([...LOG_KEYS]);
  expect(Number.isNaN(Date.parse(String(entry.time)))).toBe(false);
  expect(String(entry.time)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  return entry;
}

const webhook = () => capture((sink) => webhookLogger(sink, 'debug', 'webhook-7d9f'));
const agent = () => capture((sink) => agentLogger(sink));

test('the webhook and the agent write the same keys, in the same order, for the same call', () => {
  const w = webhook();
  const a = agent();
  for (const { logger } of [w, a]) {
    logger.info('reconcile', { healed: 2 });
    logger.warn('cannot re-attach "/proc/meminfo"\nsecond line', { namespace: 'mnt:[4026532]' });
    logger.child({ subsystem: 'repair' }).error('lease lost');
  }
  const shape = (lines: string[]) => lines.map((l) => Object.keys(parsed(l)).filter((k) => k !== 'instance' && k !== 'pid'));
  expect(shape(w.lines)).toEqual(shape(a.lines));
  expect(w.lines.map((l) => parsed(l).component)).toEqual(['webhook', 'webhook', 'webhook']);
  expect(a.lines.map((l) => parsed(l).component)).toEqual(['agent', 'agent', 'agent']);
  expect(a.lines.map((l) => parsed(l).level)).toEqual(['info', 'warn', 'error']);
  expect(parsed(a.lines[1]).msg).toBe('cannot re-attach "/proc/meminfo"\nsecond line');
  expect(parsed(w.lines[0])).toMatchObject({ msg: 'reconcile', healed: 2, instance: 'webhook-7d9f' });
  expect(parsed(a.lines[0])).toMatchObject({ msg: 'reconcile', healed: 2, pid: process.pid });
});

test("a field named like a fixed key cannot change the line's time, level, message or component", () => {
  const { logger, lines } = agent();
  logger.info('real message', { time: 0, level: 'error', msg: 'forged', component: 'webhook', other: 1 });
  expect(parsed(lines[0])).toMatchObject({ level: 'info', msg: 'real message', component: 'agent', other: 1 });
  expect(typeof parsed(lines[0]).time).toBe('string');
});

test('a fatal start-up error of either binary is a line of the same shape (lib/cli.ts writes it)', () => {
  for (const component of ['webhook', 'agent'] as const) {
    expect(parsed(logLine('error', 'the agent must run as root', component, {}))).toEqual({ time: expect.any(String) as unknown, level: 'error', msg: 'the agent must run as root', component });
  }
});

/**
 * The line as the plainest code writes it: the base and the line's fields merged, then the fixed
 * keys set first and again last, so they lead and no field overrides them. logLine builds the
 * same text member by member (merging first cost V8 about 11 µs a line against 1, and the webhook
 * logs every admission).
 */
function referenceLine(level: 'info' | 'warn', msg: string, component: 'webhook' | 'agent', fields: Record<string, unknown>, base: Record<string, unknown>, time: string): string {
  const fixed = { time, level, msg, component };
  return `${JSON.stringify(Object.assign({ ...fixed }, { ...base, ...fields }, fixed))}\n`;
}

test('logLine writes what JSON.stringify of the merged fields writes, for any fields and base (property)', () => {
  // Client strings reach the webhook's lines (uid, namespace, pod, reason): control characters,
  // quotes, backslashes, line separators and lone surrogates among them.
  const oddText = fc.string({ unit: fc.constantFrom('\u0000', '\n', '\u001f', '"', '\\', '\u2028', '\ud800', '\udfff', '😀', 'é', 'a'), maxLength: 10 });
  // Names that collide with each other and with the fixed keys; array-index names are left out,
  // as an object orders those before all others (the merged reference would put them before `time`).
  const key = fc.oneof(fc.constantFrom(...LOG_KEYS, 'uid', 'pod', 'instance', 'pid', 'reason', '"quoted"', 'a\\b', 'é', ''), fc.oneof(fc.string({ maxLength: 6 }), oddText).filter((k) => !/^(0|[1-9]\d*)$/.test(k)));
  const value = fc.oneof(fc.jsonValue({ maxDepth: 3 }), oddText, fc.constant(undefined), fc.constant(() => 1), fc.date({ noInvalidDate: true }));
  const fields = fc.dictionary(key, value, { maxKeys: 8 });
  fc.assert(
    fc.property(fc.constantFrom('info', 'warn'), fc.oneof(fc.string({ maxLength: 12 }), oddText), fc.constantFrom('webhook', 'agent'), fields, fields, (level, msg, component, lineFields, base) => {
      const line = logLine(level, msg, component, lineFields, base);
      const time = (JSON.parse(line) as { time: string }).time;
      expect(line).toBe(referenceLine(level, msg, component, lineFields, base, time));
    }),
    { numRuns: 5_000 },
  );
});
