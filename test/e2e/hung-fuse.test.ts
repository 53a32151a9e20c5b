/**
 * Issue 9: a FUSE mount typed like lxcfs that never answers (its daemon never reads
 * /dev/fuse) sits in another mount namespace, in the agent's heal scope. The agent
 * must keep answering /healthz and /status, keep reconciling, still heal honest
 * containers after an lxcfs kill, and leave the hung mount alone. Real lxcfs, runc,
 * agent and helper; the hung "lxcfs" is a real FUSE connection with no server.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { parseMountinfo } from '../../lib/agent/mountinfo';
import { AgentProcess } from './support/agent-process';
import { E2E_AGENT_ARGS, E2EEnv } from './support/env';
import { describeE2E } from './support/prereqs';
import { Container, EXPECTED_VIEW } from './support/runc';

describeE2E('a hung FUSE mount typed fuse.lxcfs (real lxcfs, runc, agent and helper; a FUSE connection nobody serves)', () => {
  let env: E2EEnv;
  let agent: AgentProcess;
  let container: Container;
  let fuseFd = -1;
  let holder: ChildProcess | undefined;
  let hungDir: string;

  beforeAll(async () => {
    env = new E2EEnv('hung');
    agent = env.startAgent({ extraArgs: [...E2E_AGENT_ARGS, '--reconcile-interval=1'] });
    const status = await agent.waitReady();
    container = await env.runc.run('honest-next-to-hung', 'exec sleep 1000000');
    hungDir = path.join(env.dir, 'hung');
    fs.mkdirSync(hungDir);
    // Opened here and never read: every request to this mount waits forever.
    fuseFd = fs.openSync('/dev/fuse', 'r+');
    const source = status.lxcfsSource ?? '';
    expect(source).toMatch(/^lxcfs-kit-/);
    holder = spawn(
      'unshare',
      ['-m', '--propagation', 'private', 'sh', '-c', `mount -i -t fuse.lxcfs -o fd=3,rootmode=40000,user_id=0,group_id=0,allow_other "$0" "$1" && echo up && exec sleep 600`, source, hungDir],
      { stdio: ['ignore', 'pipe', 'inherit', fuseFd] },
    );
    await new Promise<void>((resolve, reject) => {
      holder?.stdout?.once('data', () => resolve());
      holder?.once('exit', (code) => reject(new Error(`unshare exited with ${String(code)}`)));
    });
  }, 120000);

  afterAll(async () => {
    holder?.kill('SIGKILL');
    // Closing the device ends the connection: anything still waiting on it gets an error.
    if (fuseFd >= 0) fs.closeSync(fuseFd);
    await env?.cleanup();
  }, 120000);

  function hungMount(): { mountId: number; fsType: string } | undefined {
    const text = fs.readFileSync(`/proc/${String(holder?.pid)}/mountinfo`, 'latin1');
    return parseMountinfo(text).find((m) => m.mountPoint === hungDir);
  }

  it('the agent probes it through the helper, gives up on it, and /healthz, /status and the reconcile loop keep answering', async () => {
    const mountBefore = hungMount();
    expect(mountBefore?.fsType).toBe('fuse.lxcfs');
    await agent.waitStatus(() => true, 'status');
    // The probe of the hung mount times out in the helper (killed), not in the agent.
    const deadline = Date.now() + 60000;
    let metrics = '';
    while (!/lxcfs_kit_agent_hung_probes_total [1-9]/.test(metrics)) {
      if (Date.now() > deadline) throw new Error(`no hung probe reported:\n${agent.logTail()}`);
      metrics = (await agent.http('/metrics')).body;
    }
    const health = await agent.http('/healthz');
    expect(health).toEqual({ code: 200, body: 'ok\n' });
    const s0 = await agent.status();
    await agent.waitStatus((s) => s.reconciles >= s0.reconciles + 3, 'three more reconciles while the hung mount exists', 60000);
    expect((await agent.http('/readyz')).code).toBe(200);
    expect(hungMount()).toEqual(mountBefore);
  });

  it('kill -9 of lxcfs with the hung mount present: the honest container heals, the hung mount is left alone', async () => {
    const before = await agent.status();
    const mountBefore = hungMount();
    process.kill(before.lxcfsPid as number, 'SIGKILL');
    await agent.waitStatus(
      (s) => s.ready && s.lxcfsPid !== null && s.lxcfsPid !== before.lxcfsPid && s.reconciles > before.reconciles && (s.lastReconcile?.failed ?? 1) === 0,
      'a new lxcfs and a clean reconcile after the kill',
      60000,
    );
    expect(await container.view()).toEqual(EXPECTED_VIEW);
    expect((await agent.http('/healthz')).code).toBe(200);
    expect(hungMount()).toEqual(mountBefore);
    expect(agent.logTail(200)).toMatch(/does not answer .*leaving its mounts alone/);
  });
});

describeE2E('a hung lxcfs already at the lxcfs path when the agent starts (real lxcfs, runc, agent; a FUSE connection nobody serves)', () => {
  let env: E2EEnv;
  let fuseFd = -1;

  beforeAll(() => {
    env = new E2EEnv('hungpath');
    fuseFd = fs.openSync('/dev/fuse', 'r+');
    // What a frozen lxcfs leaves: a live FUSE connection at the host path that answers nothing.
    const r = spawnSync('mount', ['-i', '-t', 'fuse.lxcfs', '-o', 'fd=3,rootmode=40000,user_id=0,group_id=0,allow_other', 'lxcfs', env.lxcfsPath], {
      stdio: ['ignore', 'inherit', 'inherit', fuseFd],
    });
    expect(r.status).toBe(0);
  }, 120000);

  afterAll(async () => {
    // First end the connection (anything waiting on it gets an error), then clean up.
    if (fuseFd >= 0) fs.closeSync(fuseFd);
    await env?.cleanup();
  }, 120000);

  it('the agent starts without touching it from its own thread, takes the path over, and containers read lxcfs', async () => {
    const agent = env.startAgent();
    await agent.waitReady(60000);
    expect((await agent.http('/healthz')).code).toBe(200);
    // Read in a child with a deadline: if the hung mount were still there, this test process must not hang.
    const read = spawnSync('cat', [path.join(env.lxcfsPath, 'proc/meminfo')], { encoding: 'utf8', timeout: 10000 });
    expect(read.stdout).toMatch(/^MemTotal:/);
    const c = await env.runc.run('after-hung-path', 'exec sleep 1000000');
    expect(await c.view()).toEqual(EXPECTED_VIEW);
    expect(agent.logTail(200)).toMatch(/taking over .* \(it does not answer\)/);
  });
});
