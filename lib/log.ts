/**
 * The one log shape of both long-running binaries, the webhook and the agent (with its CSI
 * plugin): JSON lines, each an object that starts with `time` (ISO 8601), `level`, `msg` and
 * `component`, then the line's own fields, so log pipelines filter by level, component, uid or
 * event alike. `--help`, usage errors and `lxcfs-kit doctor` stay human text.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Readonly<Record<string, unknown>>;
/** The keys every line starts with, in this order. */
export const LOG_KEYS = ['time', 'level', 'msg', 'component'] as const;
export type Component = 'webhook' | 'agent';
/**
 * How the agent's parts log: a line with optional fields, at `info` unless the caller says the
 * line reports a failure (`warn`: the agent carries on around it; `error`: something it serves is
 * broken until a person or a restart acts). main.ts writes it through a Logger.
 */
export type LineLog = (msg: string, fields?: LogFields, level?: LogLevel) => void;
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogSink {
  write(line: string): unknown;
}

/**
 * Collects the lines written during one turn of the event loop and hands them
 * to the target in a single write: under load one syscall carries many
 * admission lines instead of one each. Flushed before the process exits.
 */
export class BatchingSink implements LogSink {
  private pending: string[] = [];
  private scheduled = false;

  constructor(private readonly target: LogSink = process.stdout) {
    process.on('exit', () => this.flush());
  }

  write(line: string): boolean {
    this.pending.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.length === 1 ? this.pending[0] : this.pending.join('');
    this.pending = [];
    this.target.write(text);
  }
}

const NO_FIELDS: LogFields = Object.freeze({});
const FIXED: ReadonlySet<string> = new Set(LOG_KEYS);

/**
 * One line: the fixed keys first and never overridden by a field of the same name (a field
 * cannot disguise a line's level or message), then the base fields (a line's field of the same
 * name gives the value), then the line's other fields. The same text as JSON.stringify of the
 * merged object, built member by member: merging objects first made V8 stringify a
 * dictionary-mode object, about 11 µs a line (now about 1), and the webhook writes one per admission.
 */
export function logLine(level: LogLevel, msg: string, component: Component, fields: LogFields, base: LogFields = NO_FIELDS): string {
  let line = `{"time":"${isoNow()}","level":"${level}","msg":${JSON.stringify(msg)},"component":"${component}"`;
  for (const key of Object.keys(base)) {
    if (!FIXED.has(key)) line += member(key, Object.prototype.hasOwnProperty.call(fields, key) ? fields[key] : base[key]);
  }
  for (const key of Object.keys(fields)) {
    if (!FIXED.has(key) && !Object.prototype.hasOwnProperty.call(base, key)) line += member(key, fields[key]);
  }
  return `${line}}\n`;
}

/** `,"key":value`, or nothing where JSON.stringify would leave the member out (undefined, functions, symbols). */
function member(key: string, value: unknown): string {
  const json = JSON.stringify(value);
  return json === undefined ? '' : `${keyText(key)}${json}`;
}

/**
 * `,"key":` for a field name. Names come from the code, a few dozen in all, so they are kept once
 * serialized; the bound only guards against a caller that builds names from data.
 */
const keyTexts = new Map<string, string>();
function keyText(key: string): string {
  let text = keyTexts.get(key);
  if (text === undefined) {
    text = `,${JSON.stringify(key)}:`;
    if (keyTexts.size < 512) keyTexts.set(key, text);
  }
  return text;
}

/** The time of a line; busy loggers write many lines a millisecond, so the text is reused within one. */
let isoMs = NaN;
let isoText = '';
function isoNow(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

export class Logger {
  constructor(
    private readonly sink: LogSink,
    private readonly component: Component,
    private readonly min: LogLevel = 'info',
    private readonly base: LogFields = {},
  ) {}

  child(fields: Record<string, unknown>): Logger {
    return new Logger(this.sink, this.component, this.min, { ...this.base, ...fields });
  }

  enabled(level: LogLevel): boolean {
    return ORDER[level] >= ORDER[this.min];
  }

  /** Lifecycle lines (listening, shutting down) that tooling waits for: written at any --log-level. */
  always(msg: string, fields?: Record<string, unknown>): void {
    this.sink.write(logLine('info', msg, this.component, fields ?? NO_FIELDS, this.base));
  }

  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (!this.enabled(level)) return;
    this.sink.write(logLine(level, msg, this.component, fields ?? NO_FIELDS, this.base));
  }
  debug(msg: string, fields?: Record<string, unknown>): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.log('error', msg, fields);
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
