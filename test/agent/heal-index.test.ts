/**
 * The index: after a restart of the agent's own lxcfs, the mounts an earlier pass saw on it are
 * re-attached before any mount table is read, and whatever that could not do is left to the scan
 * that follows. No root: the scan of /proc and the native helper's answers are simulated (the
 * helper's side, naming the mount it attached, is proven on a real namespace in
 * test/e2e/namespace-entry.test.ts); the index, the plan and the accounting are the agent's own code.
 */
import { Healer, NAMESPACES_PER_COLLECTION } from '../../lib/agent/heal';
import { replaceRequest } from '../../lib/agent/heal-plan';
import { HelperResult, MountHelper } from '../../lib/agent/helper';
import { AgentMetrics } from '../../lib/agent/metrics';
import { MountEntry } from '../../lib/agent/mountinfo';
import { splitByNamespace } from '../../lib/agent/mount-index';
import { decodeRequests, EncodedRequests, HelperRequest, namespaceInode } from '../../lib/agent/protocol';
import { NamespaceMounts, NamespaceSource, ScanResult } from '../../lib/agent/scan';

/** What happened, in order: `scan` when a pass starts reading mount tables, `helper` per helper run. */
const events: string[] = [];
let scan: ScanResult = { namespacesScanned: 0, withLxcfs: [] };
jest.mock('../../lib/agent/scan', () => ({
  ...jest.requireActual<typeof import('../../lib/agent/scan')>('../../lib/agent/scan'),
  scanNamespaces: (): ScanResult => scan,
  scanLazily: (): { namespacesScanned: number; namespaces: NamespaceSource[] } => {
    events.push('scan');
    return {
      namespacesScanned: scan.namespacesScanned,
      namespaces: scan.withLxcfs.map((ns) => ({ namespace: ns.namespace, table: Buffer.from(JSON.stringify(ns.mounts)), parse: () => ns })),
    };
  },
}));

type Answer = (request: HelperRequest) => HelperResult;

/** Attaches as a kernel would: each re-attach gets a fresh mount ID, named in the answer (as the real helper does). */
class ScriptedHelper extends MountHelper {
  readonly sent: HelperRequest[][] = [];
  private nextMountId = 5000;
  answer: Answer = () => ({ result: 'ok', how: 'beneath', errno: 0, message: String(this.nextMountId++) });
  constructor() {
    super('/nonexistent/lxcfs-kit-remount');
  }
  // Every batch, encoded by run() or by the index, arrives here: read it as the helper would.
  override runEncoded(batch: EncodedRequests): Promise<HelperResult[]> {
    const requests = decodeRequests(batch.bytes);
    expect(requests).toHaveLength(batch.count);
    events.push(`helper ${requests.map((r) => r.mode).join(',')}`);
    this.sent.push(requests);
    return Promise.resolve(requests.map((request) => this.answer(request)));
  }
}

const OLD = { device: '0:98', fsSource: 'lxcfs-kit-1' };
const NEW = { device: '0:99', mountDir: '/run/lxcfs-kit/instances/2/mnt', fsSource: 'lxcfs-kit-1' };

let nextId = 100;
function lxcfsMount(mountPoint: string, device: string): MountEntry {
  return { mountId: nextId++, parentId: 1, device, root: mountPoint, mountPoint, options: ['ro', 'nosuid'], fsType: 'fuse.lxcfs', source: 'lxcfs-kit-1', exact: true };
}
function container(inode: number, device: string, files = ['/proc/meminfo', '/proc/cpuinfo']): NamespaceMounts {
  return { namespace: `mnt:[${inode}]`, members: [inode * 10], pids: [inode * 10], mounts: files.map((f) => lxcfsMount(f, device)) };
}

