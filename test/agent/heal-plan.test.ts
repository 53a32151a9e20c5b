/** Heal planning from mountinfo (pure, no root). */
import { checkRequest, nextProbes, PlanContext, planNamespace, replaceRequest } from '../../lib/agent/heal-plan';
import { MountEntry } from '../../lib/agent/mountinfo';
import { NamespaceMounts } from '../../lib/agent/scan';

let nextId = 100;
function mount(mountPoint: string, over: Partial<MountEntry> = {}): MountEntry {
  return { mountId: nextId++, parentId: 1, device: '0:60', root: mountPoint, mountPoint, options: ['ro', 'nosuid'], fsType: 'fuse.lxcfs', source: 'lxcfs', exact: true, ...over };
}
function ns(namespace: string, mounts: MountEntry[], pids = [4242, 4243]): NamespaceMounts {
  return { namespace, members: pids, pids, mounts };
}

const ctx: PlanContext = {
  ownDevice: '0:99',
  takeover: new Map([['0:70', 'lxcfs']]),
  instancesDir: '/run/lxcfs-kit/instances',
  lxcfsPath: '/var/lib/lxcfs',
  agentNamespaces: new Set(['mnt:[1]']),
};

describe('planNamespace', () => {
  test('a mount on another lxcfs is probed; on ours nothing; on a predecessor being taken over, re-attached', () => {
    const other = mount('/proc/meminfo');
    const ours = mount('/proc/cpuinfo', { device: '0:99' });
    const old = mount('/proc/stat', { device: '0:70' });
    const plan = planNamespace(ns('mnt:[5]', [other, ours, old]), ctx);
    expect(plan.probe.map((c) => c.mount)).toEqual([other]);
    expect(plan.takeover.map((c) => c.mount)).toEqual([old]);
    expect(plan.refused).toEqual([]);
    expect(plan.probe[0].key).toBe(`mnt:[5] ${other.mountId}`);
  });

  test('mounts on our own lxcfs are listed as own (the index), except hidden, out-of-scope, instance, host-path and inexpressible ones', () => {
    const ours = mount('/proc/cpuinfo', { device: '0:99' });
    const hidden = mount('/proc/meminfo', { device: '0:99' });
    const cover = mount('/proc/meminfo', { parentId: hidden.mountId, fsType: 'tmpfs', root: '/', source: 'tmpfs' });
    const instance = mount('/run/lxcfs-kit/instances/1/mnt', { device: '0:99', root: '/' });
    const inexact = mount('/proc/stat', { device: '0:99', exact: false });
    const hostile = mount('/proc/uptime', { device: '0:99', root: '/../../etc/shadow' });
    expect(planNamespace(ns('mnt:[5]', [ours, hidden, cover, instance, inexact, hostile]), ctx).own.map((c) => c.mount)).toEqual([ours]);
    // The host path in the agent's namespace is the agent's own business (mount-ops.ts).
    const hostPath = mount('/var/lib/lxcfs', { device: '0:99', root: '/' });
    expect(planNamespace(ns('mnt:[1]', [hostPath]), ctx).own).toEqual([]);
    // Out of the heal scope: not ours to index either.
    expect(planNamespace(ns('mnt:[5]', [ours]), { ...ctx, scopeSource: 'lxcfs-kit-other' }).own).toEqual([]);
    // Never refused while healthy: a refusal is decided (and logged) if it ever needs healing.
    expect(planNamespace(ns('mnt:[5]', [inexact, hostile]), ctx).refused).toEqual([]);
  });

  test("a container's own file stacked over its lxcfs file is left alone (the lxcfs mount beneath is not planned)", () => {
    const lxcfs = mount('/proc/meminfo');
    const own = mount('/proc/meminfo', { parentId: lxcfs.mountId, fsType: 'ext4', root: '/my-meminfo', source: '/dev/sda' });
    const plan = planNamespace(ns('mnt:[6]', [lxcfs, own]), ctx);
    expect([...plan.probe, ...plan.takeover]).toEqual([]);
  });

  test('an lxcfs mount stacked over the container\'s own file is planned (it is the visible one)', () => {
    const own = mount('/proc/meminfo', { fsType: 'ext4', root: '/x', source: '/dev/sda' });
    const lxcfs = mount('/proc/meminfo', { parentId: own.mountId });
    expect(planNamespace(ns('mnt:[7]', [own, lxcfs]), ctx).probe.map((c) => c.mount)).toEqual([lxcfs]);
  });

  test('names that cannot be expressed exactly, or roots lxcfs never serves, are refused with a reason', () => {
    const inexact = mount('/proc/\xff', { exact: false });
    const long = mount(`/${'a'.repeat(5000)}`);
    const weirdRoot = mount('/proc/meminfo2', { root: '/../../etc' });
    const plan = planNamespace(ns('mnt:[8]', [inexact, long, weirdRoot]), ctx);
    expect(plan.refused.map((r) => r.reason)).toEqual([
      expect.stringMatching(/not valid UTF-8/),
      expect.stringMatching(/canonical/),
      expect.stringMatching(/not a file lxcfs serves/),
    ]);
    expect(plan.probe).toEqual([]);
  });

  test('hostile but exact names (newline, tab, protocol look-alikes) are planned as data', () => {
    const hostile = mount('/x\nreplace\t1\t/etc \\', { root: '/proc/meminfo' });
    const [c] = planNamespace(ns('mnt:[9]', [hostile]), ctx).probe;
    const r = replaceRequest(c, 9n, '/run/lxcfs-kit/instances/a/mnt');
    expect(r).toEqual({
      mode: 'replace',
      pids: [4242, 4243],
      namespaceInode: 9n,
      mountId: hostile.mountId,
      // The helper acts only on exactly this mount: its ID, and its device (IDs are reused).
      device: '0:60',
      source: '/run/lxcfs-kit/instances/a/mnt/proc/meminfo',
      target: '/x\nreplace\t1\t/etc \\',
      attributes: ['ro', 'nosuid'],
    });
  });

  test('other lxcfs setups (scope), agents\' private instances and the host path in the agent\'s namespace are skipped', () => {
    const foreign = mount('/proc/meminfo', { source: 'other' });
    const instance = mount('/run/lxcfs-kit/instances/x/mnt', { root: '/' });
    const hostPath = mount('/var/lib/lxcfs', { root: '/' });
    expect(planNamespace(ns('mnt:[1]', [foreign, instance, hostPath]), { ...ctx, scopeSource: 'lxcfs-kit-abc' }).probe).toEqual([]);
    // The same host path inside a container is the container's mount.
    expect(planNamespace(ns('mnt:[2]', [hostPath]), ctx).probe).toHaveLength(1);
  });
});

describe('probes', () => {
  test('one probe per device, skipping decided devices and tried candidates', () => {
    const a1 = mount('/proc/meminfo', { device: '0:61' });
    const a2 = mount('/proc/cpuinfo', { device: '0:61' });
    const b = mount('/proc/stat', { device: '0:62' });
    const cands = planNamespace(ns('mnt:[3]', [a1, a2, b]), ctx).probe;
    expect(nextProbes(cands, new Set(), new Set()).map((c) => c.mount)).toEqual([a1, b]);
    expect(nextProbes(cands, new Set(['0:62 lxcfs']), new Set([cands[0].key])).map((c) => c.mount)).toEqual([a2]);
    expect(checkRequest(cands[0], 3n)).toMatchObject({ mode: 'check', source: '', attributes: [], mountId: a1.mountId, target: '/proc/meminfo' });
  });
});
