/** The lxcfs restart policy (pure, no root). */
import { RestartBackoff } from '../../lib/agent/backoff';

describe('RestartBackoff', () => {
  const opts = { burst: 3, baseMs: 1000, maxMs: 8000, stableMs: 60000 };

  test('single crashes restart at once; a crash loop doubles the wait up to the maximum', () => {
    const b = new RestartBackoff(opts);
    const delays = Array.from({ length: 9 }, () => b.next(500));
    expect(delays).toEqual([0, 0, 0, 1000, 2000, 4000, 8000, 8000, 8000]);
    expect(b.crashStreak).toBe(9);
  });

  test('a run that served a minute ends the streak', () => {
    const b = new RestartBackoff(opts);
    for (let i = 0; i < 5; i++) b.next(500);
    expect(b.next(60000)).toBe(0);
    expect(b.crashStreak).toBe(1);
  });

  test('an lxcfs that never served is backed off from the first exit', () => {
    const b = new RestartBackoff(opts);
    expect([b.next(0), b.next(0), b.next(0), b.next(0), b.next(0), b.next(0)]).toEqual([250, 500, 1000, 2000, 4000, 8000]);
  });
});