describe('re-attaching from the index after a restart of our lxcfs (simulated /proc scan and helper answers)', () => {
  let helper: ScriptedHelper;
  let retired: Map<string, string>;
  let healer: Healer;
  let metrics: AgentMetrics;
  const pass = (inst: { device: string; mountDir: string; fsSource: string }) => healer.heal(inst, new Set(['mnt:[1]']));

  beforeEach(() => {
    events.length = 0;
    helper = new ScriptedHelper();
    retired = new Map();
    metrics = new AgentMetrics();
    healer = new Healer({
      helper,
      metrics,
      log: () => undefined,
      lxcfsPath: '/var/lib/lxcfs',
      instancesDir: '/run/lxcfs-kit/instances',
      ownNamespace: 'mnt:[1]',
      takeover: new Map(),
      retired,
    });
  });

  /** A pass while OLD serves: the two containers' four mounts are indexed, nothing is sent. */
  async function indexOnOld(): Promise<NamespaceMounts[]> {
    const cs = [container(5, OLD.device), container(6, OLD.device)];
    scan = { namespacesScanned: 3, withLxcfs: cs };
    const r = await pass({ ...OLD, mountDir: '/run/lxcfs-kit/instances/1/mnt' });
    expect(r).toMatchObject({ indexed: 4, healed: 0, phases: { fromIndex: 0 } });
    expect(helper.sent).toEqual([]);
    retired.set(OLD.device, OLD.fsSource);
    events.length = 0;
    return cs;
  }

  test('every indexed mount is re-attached before any mount table is read, with the ID the scan saw', async () => {
    const cs = await indexOnOld();
    // The scan after the restart sees the re-attached mounts on the new device: nothing left to do.
    scan = { namespacesScanned: 3, withLxcfs: cs.map((c) => ({ ...c, mounts: c.mounts.map((m) => ({ ...m, device: NEW.device, mountId: m.mountId + 1000 })) })) };
    const r = await pass(NEW);
    expect(events[0]).toMatch(/^helper replace/);
    expect(events.indexOf('scan')).toBeGreaterThan(0);
    const sent = helper.sent.flat();
    expect(sent.map((q) => [q.mode, q.pids, q.mountId, q.target, q.source])).toEqual(
      cs.flatMap((c) => c.mounts.map((m) => ['replace', c.pids, m.mountId, m.mountPoint, `${NEW.mountDir}${m.root}`])),
    );
    // Field for field what the planner sends for the same mount (the index encoded it a pass earlier, all but the source).
    expect(sent).toEqual(cs.flatMap((c) => c.mounts.map((m) => replaceRequest({ ns: c, mount: m, key: '' }, namespaceInode(c.namespace) as bigint, NEW.mountDir))));
    expect(r).toMatchObject({ healed: 4, failed: 0, pending: 0, indexed: 4, phases: { fromIndex: 4 } });
    expect(metrics.mountsHealed.get()).toBe(4);
  });

  test('what the index could not re-attach is left to the scan: a mount the container covered stays, a failure is retried once by the scan', async () => {
    const [covered, failing] = await indexOnOld();
    helper.answer = (q) => {
      if (q.namespaceInode === 5n && q.target === '/proc/meminfo') return { result: 'err', how: 'mount-changed', errno: 116, message: 'Stale file handle' };
      if (q.namespaceInode === 6n) return { result: 'err', how: 'move_mount-beneath', errno: 2, message: 'No such file or directory' };
      return { result: 'ok', how: 'beneath', errno: 0, message: '7001' };
    };
    // What the scan then reads: container 5 stacked its own file over its meminfo; container 6 is
    // still on the dead lxcfs.
    const cover: MountEntry = { ...covered.mounts[0], mountId: 900, parentId: covered.mounts[0].mountId, fsType: 'tmpfs', root: '/', source: 'tmpfs' };
    scan = {
      namespacesScanned: 3,
      withLxcfs: [
        { ...covered, mounts: [covered.mounts[0], cover, { ...covered.mounts[1], device: NEW.device, mountId: 7001 }] },
        failing,
      ],
    };
    const r = await pass(NEW);
    const sent = helper.sent.flat();
    expect(sent.slice(0, 4).map((q) => q.mountId)).toEqual([...covered.mounts, ...failing.mounts].map((m) => m.mountId));
    // Only container 6's two mounts go to the helper again; the covered file is never touched again.
    expect(sent.slice(4).map((q) => [q.namespaceInode, q.target])).toEqual([
      [6n, '/proc/meminfo'],
      [6n, '/proc/cpuinfo'],
    ]);
    // The first attempt from the index is not counted: the scan's accounting is the one that counts.
    expect(r).toMatchObject({ healed: 1, failed: 2, pending: 2, phases: { fromIndex: 1 } });
    expect(metrics.healFailures.get()).toBe(2);
  });

  test('a mount the scan re-attached is indexed under the ID the helper named, so the next restart needs no scan for it', async () => {
    // No index yet (the container started after the last pass): the scan finds it on the dead lxcfs.
    const c = container(7, OLD.device, ['/proc/meminfo']);
    retired.set(OLD.device, OLD.fsSource);
    scan = { namespacesScanned: 2, withLxcfs: [c] };
    helper.answer = () => ({ result: 'ok', how: 'beneath', errno: 0, message: '4242' });
    expect(await pass(NEW)).toMatchObject({ healed: 1, indexed: 1, phases: { fromIndex: 0 } });

    // NEW dies too; the next lxcfs gets device 0:100.
    retired.set(NEW.device, NEW.fsSource);
    helper.sent.length = 0;
    scan = { namespacesScanned: 2, withLxcfs: [{ ...c, mounts: [{ ...c.mounts[0], device: '0:100', mountId: 4343 }] }] };
    const r = await pass({ device: '0:100', mountDir: '/run/lxcfs-kit/instances/3/mnt', fsSource: 'lxcfs-kit-1' });
    expect(helper.sent[0].map((q) => [q.mode, q.mountId, q.target])).toEqual([['replace', 4242, '/proc/meminfo']]);
    expect(r).toMatchObject({ healed: 1, phases: { fromIndex: 1 } });
  });

  test('hostile mount point names (newline, tab, protocol look-alikes, non-ASCII) come back from the index byte for byte', async () => {
    const names = ['/proc/mem\ninfo', '/x\t0\tok', '/a/replace/1,2/0:61', '/\u00e9t\u00e9/\u2028', `/${'d'.repeat(200)}/f`];
    const c: NamespaceMounts = { ...container(9, OLD.device), mounts: names.map((mountPoint) => ({ ...lxcfsMount('/proc/meminfo', OLD.device), mountPoint })) };
    scan = { namespacesScanned: 2, withLxcfs: [c] };
    expect(await pass({ ...OLD, mountDir: '/run/lxcfs-kit/instances/1/mnt' })).toMatchObject({ indexed: names.length });
    retired.set(OLD.device, OLD.fsSource);
    scan = { namespacesScanned: 2, withLxcfs: [] };
    await pass(NEW);
    expect(helper.sent[0]).toEqual(c.mounts.map((m) => replaceRequest({ ns: c, mount: m, key: '' }, 9n, NEW.mountDir)));
  });

  test('an answer that does not name a mount ID exactly indexes nothing', async () => {
    const c = container(8, OLD.device, ['/proc/meminfo']);
    retired.set(OLD.device, OLD.fsSource);
    for (const message of ['', '0', '-1', '12x', '1e3', ' 12', '99999999999999999999', '4242\n']) {
      helper.answer = () => ({ result: 'ok', how: 'beneath', errno: 0, message });
      scan = { namespacesScanned: 2, withLxcfs: [c] };
      expect([message, (await pass(NEW)).indexed]).toEqual([message, 0]);
    }
  });

  test('an index entry whose namespace is gone costs its requests once, and neither a failure nor a retry', async () => {
    await indexOnOld();
    helper.answer = () => ({ result: 'gone', how: 'gone', errno: 3, message: 'every process given has exited or left the namespace' });
    scan = { namespacesScanned: 1, withLxcfs: [] };
    const r = await pass(NEW);
    expect(helper.sent.flat()).toHaveLength(4);
    expect(r).toMatchObject({ healed: 0, failed: 0, pending: 0, indexed: 0 });
  });

  describe('V8 garbage collection (node --expose-gc, as the agent image runs; simulated here with a counting gc)', () => {
    const global = globalThis as { gc?: () => void };
    let collections: string[];
    beforeEach(() => {
      collections = [];
      global.gc = () => collections.push(events.length === 0 ? 'start' : events[events.length - 1]);
    });
    afterEach(() => delete global.gc);

    test('a restart collects after the index and after the pass; a pass at rest collects nothing', async () => {
      const cs = await indexOnOld();
      expect(collections).toEqual([]);
      scan = { namespacesScanned: 3, withLxcfs: cs.map((c) => ({ ...c, mounts: c.mounts.map((m) => ({ ...m, device: NEW.device, mountId: m.mountId + 1000 })) })) };
      await pass(NEW);
      // Once when the index's re-attaches are done (after its last helper lane, before the scan), once at the end.
      expect(collections).toEqual([expect.stringMatching(/^helper replace/), 'scan']);
      collections.length = 0;
      for (let i = 0; i < 3; i++) await pass(NEW);
      expect(collections).toEqual([]);
    });

    test(`a pass that parses many namespaces collects after each ${NAMESPACES_PER_COLLECTION}`, async () => {
      const many = Array.from({ length: 2 * NAMESPACES_PER_COLLECTION + 10 }, (_, i) => container(100 + i, NEW.device));
      scan = { namespacesScanned: many.length, withLxcfs: many };
      await pass(NEW);
      // Two during the scan, one at its end (nothing was re-attached, but it parsed in bulk).
      expect(collections).toHaveLength(3);
      collections.length = 0;
      // The same tables again: nothing is parsed, nothing collected.
      await pass(NEW);
      expect(collections).toEqual([]);
    });
  });

  test('nothing is re-attached from the index while our lxcfs is the one that serves (periodic passes)', async () => {
    const cs = [container(9, NEW.device)];
    scan = { namespacesScanned: 2, withLxcfs: cs };
    for (let i = 0; i < 3; i++) expect(await pass(NEW)).toMatchObject({ indexed: 2, healed: 0, phases: { fromIndex: 0 } });
    expect(helper.sent).toEqual([]);
  });
});

