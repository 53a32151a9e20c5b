/**
 * NodePublishVolume / NodeUnpublishVolume as mount operations: put a read-only clone of
 * the live lxcfs tree at the kubelet's target path, and take it away again. Both are
 * idempotent (the kubelet repeats calls after restarts and timeouts) and serialized per
 * target path. The mount syscalls go through the agent's native helper; healing after an
 * lxcfs restart needs nothing here: these are fuse.lxcfs mounts like any other, and the
 * agent's scan re-attaches them with the containers' own.
 */
import * as fs from 'fs';
import * as path from 'path';
import { GrpcError, Status } from './grpc';
import { NodePublishVolumeRequest, NodeUnpublishVolumeRequest } from './messages';
import type { LineLog } from '../log';

/** One mount in the agent's own mount namespace, as /proc/self/mountinfo shows it. */
export interface OwnMount {
  readonly mountId: number;
  readonly parentId: number;
  readonly mountPoint: string;
  readonly root: string;
  readonly fsType: string;
  readonly options: readonly string[];
}

/** The privileged steps, done by the agent's native helper in the agent's own namespace. */
export interface Mounter {
  /** A read-only clone of the mount at `source` onto the directory `target`. */
  mountReadOnly(source: string, target: string): Promise<void>;
  /** Detaches the topmost mount at `target`. */
  detach(target: string): Promise<void>;
  /** Mounts of the agent's own namespace. */
  ownMounts(): OwnMount[];
}

export interface PublisherConfig {
  /** The lxcfs path in the agent's namespace: the live lxcfs tree the agent keeps there. */
  readonly lxcfsPath: string;
  /** The kubelet's pods directory (`<kubelet dir>/pods`): every target path lies below it. */
  readonly podsDir: string;
  readonly mounter: Mounter;
  /** How long a read on lxcfs may take before lxcfs counts as not serving. */
  readonly probeTimeoutMs?: number;
  readonly log: LineLog;
}

const LXCFS_FSTYPE = 'fuse.lxcfs';
/** A file every lxcfs serves; reading it proves the tree answers. */
const PROBE_FILE = 'proc/meminfo';

export class VolumePublisher {
  /** Operations in flight per target path: a publish and an unpublish of one target never interleave. */
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(private readonly config: PublisherConfig) {}

  /** Whether the lxcfs path holds a live lxcfs (the Probe answer, and the publish precondition). */
  async lxcfsServes(): Promise<boolean> {
    const top = topMountAt(this.config.mounter.ownMounts(), this.config.lxcfsPath);
    if (top?.fsType !== LXCFS_FSTYPE) return false;
    return readsWithin(path.join(this.config.lxcfsPath, PROBE_FILE), this.config.probeTimeoutMs ?? 2000);
  }

  publish(req: NodePublishVolumeRequest): Promise<void> {
    if (req.volumeId === '') throw new GrpcError(Status.INVALID_ARGUMENT, 'volume_id is required');
    if (req.accessType === 'block') throw new GrpcError(Status.INVALID_ARGUMENT, 'the lxcfs volume is a directory tree; block access is not supported');
    const target = this.checkTarget(req.targetPath);
    return this.serialized(target, () => this.publishNow(target));
  }

  unpublish(req: NodeUnpublishVolumeRequest): Promise<void> {
    if (req.volumeId === '') throw new GrpcError(Status.INVALID_ARGUMENT, 'volume_id is required');
    const target = this.checkTarget(req.targetPath);
    return this.serialized(target, () => this.unpublishNow(target));
  }

  private async publishNow(target: string): Promise<void> {
    const top = topMountAt(this.config.mounter.ownMounts(), target);
    if (top !== undefined && top.fsType !== LXCFS_FSTYPE) {
      throw new GrpcError(Status.ALREADY_EXISTS, `${target} already holds a ${top.fsType} mount that is not lxcfs`);
    }
    if (top !== undefined && top.root === '/' && (await readsWithin(path.join(target, PROBE_FILE), this.config.probeTimeoutMs ?? 2000))) {
      return; // published before: idempotent
    }
    if (!(await this.lxcfsServes())) {
      // Retryable: the kubelet keeps the pod in ContainerCreating and calls again.
      throw new GrpcError(Status.UNAVAILABLE, `lxcfs does not serve ${this.config.lxcfsPath} yet; retry`);
    }
    // A dead lxcfs mount from an earlier publish (lxcfs died before the agent healed it): replace it.
    await this.detachLxcfs(target);
    ensureDirectory(target);
    await this.config.mounter.mountReadOnly(this.config.lxcfsPath, target);
    const mounted = topMountAt(this.config.mounter.ownMounts(), target);
    const problem =
      mounted?.fsType !== LXCFS_FSTYPE
        ? 'the new mount is missing'
        : !mounted.options.includes('ro')
          ? 'the kernel did not make it read-only'
          : !(await readsWithin(path.join(target, PROBE_FILE), this.config.probeTimeoutMs ?? 2000))
            ? 'lxcfs stopped serving while it was published'
            : undefined;
    if (problem !== undefined) {
      await this.detachLxcfs(target);
      throw new GrpcError(problem.startsWith('lxcfs') ? Status.UNAVAILABLE : Status.INTERNAL, `publishing lxcfs at ${target}: ${problem}`);
    }
    this.config.log(`csi: published lxcfs at ${target}`);
  }

