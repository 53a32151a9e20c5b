/**
 * Issue 16: the agent's CSI node plugin, with the test playing the kubelet over the real
 * sockets (there is no kubelet here; the client is grpc-js, an independent gRPC stack):
 * registration handshake, NodeGetInfo, NodePublishVolume while lxcfs does not serve yet
 * (retryable UNAVAILABLE) and once it does, then real runc containers whose lxcfs files are
 * the kubelet's subPath bind mounts from the published target; kill -9 of lxcfs heals every
 * file; a rolling handover shows zero failed reads; NodeUnpublishVolume leaves no mount.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { CSI_DRIVER_NAME } from '../../lib/contract';
import { csiSockets } from '../../lib/csi/plugin';
import { callPlugin, CallError, GRPC_STATUS, publishRequest } from '../csi/kubelet-client';
import { AgentProcess, sleep } from './support/agent-process';
import { bindSubPaths, CsiPodVolume, csiPodVolume, prepareVolumeDir, runtimeMounts, unbindSubPaths } from './support/csi-kubelet';
import { E2EEnv } from './support/env';
import { describeE2E } from './support/prereqs';
import { READER_SCRIPT, ReaderLog } from './support/readers';
import { Container, EXPECTED_VIEW, mapLimit } from './support/runc';

const PODS = 3;
const NODE = 'node-csi-e2e';

async function expectCallError(p: Promise<unknown>): Promise<CallError> {
  try {
    await p;
  } catch (err) {
    return err as CallError;
  }
  throw new Error('the call succeeded');
}

/**
 * Where the agent runs: in the test's (the host's) mount namespace, or in a mount namespace of
 * its own whose view of the kubelet directory is a shared peer of the host's, as the DaemonSet's
 * container with its Bidirectional mount of the pods directory.
 */
const TOPOLOGIES = [
  { name: 'agent in the host mount namespace', ownNamespace: false },
  { name: 'agent in its own mount namespace, kubelet directory shared with the host (the DaemonSet\'s Bidirectional mount)', ownNamespace: true },
] as const;