describe('splitByNamespace (helper lanes for the index)', () => {
  test('mounts that propagate (shared peer group) are re-attached one at a time, in one lane', () => {
    const jobs = [job(1, 0, true), job(2, 1), job(2, 2), job(3, 3, true), job(4, 4)];
    expect(splitByNamespace(jobs, 8).map((s) => s.map((j) => j.id))).toEqual([[1, 4], [2, 3], [5]]);
  });

  interface LaneJob {
    readonly namespace: string;
    readonly shared: boolean;
    readonly id: number;
  }
  const job = (ns: number, i: number, shared = false): LaneJob => ({ namespace: `mnt:[${ns}]`, shared, id: i + 1 });

  test('random shapes: every job once, in order, a namespace never split, at most the lanes asked for and about even', () => {
    let seed = 7;
    const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    for (let round = 0; round < 500; round++) {
      const jobs: LaneJob[] = [];
      const namespaces = 1 + rand(300);
      // Some namespaces (the agent's and the host's, for the kubelet directory) hold mounts that propagate.
      const sharing = rand(3) === 0;
      for (let ns = 0; ns < namespaces; ns++) for (let f = rand(12); f >= 0; f--) jobs.push(job(ns, jobs.length, sharing && ns < 2 && f % 2 === 0));
      const lanes = 1 + rand(12);
      const slices = splitByNamespace(jobs, lanes);
      expect([...slices.flat()].sort((a, b) => a.id - b.id)).toEqual(jobs);
      // Every propagating job in one slice, in order, so that they run one at a time.
      const shared = jobs.filter((j) => j.shared);
      if (shared.length > 0) expect(slices.filter((s) => s.some((j) => j.shared))).toEqual([lanes === 1 ? jobs : shared]);
      expect(slices.length).toBeLessThanOrEqual(lanes);
      expect(slices.every((s) => s.length > 0)).toBe(true);
      const owner = new Map<string, number>();
      const unshared = slices.map((s) => s.filter((j) => !j.shared));
      unshared.forEach((s, i) => s.forEach((j) => expect(owner.get(j.namespace) ?? i).toBe(owner.set(j.namespace, i).get(j.namespace))));
      // A slice is closed at the first namespace boundary past its share: never more than one namespace over it.
      for (const s of unshared) expect(s.length).toBeLessThan(jobs.length / Math.max(1, lanes - 1) + 13);
    }
  });
});
