/**
 * Issue 9: an lxcfs that serves and then crashes again and again is restarted with a
 * growing delay (and says so), never in a tight loop that rescans /proc each time.
 * Real lxcfs behind a wrapper that kills it with SIGKILL about a second after it starts.
 */
import * as fs from 'fs';
import * as path from 'path';
import { AgentLogEntry, AgentProcess } from './support/agent-process';
import { E2E_AGENT_ARGS, E2EEnv } from './support/env';
import { describeE2E } from './support/prereqs';

describeE2E('lxcfs crash loop (real lxcfs killed about a second after each start)', () => {
  let env: E2EEnv;
  let agent: AgentProcess;

  beforeAll(() => {
    env = new E2EEnv('crashloop');
    const wrapper = path.join(env.dir, 'crashing-lxcfs');
    // Only the serving run (-f) is killed; --version and --help pass through.
    fs.writeFileSync(wrapper, '#!/bin/sh\ncase " $* " in *" -f "*) (sleep 1; kill -9 $$) & ;; esac\nexec lxcfs "$@"\n', { mode: 0o755 });
    agent = env.startAgent({ extraArgs: [...E2E_AGENT_ARGS, `--lxcfs-binary=${wrapper}`, '--restart-burst=2'] });
  });

  afterAll(async () => {
    await env?.cleanup();
  }, 120000);

  it('restarts at once twice, then waits 1 s, 2 s, 4 s before the next starts; reports it in the log, /status and /metrics', async () => {
    await agent.waitStatus((s) => s.restartDelayMs >= 4000, 'a 4 s restart delay', 120000);
    const metrics = (await agent.http('/metrics')).body;
    expect(metrics).toMatch(/lxcfs_kit_agent_lxcfs_restart_delay_seconds 4\b/);
    expect((await agent.status()).crashStreak).toBeGreaterThanOrEqual(5);

    // Each announced delay really separated the crash from the next start (a lower bound holds on any machine).
    // Every line of the log is a JSON object of the shared shape (logEntries throws on one that is not).
    const entries = agent.logEntries();
    const lines = entries.filter((e) => e.source !== 'lxcfs');
    const at = (e: AgentLogEntry): number => Date.parse(e.time);
    const delays: number[] = [];
    for (let i = 0; i < lines.length; i++) {
      const m = /next start in (\d+) ms/.exec(lines[i].msg);
      if (!m) continue;
      const delay = Number(m[1]);
      delays.push(delay);
      const started = lines.slice(i + 1).find((e) => /^lxcfs \d+ serves /.test(e.msg));
      if (started !== undefined) expect(at(started) - at(lines[i])).toBeGreaterThanOrEqual(delay);
    }
    expect(delays.slice(0, 3)).toEqual([1000, 2000, 4000]);
    // Two immediate restarts before the first delay: runs 1 and 2 exited, run 3 exited before "1000".
    const restartsBeforeFirstDelay = lines.slice(0, lines.findIndex((e) => e.msg.includes('next start in'))).filter((e) => /; restarting it$/.test(e.msg)).length;
    expect(restartsBeforeFirstDelay).toBe(3);
    // A crash is a warning the agent handles; a start is information.
    expect(new Set(lines.filter((e) => /; restarting it$/.test(e.msg)).map((e) => e.level))).toEqual(new Set(['warn']));
    expect(new Set(lines.filter((e) => /^lxcfs \d+ serves /.test(e.msg)).map((e) => e.level))).toEqual(new Set(['info']));
  });
});
