/** The node state shared by an old and a new agent: serving record and reconcile lock (no root). */
import { fork } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { NodeState, ServingRecord } from '../../lib/agent/state';

describe('NodeState', () => {
  let dir: string;
  let state: NodeState;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-state-'));
    state = new NodeState(dir);
    state.ensure();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const record: ServingRecord = { pid: process.pid, instance: 'i-1', device: '0:60', source: 'lxcfs-kit-abc', lxcfsPath: '/var/lib/lxcfs', since: 'now', attached: false };

  test('the serving record round-trips, and only its own instance clears it', () => {
    expect(state.readServing()).toBeUndefined();
    state.writeServing(record);
    expect(state.readServing()).toEqual(record);
    state.clearServing('i-2');
    expect(state.readServing()).toEqual(record);
    state.clearServing('i-1');
    expect(state.readServing()).toBeUndefined();
  });

  test('a corrupt or foreign serving file reads as nobody serving', () => {
    fs.writeFileSync(path.join(dir, 'serving.json'), '{"pid":"1"}');
    expect(state.readServing()).toBeUndefined();
    fs.writeFileSync(path.join(dir, 'serving.json'), 'not json');
    expect(state.readServing()).toBeUndefined();
  });

  test('a lock held by another live agent is waited for; once that agent is gone it is taken', async () => {
    // Another agent (a live process) holds the lock until it exits.
    const holder = fork('-e', ['setTimeout(() => {}, 400)'], { execArgv: [], stdio: 'ignore' });
    const exited = new Promise<number>((r) => holder.on('exit', () => r(Date.now())));
    fs.writeFileSync(path.join(dir, 'reconcile.lock'), String(holder.pid));
    const ranAt = await state.withLock(() => Promise.resolve(Date.now()), 15000);
    expect(ranAt).toBeGreaterThanOrEqual(await exited);
  });

  test('a lock left by a process that died is broken', async () => {
    // A pid that certainly exited: a child we waited for.
    const child = fork('-e', ['0'], { execArgv: [], stdio: 'ignore' });
    const deadPid = child.pid ?? -1;
    await new Promise((r) => child.on('exit', r));
    fs.writeFileSync(path.join(dir, 'reconcile.lock'), String(deadPid));
    await expect(state.withLock(() => Promise.resolve('got it'), 2000)).resolves.toBe('got it');
    expect(fs.existsSync(path.join(dir, 'reconcile.lock'))).toBe(false);
  });

  test('a lock held by a live process past the deadline is reported with its holder', async () => {
    fs.writeFileSync(path.join(dir, 'reconcile.lock'), '1');
    await expect(state.withLock(() => Promise.resolve('never'), 100)).rejects.toThrow(/held by process 1/);
  });

  test('agents announce themselves; files of dead agents are removed', async () => {
    state.registerAgent(123);
    expect(state.otherAgents()).toEqual([]);
    fs.writeFileSync(path.join(dir, 'agents', '1'), '456');
    const child = fork('-e', ['0'], { execArgv: [], stdio: 'ignore' });
    await new Promise((r) => child.on('exit', r));
    fs.writeFileSync(path.join(dir, 'agents', String(child.pid)), '789');
    expect(state.otherAgents()).toEqual([{ pid: 1, startedAt: 456 }]);
    expect(fs.existsSync(path.join(dir, 'agents', String(child.pid)))).toBe(false);
    state.unregisterAgent();
  });
});
