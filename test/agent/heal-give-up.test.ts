/**
 * Healing gives up on a mount it failed to re-attach three times, and only on that one
 * (docs/failure-modes.md, "healing gave up on a mount"). No root: the scan of /proc and
 * the native helper's answers are simulated; the retry bookkeeping, the gauge, the
 * log line and the plan are the agent's own code.
 */
import { Healer, MAX_TARGET_FAILURES } from '../../lib/agent/heal';
import { HelperResult, MountHelper } from '../../lib/agent/helper';
import { AgentMetrics } from '../../lib/agent/metrics';
import { MountEntry } from '../../lib/agent/mountinfo';
import { decodeRequests, EncodedRequests, HelperRequest } from '../../lib/agent/protocol';
import { NamespaceMounts, NamespaceSource, ScanResult } from '../../lib/agent/scan';

let scan: ScanResult = { namespacesScanned: 0, withLxcfs: [] };
jest.mock('../../lib/agent/scan', () => ({
  ...jest.requireActual<typeof import('../../lib/agent/scan')>('../../lib/agent/scan'),
  scanNamespaces: (): ScanResult => scan,
  // A pass reads namespaces one at a time (scan.ts scanLazily); the table bytes stand for the mount table.
  scanLazily: (): { namespacesScanned: number; namespaces: NamespaceSource[] } => ({
    namespacesScanned: scan.namespacesScanned,
    namespaces: scan.withLxcfs.map((ns) => ({ namespace: ns.namespace, table: Buffer.from(JSON.stringify(ns.mounts)), parse: () => ns })),
  }),
}));

/** A helper whose answers are scripted: every probed lxcfs is dead; re-attaching fails in the namespaces named. */
class ScriptedHelper extends MountHelper {
  readonly sent: HelperRequest[] = [];
  constructor(private readonly refusingNamespaces: ReadonlySet<bigint>) {
    super('/nonexistent/lxcfs-kit-remount');
  }
  // Every batch, encoded by run() or by the index, arrives here: read it as the helper would.
  override runEncoded(batch: EncodedRequests): Promise<HelperResult[]> {
    const requests = decodeRequests(batch.bytes);
    this.sent.push(...requests);
    return Promise.resolve(requests.map((request): HelperResult => {
      if (request.mode === 'check') return { result: 'ok', how: 'dead', errno: 0, message: '' };
      if (this.refusingNamespaces.has(request.namespaceInode)) return { result: 'err', how: 'move_mount', errno: 1, message: 'Operation not permitted' };
      return { result: 'ok', how: 'beneath', errno: 0, message: '' };
    }));
  }
}

let nextId = 100;
function lxcfsMount(mountPoint: string): MountEntry {
  return { mountId: nextId++, parentId: 1, device: '0:60', root: mountPoint, mountPoint, options: ['ro', 'nosuid'], fsType: 'fuse.lxcfs', source: 'lxcfs', exact: true };
}
function container(inode: number, pid: number): NamespaceMounts {
  return { namespace: `mnt:[${inode}]`, members: [pid], pids: [pid], mounts: [lxcfsMount('/proc/meminfo')] };
}

describe('healing gives up on a mount after repeated failures (simulated /proc scan and helper answers)', () => {
  const refusing = container(5, 4242);
  const healthy = container(6, 4343);
  const instance = { device: '0:99', mountDir: '/run/lxcfs-kit/instances/1/mnt', fsSource: 'lxcfs-kit-1' };
  const logs: string[] = [];
  const levels = new Map<string, string>();
  const metrics = new AgentMetrics();
  const helper = new ScriptedHelper(new Set([5n]));
  const healer = new Healer({
    helper,
    metrics,
    log: (line, _fields, level = 'info') => {
      logs.push(line);
      levels.set(line, level);
    },
    lxcfsPath: '/var/lib/lxcfs',
    instancesDir: '/run/lxcfs-kit/instances',
    ownNamespace: 'mnt:[1]',
    takeover: new Map(),
  });
  const pass = () => healer.heal(instance, new Set(['mnt:[1]']));
  const attachesTo = (inode: bigint) => helper.sent.filter((r) => r.mode === 'replace' && r.namespaceInode === inode).length;

  test(`tries a failing mount ${MAX_TARGET_FAILURES} times, then gives up on it, says so and counts it`, async () => {
    scan = { namespacesScanned: 2, withLxcfs: [refusing] };
    for (let attempt = 1; attempt < MAX_TARGET_FAILURES; attempt++) {
      const r = await pass();
      expect(r).toMatchObject({ failed: 1, pending: 1, givenUp: 0 });
    }
    expect(await pass()).toMatchObject({ failed: 1, pending: 0, givenUp: 1 });
    expect(metrics.mountsGivenUp.get()).toBe(1);
    expect(logs.filter((l) => l.startsWith('giving up on "/proc/meminfo" in mnt:[5] after 3 failed attempts'))).toHaveLength(1);
    // Giving up needs a person (recreate the pod): an error, where each failed attempt before it is a warning.
    expect(logs.filter((l) => l.startsWith('giving up on')).map((l) => levels.get(l))).toEqual(['error']);
    expect(new Set(logs.filter((l) => l.startsWith('cannot re-attach')).map((l) => levels.get(l)))).toEqual(new Set(['warn']));
    expect(attachesTo(5n)).toBe(MAX_TARGET_FAILURES);
  });

  test('a mount given up on is not tried again, while other containers still heal', async () => {
    scan = { namespacesScanned: 2, withLxcfs: [refusing, healthy] };
    const r = await pass();
    expect(r).toMatchObject({ healed: 1, failed: 0, givenUp: 1 });
    expect(attachesTo(5n)).toBe(MAX_TARGET_FAILURES);
    expect(attachesTo(6n)).toBe(1);
    expect(metrics.mountsGivenUp.get()).toBe(1);
  });

  test('once its container is gone (the pod was recreated) the gauge drops back to zero', async () => {
    scan = { namespacesScanned: 1, withLxcfs: [healthy] };
    expect(await pass()).toMatchObject({ givenUp: 0 });
    expect(metrics.mountsGivenUp.get()).toBe(0);
  });
});
