/** The plugin's mount steps through the agent's native helper, in the agent's own mount namespace. */
import * as fs from 'fs';
import { MountHelper } from '../agent/helper';
import { mountHolding, stackAt } from '../agent/mountinfo';
import { encodeRequests, HelperRequest, MountAttribute, namespaceInode } from '../agent/protocol';
import { readMounts } from '../agent/scan';
import { GrpcError, Status } from './grpc';
import { Mounter, OwnMount } from './publish';

/** Flags of every published tree: lxcfs files are data, never programs or devices. */
const PUBLISH_ATTRIBUTES: readonly MountAttribute[] = ['ro', 'nosuid', 'nodev', 'noexec'];

export function helperMounter(helperPath: string): Mounter {
  const helper = new MountHelper(helperPath);
  const own = (): Pick<HelperRequest, 'pids' | 'namespaceInode'> => {
    const ino = namespaceInode(fs.readlinkSync('/proc/self/ns/mnt'));
    if (ino === undefined) throw new GrpcError(Status.INTERNAL, 'cannot read the agent\'s own mount namespace');
    return { pids: [process.pid], namespaceInode: ino };
  };
  const run = async (request: HelperRequest): Promise<void> => {
    try {
      encodeRequests([request]);
    } catch (err) {
      throw new GrpcError(Status.INVALID_ARGUMENT, `mount helper, ${request.mode} ${JSON.stringify(request.target)}: ${(err as Error).message}`);
    }
    const [result] = await helper.run([request]);
    if (result?.result !== 'ok') throw new GrpcError(Status.INTERNAL, `mount helper, ${request.mode} ${request.target}: ${result ? `${result.how}: ${result.message}` : 'no answer'}`);
  };
  // Every step names the exact mount it acts on, read from mountinfo right before; the helper checks it again.
  return {
    mountReadOnly: (source, target) => {
      const holder = mountHolding(readMounts('self') ?? [], target);
      if (holder === undefined) throw new GrpcError(Status.INTERNAL, `no mount holds ${target}`);
      return run({ ...own(), mode: 'mount', mountId: holder.mountId, device: '', source, target, attributes: PUBLISH_ATTRIBUTES });
    },
    detach: (target) => {
      const [top] = stackAt(readMounts('self') ?? [], target);
      if (top === undefined) return Promise.resolve();
      return run({ ...own(), mode: 'umount', mountId: top.mountId, device: top.device, source: '', target, attributes: [] });
    },
    ownMounts: (): OwnMount[] => readMounts('self') ?? [],
  };
}
