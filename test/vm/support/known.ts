/**
 * What each lxcfs release gets wrong for the reference pod, as measured in the
 * VMs (`npm run test:vm-matrix`; the README's table) and traced in lxcfs's own
 * history. The suite asserts a run shows exactly these defects and no others,
 * so a table that stops being true fails a test.
 */
import { DEFAULT_LXCFS_FILES } from '../../../lib/contract';
import { CgroupMode } from '../guest/protocol';

const ALL_FILES = DEFAULT_LXCFS_FILES;

function atLeast(version: string, min: string): boolean {
  const a = version.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

/** Files (in the order the injection contract lists them) the reference pod reads wrong with this lxcfs. */
export function knownUntruthful(version: string, cgroup: CgroupMode): string[] {
  if (cgroup === 'v2') {
    // On cgroup v2, /proc/stat listed every CPU of the machine until "proc_fuse: fix proc_stat_read
    // reporting host cpu count under cgroup v2" (lxcfs commit 255b7a7, in 7.0.0; backported as b124f22, in 6.0.6).
    const statFixed = atLeast(version, '7.0.0') || (version.startsWith('6.0.') && atLeast(version, '6.0.6'));
    return statFixed ? [] : ['/proc/stat'];
  }
  // cgroup v1: 5.0.3, 6.0.4 and 6.0.6 are truthful in all eight files. 7.0.0 removed cgroup v1 and
  // hybrid support (commit 4e95204): its library fails to initialise and every file answers EIO,
  // so a pod with the files mounted cannot even start.
  return atLeast(version, '7.0.0') ? [...ALL_FILES] : [];
}
