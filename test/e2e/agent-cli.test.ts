/**
 * `lxcfs-kit agent` as a user types it: --help, and bad input answered with
 * one clear line and exit status 2, never a stack trace. Runs anywhere.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { REPO_ROOT } from './support/build';

function agent(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(REPO_ROOT, 'lib/cli.ts'), 'agent', ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 60000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('lxcfs-kit agent command line', () => {
  it('--help lists every flag with its default', () => {
    const r = agent('--help');
    expect(r.code).toBe(0);
    for (const flag of ['--lxcfs-path', '--lxcfs-binary', '--lxcfs-arg', '--pidfd', '--health-port', '--state-dir', '--helper', '--ready-file', '--heal-scope', '--reconcile-interval']) {
      expect(r.out).toContain(flag);
    }
    expect(r.out).toContain('[default: /var/lib/lxcfs]');
  });

  it.each([
    [['--pidfd=sometimes'], /--pidfd must be one of auto, always, never/],
    [['--lxcfs-path=var/lib/lxcfs'], /must be an absolute host path/],
    [['--lxcfs-path=/'], /system directory/],
    [['--lxcfs-path=/etc'], /system directory.*directory of its own/],
    [['--lxcfs-path=/var/lib/'], /system directory/],
    [['--lxcfs-path=/sys/fs/lxcfs'], /system directory/],
    [['--restart-burst=0'], /restart-burst/],
    [['--reconcile-interval=0'], /--reconcile-interval must be a whole number of at least 1/],
    [['--lxcfs-arg=/mnt/elsewhere'], /must be one lxcfs flag starting with "-" \(the agent chooses lxcfs's mount point itself\)/],
    [['--lxcfs-arg=--pidfile=/run/x.pid'], /not one the agent manages/],
    [['--no-such-flag'], /Unknown option '--no-such-flag'/],
  ])('rejects %j with a clear message and exit 2', (args, message) => {
    const r = agent(...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('names the missing native helper and how to build it', () => {
    const r = agent('--helper=/nonexistent/lxcfs-kit-remount', '--state-dir=/tmp/lxcfs-kit-cli-test-state', '--lxcfs-path=/tmp/lxcfs-kit-cli-test-lxcfs');
    expect(r.code).toBe(1);
    // Not root → that comes first; as root the helper is named. Either is one clear line.
    expect(r.err).toMatch(/must run as root|native mount helper \/nonexistent\/lxcfs-kit-remount is missing.*cc -O2 -o/);
    expect(r.err).not.toMatch(/\n\s+at /);
    // A failure to start is a log line of the shared shape (usage errors, exit 2, stay text).
    expect(JSON.parse(r.err)).toMatchObject({ level: 'error', component: 'agent' });
  });
});