  private async unpublishNow(target: string): Promise<void> {
    await this.detachLxcfs(target);
    const top = topMountAt(this.config.mounter.ownMounts(), target);
    if (top !== undefined) throw new GrpcError(Status.FAILED_PRECONDITION, `${target} holds a ${top.fsType} mount the plugin did not make; left in place`);
    try {
      fs.rmdirSync(target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw new GrpcError(Status.INTERNAL, `removing ${target}: ${(err as Error).message}`);
    }
    this.config.log(`csi: unpublished ${target}`);
  }

  /** Detaches every lxcfs mount stacked at `target` (only lxcfs: nothing else is ours). */
  private async detachLxcfs(target: string): Promise<void> {
    for (let i = 0; i < 16; i++) {
      const top = topMountAt(this.config.mounter.ownMounts(), target);
      if (top === undefined || top.fsType !== LXCFS_FSTYPE) return;
      await this.config.mounter.detach(target);
    }
    throw new GrpcError(Status.INTERNAL, `${target}: lxcfs mounts remain after 16 detaches`);
  }

  /**
   * The target must be a plain absolute path below the pods directory: the kubelet only ever
   * asks for such paths, and a root process must not mount where another caller points it.
   */
  private checkTarget(targetPath: string): string {
    if (targetPath === '') throw new GrpcError(Status.INVALID_ARGUMENT, 'target_path is required');
    const podsDir = this.config.podsDir.replace(/\/+$/, '');
    if (
      !path.posix.isAbsolute(targetPath) ||
      path.posix.normalize(targetPath) !== targetPath ||
      targetPath.endsWith('/') ||
      !targetPath.startsWith(`${podsDir}/`) ||
      targetPath.includes('\0')
    ) {
      throw new GrpcError(Status.INVALID_ARGUMENT, `target_path must be a normalized absolute path below ${podsDir}`);
    }
    // Symlinks along the way would let the path name a place outside the pods directory.
    const parent = path.posix.dirname(targetPath);
    let realParent: string;
    try {
      realParent = fs.realpathSync(parent);
    } catch {
      throw new GrpcError(Status.NOT_FOUND, `the parent directory of target_path (${parent}) does not exist`);
    }
    if (realParent !== parent) throw new GrpcError(Status.INVALID_ARGUMENT, `the parent directory of target_path (${parent}) contains a symbolic link`);
    return targetPath;
  }

  private serialized(target: string, op: () => Promise<void>): Promise<void> {
    const prev = this.chains.get(target) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(op);
    this.chains.set(target, next);
    const forget = (): void => {
      if (this.chains.get(target) === next) this.chains.delete(target);
    };
    next.then(forget, forget);
    return next;
  }
}

/** Of the mounts at one mount point, the one on top (visible to path lookups). */
export function topMountAt(mounts: readonly OwnMount[], mountPoint: string): OwnMount | undefined {
  const here = mounts.filter((m) => m.mountPoint === mountPoint);
  return here.find((m) => !here.some((p) => p.parentId === m.mountId));
}

function ensureDirectory(target: string): void {
  try {
    fs.mkdirSync(target, { mode: 0o755 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new GrpcError(Status.INTERNAL, `creating ${target}: ${(err as Error).message}`);
  }
  if (!fs.lstatSync(target).isDirectory()) throw new GrpcError(Status.FAILED_PRECONDITION, `${target} exists and is not a directory`);
}

/** Reads a file asynchronously with a deadline: a hung FUSE server must not hold a publish forever. */
async function readsWithin(file: string, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const ok = await Promise.race([
    fs.promises.readFile(file).then(
      () => true,
      () => false,
    ),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs))),
  ]);
  clearTimeout(timer);
  return ok;
}
