/**
 * Issue 4, scenarios 4 and 5: the agent starting on a node that a crashed
 * lxcfs left behind, and a pod requested while lxcfs is down.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { AgentProcess, sleep } from './support/agent-process';
import { E2EEnv } from './support/env';
import { waitForHostFiles } from './support/kubelet';
import { describeE2E } from './support/prereqs';
import { EXPECTED_VIEW, injectedMounts } from './support/runc';

function isDeadMount(p: string): boolean {
  try {
    fs.statSync(p);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOTCONN';
  }
}

describeE2E('agent startup (real lxcfs, real runc)', () => {
  let env: E2EEnv;

  beforeAll(() => {
    env = new E2EEnv('startup');
  });

  afterAll(async () => {
    await env?.cleanup();
  }, 120000);

  it('scenario 4: a dead lxcfs mount and runtime-made directories at the lxcfs path are cleaned; the agent starts; new containers work', async () => {
    // What a container runtime leaves when lxcfs was absent: directories where files belong.
    const runtimeDir = path.join(env.lxcfsPath, 'proc/meminfo');
    fs.mkdirSync(runtimeDir, { recursive: true });
    // A crashed lxcfs right on the lxcfs path (the old, unsupervised setup): kill -9 leaves a dead mount.
    const crashed = spawn('lxcfs', ['-f', '-p', path.join(env.dir, 'crashed.pid'), env.lxcfsPath], { stdio: 'ignore' });
    const servesBy = Date.now() + 60_000;
    while (!fs.existsSync(path.join(env.lxcfsPath, 'proc/cpuinfo'))) {
      if (Date.now() > servesBy) throw new Error('lxcfs did not serve within 60 s');
      await sleep(25);
    }
    crashed.kill('SIGKILL');
    await new Promise((r) => crashed.on('exit', r));
    expect(isDeadMount(env.lxcfsPath)).toBe(true);

    const agent = env.startAgent();
    await agent.waitReady();
    expect(isDeadMount(env.lxcfsPath)).toBe(false);
    expect(fs.statSync(path.join(env.lxcfsPath, 'proc/meminfo')).isFile()).toBe(true);
    // The dead mount is gone, not hidden: only the agent's two mounts remain.
    expect(env.hostLxcfsMounts().length).toBe(2);
    const c = await env.runc.run('startup-after-dead', 'exec sleep 1000000');
    expect(await c.view()).toEqual(EXPECTED_VIEW);
    await agent.stop();
    // Stopping without a successor leaves no mount on the host path, and the runtime's directory is gone.
    expect(env.hostLxcfsMounts()).toEqual([]);
    expect(fs.existsSync(runtimeDir)).toBe(false);
  });

  it('scenario 5: a container requested while lxcfs is down is held until the files exist, then reads correct values; no directory is created', async () => {
    expect(env.hostLxcfsMounts()).toEqual([]);
    const wait = waitForHostFiles(injectedMounts(env.lxcfsPath).map((m) => m.source));
    let started = false;
    const container = wait.ready.then(async () => {
      started = true;
      return env.runc.run('requested-while-down', 'exec sleep 1000000');
    });
    await sleep(1500);
    expect(started).toBe(false);
    let agent: AgentProcess | undefined;
    try {
      agent = env.startAgent();
      await agent.waitReady();
      const c = await container;
      expect(await c.view()).toEqual(EXPECTED_VIEW);
      expect([...wait.directoriesSeen]).toEqual([]);
    } finally {
      wait.cancel();
      await agent?.stop();
    }
    // After the agent stopped, the lxcfs path holds no directory where an lxcfs file belongs.
    for (const m of env.fileMounts) expect(fs.existsSync(m.hostPath)).toBe(false);
  });
});
