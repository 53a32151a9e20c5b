/**
 * When to start lxcfs again after it exited. Pure.
 *
 * One crash is healed at once (containers are broken until lxcfs is back). A crash loop is not:
 * every start costs a scan of /proc and a re-attach pass, so after `burst` runs in a row that
 * each served for less than `stableMs`, each start waits twice as long as the one before, up to
 * `maxMs`. An lxcfs that never served (bad flags, no /dev/fuse) is backed off from the first exit.
 */
export interface BackoffOptions {
  /** Immediate restarts allowed in a row. */
  readonly burst: number;
  readonly baseMs: number;
  readonly maxMs: number;
  /** A run that served this long ends the streak. */
  readonly stableMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { burst: 5, baseMs: 1000, maxMs: 60000, stableMs: 60000 };

export class RestartBackoff {
  private streak = 0;
  private neverServed = 0;

  constructor(readonly opts: BackoffOptions = DEFAULT_BACKOFF) {}

  /** Delay before the next start; `servedMs` is how long the run that just ended served (0: never). */
  next(servedMs: number): number {
    if (servedMs <= 0) {
      this.neverServed++;
      return Math.min(this.opts.maxMs, 250 * 2 ** (this.neverServed - 1));
    }
    this.neverServed = 0;
    this.streak = servedMs >= this.opts.stableMs ? 1 : this.streak + 1;
    if (this.streak <= this.opts.burst) return 0;
    return Math.min(this.opts.maxMs, this.opts.baseMs * 2 ** (this.streak - this.opts.burst - 1));
  }

  /** Short runs in a row so far (reported in /status). */
  get crashStreak(): number {
    return this.streak;
  }
}
