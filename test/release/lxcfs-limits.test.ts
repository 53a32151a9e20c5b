/**
 * docs/operations.md's "What lxcfs cannot change", shown on a real container: with
 * lxcfs-kit's agent serving and the lxcfs files injected as the webhook injects
 * them, the files tell the container's limits while programs that ask the
 * kernel directly — busybox `free` (sysinfo(2)) and `nproc`
 * (sched_getaffinity(2)) — still see the host. If lxcfs ever learned to
 * change them, this test fails and docs/operations.md must be updated.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { AgentProcess } from '../e2e/support/agent-process';
import { E2EEnv } from '../e2e/support/env';
import { describeE2E } from '../e2e/support/prereqs';
import { Container, EXPECTED_VIEW } from '../e2e/support/runc';
import { docSection } from './repo';

function hostMemTotalKb(): number {
  const line = fs.readFileSync('/proc/meminfo', 'utf8').split('\n').find((l) => l.startsWith('MemTotal:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1]);
}

describeE2E('what lxcfs cannot change, as docs/operations.md says (real lxcfs, real runc)', () => {
  let env: E2EEnv;
  let agent: AgentProcess;
  let container: Container;

  beforeAll(async () => {
    env = new E2EEnv('limits');
    agent = env.startAgent();
    await agent.waitReady();
    container = await env.runc.run('limits', 'exec sleep 1000000');
  }, 120000);

  afterAll(async () => {
    await env?.cleanup();
  }, 120000);

  test('the lxcfs files show the container\'s limits (1 processor, 1 GiB)', async () => {
    expect(await container.view()).toEqual(EXPECTED_VIEW);
  });

  test('busybox free (sysinfo(2)) still reports the host\'s memory', async () => {
    expect(docSection('operations')).toMatch(/`sysinfo\(2\)`[^\n]*busybox `free`/);
    const r = await container.exec('busybox free');
    expect(r.code).toBe(0);
    const mem = r.stdout.split('\n').find((l) => l.trim().startsWith('Mem:'));
    const total = Number(mem?.trim().split(/\s+/)[1]);
    expect(total).toBe(hostMemTotalKb());
    expect(total).not.toBe(1048576);
  });

  test('nproc (sched_getaffinity(2)) still reports the host\'s CPUs', async () => {
    expect(docSection('operations')).toMatch(/`sched_getaffinity\(2\)`[^\n]*`nproc`/);
    const r = await container.exec('busybox nproc');
    expect(r.code).toBe(0);
    const hostCpus = execFileSync('nproc', { encoding: 'utf8' }).trim();
    expect(r.stdout.trim()).toBe(hostCpus);
    // Where the host has a single CPU the two views coincide and prove nothing more.
    if (hostCpus !== '1') expect(r.stdout.trim()).not.toBe(EXPECTED_VIEW.processors);
  });
});
