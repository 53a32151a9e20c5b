/**
 * The index: per mount namespace, the container mounts on this agent's own lxcfs as the last pass
 * saw them, each kept as the helper request that re-attaches it (checked and encoded when the
 * pass saw the mount, all but the source), so that after a restart of that lxcfs the agent sends
 * them before it reads any mount table. Also how those requests are split into helper lanes.
 */
import { Candidate, replaceRequest } from './heal-plan';
import { HelperOutcome } from './helper';
import { HelperRequest, namespaceInode, recordAround, requestProblem } from './protocol';

/**
 * A mount on our lxcfs as the index keeps it: its re-attach request, checked and encoded when a
 * pass saw the mount, but for the source (the directory of the lxcfs that replaces ours, known
 * only then). The ways into its namespace are in the request already, so a restart's re-attach
 * reads nothing first.
 */
export interface IndexedMount {
  readonly namespace: string;
  readonly mountId: number;
  /** The lxcfs it is on (device and FUSE source): `retired` says when that one died. */
  readonly device: string;
  readonly fsSource: string;
  readonly shared: boolean;
  /** The source is the instance's mount directory followed by this. */
  readonly sourceTail: string;
  /** The request's record: before + source + after. */
  readonly before: string;
  readonly after: string;
}

/**
 * One copy of each string the index holds many times (devices, sources, the few files lxcfs
 * serves and their flags): at 1,000 containers, 8,000 entries share about a dozen strings.
 */
export type Interned = Map<string, string>;

function intern(strings: Interned, s: string): string {
  const had = strings.get(s);
  if (had !== undefined) return had;
  strings.set(s, s);
  return s;
}

export const keyOf = (m: IndexedMount): string => `${m.namespace} ${m.mountId}`;

/** Adds a chunk's mounts on our lxcfs to the index, by namespace (those the helper would refuse are left out). */
export function addToIndex(index: Map<string, IndexedMount[]>, own: readonly Candidate[], mountDir: string, strings: Interned): void {
  // A namespace's mounts come together: its inode is read once for them.
  let namespace: string | undefined;
  let ino: bigint | undefined;
  for (const c of own) {
    if (c.ns.namespace !== namespace) {
      namespace = c.ns.namespace;
      ino = namespaceInode(namespace);
    }
    if (ino === undefined) continue;
    addRequest(index, { namespace, shared: c.mount.shared === true, device: c.mount.device, fsSource: c.mount.source }, replaceRequest(c, ino, mountDir), mountDir, strings);
  }
}

/** Indexes the replace request of a mount (checked here: one the helper would refuse is left out). */
function addRequest(
  index: Map<string, IndexedMount[]>,
  mount: { readonly namespace: string; readonly shared: boolean; readonly device: string; readonly fsSource: string },
  request: HelperRequest,
  mountDir: string,
  strings: Interned,
): void {
  if (requestProblem(request) !== undefined) return;
  let list = index.get(mount.namespace);
  if (list === undefined) index.set(mount.namespace, (list = []));
  const { before, after } = recordAround(request);
  list.push({
    namespace: mount.namespace,
    mountId: request.mountId,
    device: intern(strings, mount.device),
    fsSource: intern(strings, mount.fsSource),
    shared: mount.shared,
    sourceTail: intern(strings, request.source.slice(mountDir.length)),
    before,
    after: intern(strings, after),
  });
}

/** The mount point named in an index entry's record (for log lines). */
export function targetOf(m: IndexedMount): string {
  return m.after.slice(1, m.after.indexOf('\0', 1));
}

/**
 * About equal slices of `jobs` for `lanes` helpers, a namespace's jobs (adjacent in `jobs`) never
 * split: each costs its helper one setns. Jobs on mounts in a shared peer group all go to the
 * first slice, in order: a re-attach there propagates to the peers (in the agent's and the
 * host's namespace, for the kubelet directory), and two peers re-attached at once would leave
 * copies of both.
 */
export function splitByNamespace<T extends { readonly namespace: string; readonly shared: boolean }>(jobs: readonly T[], lanes: number): T[][] {
  if (lanes <= 1) return jobs.length === 0 ? [] : [[...jobs]];
  const propagating = jobs.filter((j) => j.shared);
  const rest = propagating.length === 0 ? jobs : jobs.filter((j) => !j.shared);
  const slices: T[][] = propagating.length > 0 ? [propagating] : [];
  const share = rest.length / Math.max(1, lanes - slices.length);
  let current: T[] = [];
  rest.forEach((job, i) => {
    const sameNamespace = i > 0 && rest[i - 1].namespace === job.namespace;
    if (!sameNamespace && current.length >= share) {
      slices.push(current);
      current = [];
    }
    current.push(job);
  });
  if (current.length > 0) slices.push(current);
  return slices;
}

/**
 * Indexes a mount the helper just attached, under the ID the helper read from it (not from the
 * path, which a container could stack over meanwhile): the request that attached it, now naming
 * that mount on our lxcfs, is the one that re-attaches it.
 */
export function indexAttached(
  index: Map<string, IndexedMount[]>,
  mount: { readonly namespace: string; readonly shared: boolean },
  outcome: HelperOutcome,
  inst: { readonly device: string; readonly fsSource: string; readonly mountDir: string },
  strings: Interned,
): void {
  if (outcome.request.mode !== 'replace' || !/^[1-9][0-9]{0,15}$/.test(outcome.message)) return;
  const request: HelperRequest = { ...outcome.request, mountId: Number(outcome.message), device: inst.device };
  addRequest(index, { namespace: mount.namespace, shared: mount.shared, device: inst.device, fsSource: inst.fsSource }, request, inst.mountDir, strings);
}
