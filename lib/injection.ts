/**
 * The injection contract of design.md as data: which hostPath volume and which
 * read-only mount each lxcfs file becomes. The webhook builds its JSON Patch from
 * this, and the end-to-end tests build their runc mounts from it, so both
 * always describe the same pod.
 */
import * as path from 'path';
import { DEFAULT_LXCFS_PATH, VOLUME_PREFIX } from './contract';
import { matches, StringFlag, ValuePattern } from './flags';

/**
 * An lxcfs file: under /proc or /sys, plain path characters, canonical (no "//", ".", ".."), and at
 * most 54 characters, so its volume name (lxcfs-kit-<path>) stays within 63. The webhook's --file
 * items and the chart's lxcfs.files schema carry it; injectionProblems() applies it.
 */
export const LXCFS_FILE_PATTERN: ValuePattern = {
  regex: '^/(proc|sys)/[A-Za-z0-9_./-]{0,47}[A-Za-z0-9_.-]$',
  forbidden: '\\.\\.|//|/\\.(/|$)',
  rule: 'an absolute file path under /proc or /sys such as /proc/meminfo, at most 54 characters of letters, digits, "_", ".", "/" and "-", written without "//", "." or ".." components or a trailing slash',
};

/** --lxcfs-path of both commands (one spec, so the agent mounts where the webhook points). injectionProblems() checks its value. */
export const LXCFS_PATH_FLAG = {
  kind: 'string',
  default: DEFAULT_LXCFS_PATH,
  help: 'host directory where the agent mounts lxcfs (absolute, a directory of its own: system directories such as /, /etc, /usr, /var, /var/lib, /run and anything under /proc, /sys, /dev are rejected); the same as lxcfs-admission-webhook\'s, so a migration keeps running pods working',
} as const satisfies StringFlag;

export interface LxcfsFileMount {
  /** The file inside the container, e.g. `/proc/meminfo`. */
  readonly mountPath: string;
  /** The file on the host, `<lxcfs path>/<mountPath>`. */
  readonly hostPath: string;
  /** Pod volume name, `lxcfs-kit-` + the path with `/` and `.` turned into `-`. */
  readonly volumeName: string;
  /**
   * Always `File`: kubelet then holds the pod in ContainerCreating until lxcfs serves
   * the file, instead of letting the runtime create a directory in its place.
   */
  readonly hostPathType: 'File';
}

/** A Kubernetes volume name derived from the file path; stable and a valid DNS label. */
export function volumeNameFor(mountPath: string): string {
  const slug = mountPath.replace(/^\/+/, '').replace(/[^a-z0-9]+/gi, '-').toLowerCase().replace(/-+$/, '');
  const name = `${VOLUME_PREFIX}${slug}`;
  if (name.length > 63) {
    throw new Error(`lxcfs file ${mountPath} gives the volume name ${name}, longer than 63 characters; use a shorter path`);
  }
  return name;
}

/**
 * Host directories the lxcfs path must never be: the agent mounts lxcfs over it (hiding what is
 * there) and detaches dead mounts from it, so it must be a directory of its own.
 */
export const RESERVED_HOST_DIRECTORIES: readonly string[] = [
  '/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/media', '/mnt', '/opt', '/proc', '/root',
  '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/usr/bin', '/usr/lib', '/usr/lib64', '/usr/local', '/usr/sbin', '/usr/share',
  '/var', '/var/lib', '/var/log', '/var/run', '/var/tmp', '/var/cache', '/var/spool',
  '/var/lib/kubelet', '/var/lib/containerd', '/var/lib/docker', '/var/lib/containers', '/run/containerd', '/run/crio',
];
/** Virtual filesystems: nothing below them is a dedicated host directory. */
export const VIRTUAL_FILESYSTEM_PATTERN = '^/(proc|sys|dev)(/|$)';
/** Not canonical (`//`, `/./`, `/../`): the same directory would hide behind another spelling. */
export const NON_CANONICAL_PATH_PATTERN = '//|(^|/)\\.\\.?(/|$)';

