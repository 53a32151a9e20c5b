import { spawnSync } from 'child_process';
import * as path from 'path';
import { admissionResponse, fixturePod, makePki, request, REPO, review, startFileModeWebhook } from './helpers';
import { LOG_KEYS } from '../../lib/log';

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', 'lib/cli.ts', 'webhook', ...args], {
    cwd: REPO,
    env: { ...process.env, TS_NODE_PROJECT: path.join(REPO, 'tsconfig.json'), KUBECONFIG: '', POD_NAMESPACE: '' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('lxcfs-kit webhook command line', () => {
  test('--help lists every flag and exits 0', () => {
    const r = run('--help');
    expect(r.code).toBe(0);
    for (const flag of ['--cert-mode (files|self)', '--tls-cert-file', '--repair-mode (off|report|evict)', '--max-request-bytes', '--sync-interval']) expect(r.stdout).toContain(flag);
  });

  test.each([
    [['--cert-mode=files'], 2, /needs --tls-cert-file and --tls-key-file/],
    [['--cert-mode=self'], 2, /needs --namespace or \$POD_NAMESPACE/],
    [['--tls-cert-file=/nonexistent/tls.crt', '--tls-key-file=/nonexistent/tls.key'], 1, /cannot read --tls-cert-file \/nonexistent\/tls.crt: ENOENT/],
    [['--tls-cert-file=a', '--tls-key-file=b', '--lxcfs-path=relative'], 2, /must be an absolute host path/],
    [['--tls-cert-file=a', '--tls-key-file=b', '--file=/etc/passwd'], 2, /must be an absolute file path under \/proc or \/sys/],
    [['--repair-mode=fix'], 2, /--repair-mode must be one of off, report, evict/],
    [['--bogus'], 2, /Unknown option '--bogus'/],
  ])('%j exits %d with a clear message and no stack trace', (args, code, message) => {
    const r = run(...args);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    // Usage errors (exit 2) are text for the person at the terminal; a failure to start is a log line.
    if (code === 1) expect(JSON.parse(r.stderr)).toMatchObject({ level: 'error', component: 'webhook', msg: expect.stringMatching(message) as unknown });
  });
});

test('on SIGTERM the webhook fails /readyz but keeps answering admissions for --shutdown-delay, then exits 0', async () => {
  const pki = makePki();
  const w = await startFileModeWebhook(pki, ['--shutdown-delay=3']);
  try {
    expect((await request(w.port, pki.ca.certPem, { method: 'GET', path: '/readyz' })).status).toBe(200);
    const exited = new Promise<number | null>((r) => w.proc.on('exit', (code) => r(code)));
    w.proc.kill('SIGTERM');
    await w.waitForLog((e) => e.msg === 'shutting down');
    expect((await request(w.port, pki.ca.certPem, { method: 'GET', path: '/readyz' })).status).toBe(503);
    expect((await request(w.port, pki.ca.certPem, { method: 'GET', path: '/healthz' })).status).toBe(200);
    const admitted = await request(w.port, pki.ca.certPem, { body: review(fixturePod()) });
    expect(admissionResponse(admitted.body).patch).toBeDefined();
    expect(await exited).toBe(0);
    // Its whole life in the log, every line a JSON object of the shared shape (lib/log.ts); nothing on stderr.
    expect(w.logs.filter((e) => e.msg === 'non-JSON output')).toEqual([]);
    for (const e of w.logs) expect(Object.keys(e).slice(0, LOG_KEYS.length)).toEqual([...LOG_KEYS]);
    expect(new Set(w.logs.map((e) => e.component))).toEqual(new Set(['webhook']));
    expect(w.logs.length).toBeGreaterThanOrEqual(2);
    expect(w.stderr()).toBe('');
  } finally {
    await w.stop();
  }
});
