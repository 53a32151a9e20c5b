/** Structured JSON logs, one object per line, so log pipelines can filter by uid or event. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
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

export class Logger {
  constructor(
    private readonly sink: LogSink = process.stdout,
    private readonly min: LogLevel = 'info',
    private readonly base: Readonly<Record<string, unknown>> = {},
  ) {}

  child(fields: Record<string, unknown>): Logger {
    return new Logger(this.sink, this.min, { ...this.base, ...fields });
  }

  enabled(level: LogLevel): boolean {
    return ORDER[level] >= ORDER[this.min];
  }

  /** Lifecycle lines (listening, shutting down) that tooling waits for: written at any --log-level. */
  always(msg: string, fields?: Record<string, unknown>): void {
    this.sink.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'info', msg, ...this.base, ...fields })}\n`);
  }

  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (!this.enabled(level)) return;
    this.sink.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...this.base, ...fields })}\n`);
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