/** Why an absolute lxcfs path is not a dedicated directory; undefined when it is. */
export function sharedDirectoryProblem(lxcfsPath: string): string | undefined {
  const fix = 'choose a directory of its own such as /var/lib/lxcfs';
  if (new RegExp(NON_CANONICAL_PATH_PATTERN).test(lxcfsPath)) return `lxcfs path "${lxcfsPath}" must be written without "//", "." or ".." components; ${fix}`;
  const normalized = lxcfsPath.length > 1 ? lxcfsPath.replace(/\/+$/, '') : lxcfsPath;
  if (RESERVED_HOST_DIRECTORIES.includes(normalized) || new RegExp(VIRTUAL_FILESYSTEM_PATTERN).test(normalized)) {
    return `lxcfs path "${lxcfsPath}" is a system directory: the agent mounts lxcfs over it and detaches mounts from it; ${fix}`;
  }
  return undefined;
}

/** Reasons a configured file set or lxcfs path cannot work; empty when it is fine. */
export function injectionProblems(lxcfsPath: string, files: readonly string[]): string[] {
  const problems: string[] = [];
  if (!path.posix.isAbsolute(lxcfsPath)) {
    problems.push(`lxcfs path "${lxcfsPath}" must be an absolute host path such as /var/lib/lxcfs`);
  } else {
    const why = sharedDirectoryProblem(lxcfsPath);
    if (why !== undefined) problems.push(why);
  }
  if (files.length === 0) {
    problems.push('the lxcfs file set is empty, so nothing would be injected; keep the default set or name at least one file such as /proc/meminfo');
  }
  const seen = new Set<string>();
  const volumes = new Map<string, string>();
  for (const f of files) {
    if (!matches(LXCFS_FILE_PATTERN, f)) {
      problems.push(`lxcfs file "${f}" must be ${LXCFS_FILE_PATTERN.rule}`);
    } else {
      // Two spellings of one volume name (/proc/a.b, /proc/a-b) would give the pod one volume twice.
      const volume = volumeNameFor(f);
      const other = volumes.get(volume);
      if (other !== undefined && other !== f) problems.push(`lxcfs files "${other}" and "${f}" give the same volume name ${volume}; keep one of them`);
      volumes.set(volume, f);
    }
    if (seen.has(f)) problems.push(`lxcfs file "${f}" is listed twice`);
    seen.add(f);
  }
  return problems;
}

/** The mounts for a file set; throws with every problem when the configuration cannot work. */
export function lxcfsFileMounts(lxcfsPath: string, files: readonly string[]): LxcfsFileMount[] {
  const problems = injectionProblems(lxcfsPath, files);
  if (problems.length > 0) throw new Error(problems.join('; '));
  const root = path.posix.normalize(lxcfsPath).replace(/\/+$/, '');
  return files.map((mountPath) => ({
    mountPath,
    hostPath: `${root}${mountPath}`,
    volumeName: volumeNameFor(mountPath),
    hostPathType: 'File' as const,
  }));
}

// ---- injection mode `csi` ------------------------------------------------------------------

/** The one CSI ephemeral volume of injection mode `csi`; every file is a subPath of it. */
export const CSI_VOLUME_NAME = `${VOLUME_PREFIX}lxcfs`;

/** How lxcfs reaches a pod: hostPath volumes of `type: File`, or the agent's CSI volume (Pod Security baseline/restricted allow only the latter). */
export type InjectionMode = 'hostPath' | 'csi';
export const INJECTION_MODES: readonly InjectionMode[] = ['hostPath', 'csi'];

export interface CsiVolume {
  readonly name: string;
  /** An inline ephemeral volume: no PersistentVolume, no attach; read-only for every container. */
  readonly csi: { readonly driver: string; readonly readOnly: true };
}

export interface CsiFileMount {
  readonly name: string;
  readonly mountPath: string;
  /** The file inside the published lxcfs tree: the mount path without its leading `/`. */
  readonly subPath: string;
  readonly readOnly: true;
}

/** The volume and the per-file subPath mounts of mode `csi` (the same file set as hostPath mode). */
export function csiInjection(files: readonly string[], driver: string): { volume: CsiVolume; mounts: CsiFileMount[] } {
  return {
    volume: { name: CSI_VOLUME_NAME, csi: { driver, readOnly: true } },
    mounts: files.map((mountPath) => ({ name: CSI_VOLUME_NAME, mountPath, subPath: mountPath.replace(/^\/+/, ''), readOnly: true })),
  };
}