describe.each(TOPOLOGIES)('$name', ({ ownNamespace }) => {
describeE2E('CSI node plugin served by the agent (test plays the kubelet; real lxcfs, real runc)', () => {
  let env: E2EEnv;
  let agent: AgentProcess;
  let kubeletDir: string;
  let gate: string;
  const volumes: CsiPodVolume[] = [];
  const containers: Container[] = [];
  const logs = new Map<string, ReaderLog>();

  const wrapper = ownNamespace ? ['unshare', '--mount', '--propagation', 'unchanged'] : undefined;
  const agentArgs = (): string[] => ['--reconcile-interval=5', '--heal-scope=state-dir', '--csi', `--kubelet-dir=${kubeletDir}`, `--node-name=${NODE}`, `--lxcfs-binary=${path.join(env.dir, 'gated-lxcfs')}`];
  const sockets = (): ReturnType<typeof csiSockets> => csiSockets(kubeletDir);
  /** fuse.lxcfs mounts below the kubelet directory, in this (the host's) namespace. */
  const kubeletMounts = (): string[] => env.hostLxcfsMounts().filter((l) => l.split(' ')[4].startsWith(`${kubeletDir}/`));

  beforeAll(() => {
    env = new E2EEnv(ownNamespace ? 'csi-ns' : 'csi');
    kubeletDir = path.join(env.dir, 'kubelet');
    fs.mkdirSync(path.join(kubeletDir, 'pods'), { recursive: true });
    if (ownNamespace) {
      // The host side of a Bidirectional mount: a shared mount the agent's namespace is a peer of.
      execFileSync('mount', ['--bind', kubeletDir, kubeletDir]);
      execFileSync('mount', ['--make-rshared', kubeletDir]);
    }
    // lxcfs starts only once the gate file exists, so "publish while lxcfs does not serve" is a state, not a race.
    gate = path.join(env.dir, 'lxcfs-gate');
    const wrapper = path.join(env.dir, 'gated-lxcfs');
    fs.writeFileSync(wrapper, `#!/bin/sh\ncase "$1" in --version|--help) exec lxcfs "$@";; esac\nwhile [ ! -e '${gate}' ]; do sleep 0.05; done\nexec lxcfs "$@"\n`, { mode: 0o755 });
    for (let i = 0; i < PODS; i++) volumes.push(csiPodVolume(kubeletDir, `0000000${i}-csi0-4e2e-8000-00000000000${i}`));
  });

  afterAll(async () => {
    for (const v of volumes) {
      for (const s of v.subPaths) {
        try {
          fs.rmSync(s.hostFile); // only succeeds when nothing is mounted there any more
        } catch {
          // env.cleanup detaches what is left
        }
      }
    }
    if (ownNamespace && env) {
      for (const a of env.agents) await a.stop(5000).catch(() => undefined);
      await env.runc.cleanup();
      try {
        execFileSync('umount', ['-l', kubeletDir]);
      } catch {
        // not mounted
      }
    }
    await env?.cleanup();
  }, 120000);

  it('registers with the kubelet through the registration socket and answers Identity and NodeGetInfo', async () => {
    fs.writeFileSync(path.join(env.dir, 'no-gate-yet'), '');
    agent = env.startAgent({ extraArgs: agentArgs(), wrapper });
    if (ownNamespace) await waitFor(() => readNs(agent.pid) !== undefined && readNs(agent.pid) !== readNs(process.pid), 'agent in its own mount namespace');
    const deadline = Date.now() + 30000;
    // The kubelet's plugin watcher reacts to the socket appearing in plugins_registry.
    while (!fs.existsSync(sockets().registration) && Date.now() < deadline) await sleep(20);
    const info = await callPlugin(sockets().registration, 'Registration', 'GetInfo', {});
    expect(info).toEqual({ type: 'CSIPlugin', name: CSI_DRIVER_NAME, endpoint: sockets().endpoint, supported_versions: ['1.0.0'] });
    expect(await callPlugin(sockets().registration, 'Registration', 'NotifyRegistrationStatus', { plugin_registered: true, error: '' })).toEqual({});
    await waitFor(() => agent.logTail(50).includes(`the kubelet registered driver ${CSI_DRIVER_NAME}`), 'registration logged');

    // What the kubelet's CSI client asks right after registration.
    expect(await callPlugin(sockets().endpoint, 'Node', 'NodeGetInfo', {})).toMatchObject({ node_id: NODE });
    expect(await callPlugin(sockets().endpoint, 'Identity', 'GetPluginInfo', {})).toMatchObject({ name: CSI_DRIVER_NAME });
    expect(await callPlugin(sockets().endpoint, 'Node', 'NodeGetCapabilities', {})).toEqual({ capabilities: [] });
    expect(await callPlugin(sockets().endpoint, 'Identity', 'GetPluginCapabilities', {})).toEqual({ capabilities: [] });
    // No STAGE_UNSTAGE_VOLUME capability: staging is not served.
    expect((await expectCallError(callPlugin(sockets().endpoint, 'Node', 'NodeStageVolume', { volume_id: 'x' }))).code).toBe(GRPC_STATUS.UNIMPLEMENTED);
  }, 60000);

  it('NodePublishVolume while lxcfs does not serve answers UNAVAILABLE (the kubelet retries), then publishes read-only once it serves; repeating it is a no-op', async () => {
    const v = volumes[0];
    prepareVolumeDir(v);
    expect(await callPlugin(sockets().endpoint, 'Identity', 'Probe', {})).toEqual({ ready: { value: false } });
    const early = await expectCallError(callPlugin(sockets().endpoint, 'Node', 'NodePublishVolume', publishRequest(v.volumeId, v.targetPath)));
    expect(early.code).toBe(GRPC_STATUS.UNAVAILABLE);
    expect(early.details).toMatch(/lxcfs does not serve/);
    expect(kubeletMounts()).toEqual([]);

    fs.writeFileSync(gate, '');
    await agent.waitReady(60000);
    // The kubelet's retry loop: call again until it succeeds.
    const deadline = Date.now() + 60000;
    for (;;) {
      const r = await callPlugin(sockets().endpoint, 'Node', 'NodePublishVolume', publishRequest(v.volumeId, v.targetPath)).then(
        () => undefined,
        (e: CallError) => e,
      );
      if (r === undefined) break;
      expect(r.code).toBe(GRPC_STATUS.UNAVAILABLE);
      if (Date.now() > deadline) throw new Error(`publish kept failing for 60 s after the agent was ready: ${r.details}`);
      await sleep(50);
    }
    expect(await callPlugin(sockets().endpoint, 'Identity', 'Probe', {})).toEqual({ ready: { value: true } });
    for (const other of volumes.slice(1)) {
      prepareVolumeDir(other);
      await callPlugin(sockets().endpoint, 'Node', 'NodePublishVolume', publishRequest(other.volumeId, other.targetPath));
    }
    // Idempotent: the same call again changes nothing.
    const before = kubeletMounts();
    await callPlugin(sockets().endpoint, 'Node', 'NodePublishVolume', publishRequest(v.volumeId, v.targetPath));
    expect(kubeletMounts()).toEqual(before);
    expect(before.length).toBe(PODS);
    for (const line of before) expect(line.split(' ')[5].split(',')).toContain('ro');
    expect(fs.readFileSync(path.join(v.targetPath, 'proc/meminfo'), 'utf8')).toMatch(/^MemTotal:/);
    expect(() => fs.writeFileSync(path.join(v.targetPath, 'proc/meminfo'), 'x')).toThrow(/EROFS|read-only/);
  }, 120000);

  it('refuses target paths outside the pods directory, with traversal, or without a volume id, and mounts nothing', async () => {
    const bad = [
      publishRequest('v', path.join(env.dir, 'elsewhere')),
      publishRequest('v', `${kubeletDir}/pods/../plugins/x`),
      publishRequest('v', 'relative/pods/x'),
      publishRequest('', `${kubeletDir}/pods/p/volumes/kubernetes.io~csi/v/mount`),
      { ...publishRequest('v', `${kubeletDir}/pods/p/volumes/kubernetes.io~csi/v/mount`), volume_capability: { block: {} } },
    ];
    const before = kubeletMounts();
    for (const req of bad) expect((await expectCallError(callPlugin(sockets().endpoint, 'Node', 'NodePublishVolume', req))).code).toBe(GRPC_STATUS.INVALID_ARGUMENT);
    // A symlink planted along the way does not lead the mount elsewhere.
    const podDir = path.join(kubeletDir, 'pods', 'linked');
    fs.mkdirSync(path.join(podDir, 'volumes'), { recursive: true });
    fs.symlinkSync(env.dir, path.join(podDir, 'volumes', 'kubernetes.io~csi'));
    const viaLink = await expectCallError(callPlugin(sockets().endpoint, 'Node', 'NodePublishVolume', publishRequest('v', path.join(podDir, 'volumes', 'kubernetes.io~csi', 'mount'))));
    expect(viaLink.code).toBe(GRPC_STATUS.INVALID_ARGUMENT);
    fs.rmSync(podDir, { recursive: true });
    expect(kubeletMounts()).toEqual(before);
  }, 60000);

  it('containers read their limits through the subPath mounts; after kill -9 of lxcfs every file heals (targets, subPath mounts, container mounts)', async () => {
    for (const v of volumes) bindSubPaths(v);
    const started = await mapLimit(volumes, 3, (v) => {
      const id = `csi-${v.podUid.slice(0, 8)}`;
      logs.set(id, new ReaderLog(id));
      return env.runc.run(id, READER_SCRIPT, (line) => logs.get(id)?.line(line), runtimeMounts(v));
    });
    containers.push(...started);
    for (const c of containers) expect(await c.view()).toEqual(EXPECTED_VIEW);
    await readersAdvance();

    const before = await agent.status();
    process.kill(before.lxcfsPid as number, 'SIGKILL');
    const healed = await agent.waitStatus(
      (s) => s.ready && s.lxcfsPid !== null && s.lxcfsPid !== before.lxcfsPid && s.reconciles > before.reconciles && (s.lastReconcile?.failed ?? 1) === 0,
      'lxcfs restarted and every mount re-attached',
      60000,
    );
    for (const c of containers) expect(await c.view()).toEqual(EXPECTED_VIEW);
    for (const c of containers) {
      const r = await c.exec(volumes[0].subPaths.map((s) => `cat ${s.mountPath} >/dev/null || echo FAIL ${s.mountPath}`).join('; '));
      expect(r.stdout + r.stderr).not.toMatch(/FAIL|not connected/);
    }
    // Every kubelet-side mount (published targets and subPath mount points) is on the new lxcfs.
    const mounts = kubeletMounts();
    expect(mounts.length).toBe(PODS * (1 + volumes[0].subPaths.length));
    expect(new Set(mounts.map((l) => l.split(' ')[2]))).toEqual(new Set([healed.lxcfsDevice]));
    for (const v of volumes) {
      expect(fs.readFileSync(path.join(v.targetPath, 'proc/meminfo'), 'utf8')).toMatch(/^MemTotal:/);
      for (const s of v.subPaths) fs.readFileSync(s.hostFile);
    }
    await readersAdvance();
  }, 180000);

  it('a rolling handover to a new agent moves every CSI mount with zero failed reads; the new agent serves the plugin sockets', async () => {
    for (const [id] of logs) logs.set(id, new ReaderLog(id));
    await readersAdvance();
    const next = env.startAgent({ extraArgs: [...agentArgs(), `--ready-file=${path.join(env.dir, 'ready-next')}`], wrapper });
    const ready = await next.waitReady(60000);
    expect(await agent.stop()).toBe(0);
    agent = next;
    await readersAdvance();
    for (const l of logs.values()) l.finish();
    expect([...logs.values()].flatMap((l) => l.failures)).toEqual([]);
    expect([...logs.values()].reduce((n, l) => n + l.failedReads, 0)).toBe(0);
    expect(new Set(kubeletMounts().map((l) => l.split(' ')[2]))).toEqual(new Set([ready.lxcfsDevice]));
    // The old agent left the successor's sockets in place; the kubelet reaches the new one.
    expect(await callPlugin(sockets().registration, 'Registration', 'GetInfo', {})).toMatchObject({ name: CSI_DRIVER_NAME });
    expect(await callPlugin(sockets().endpoint, 'Identity', 'Probe', {})).toEqual({ ready: { value: true } });
  }, 180000);

  it('NodeUnpublishVolume after pod teardown removes the target and leaves no mount; repeating it succeeds', async () => {
    for (const c of containers) await env.runc.runc(['delete', '--force', c.id]);
    for (const c of containers) env.runc.containers.delete(c.id);
    for (const v of volumes) unbindSubPaths(v);
    for (const v of volumes) {
      await callPlugin(sockets().endpoint, 'Node', 'NodeUnpublishVolume', { volume_id: v.volumeId, target_path: v.targetPath });
      expect(fs.existsSync(v.targetPath)).toBe(false);
      await callPlugin(sockets().endpoint, 'Node', 'NodeUnpublishVolume', { volume_id: v.volumeId, target_path: v.targetPath });
    }
    expect(kubeletMounts()).toEqual([]);
    const all = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(`${kubeletDir}/`));
    expect(all).toEqual([]);
  }, 60000);

  async function readersAdvance(): Promise<void> {
    const before = new Map([...logs].map(([id, l]) => [id, l.reads]));
    await waitFor(() => [...logs].every(([id, l]) => l.reads > (before.get(id) ?? 0) + 10), 'every reader advanced', 30000);
  }

  function readNs(pid: number): string | undefined {
    try {
      return fs.readlinkSync(`/proc/${pid}/ns/mnt`);
    } catch {
      return undefined;
    }
  }

  async function waitFor(cond: () => boolean, what: string, timeoutMs = 30000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms\n${agent?.logTail(20) ?? ''}`);
      await sleep(20);
    }
  }
});
});
