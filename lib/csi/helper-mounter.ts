/** The plugin's mount steps through the agent's native helper, in the agent's own mount namespace. */
import * as fs from 'fs';
import { MountHelper } from '../agent/helper';
import { parseMountinfo } from '../agent/mountinfo';
import { GrpcError, Status } from './grpc';
import { Mounter, OwnMount } from './publish';

/** Flags of every published tree: lxcfs files are data, never programs or devices. */
const PUBLISH_ATTRIBUTES: readonly string[] = ['ro', 'nosuid', 'nodev', 'noexec'];

export function helperMounter(helperPath: string): Mounter {
  const helper = new MountHelper(helperPath);
  const own = (): { pid: number; namespace: string } => ({ pid: process.pid, namespace: fs.readlinkSync('/proc/self/ns/mnt') });
  const run = async (request: Parameters<MountHelper['attach']>[0][number]): Promise<void> => {
    const [result] = await helper.attach([request]);
    if (!result?.ok) throw new GrpcError(Status.INTERNAL, `mount helper, ${request.mode} ${request.target}: ${result?.detail ?? 'no answer'}`);
  };
  return {
    mountReadOnly: (source, target) => run({ ...own(), source, target, mode: 'mount', attributes: PUBLISH_ATTRIBUTES }),
    detach: (target) => run({ ...own(), source: '-', target, mode: 'umount' }),
    ownMounts: (): OwnMount[] => parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')),
  };
}
