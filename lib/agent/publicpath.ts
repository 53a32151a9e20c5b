/**
 * The host path (default /var/lib/lxcfs) where kubelet finds the lxcfs files
 * for pods' hostPath volumes.
 */
import * as fs from 'fs';
import * as path from 'path';

/**
 * Removes empty directories under the lxcfs path: a container runtime that saw
 * no lxcfs file creates a directory in its place (hostPath type "" or older
 * injectors), and that directory would then shadow nothing but confuse the
 * next pod. Only empty directories go; files are never touched.
 */
export function pruneRuntimeDirectories(root: string): string[] {
  const removed: string[] = [];
  const walk = (dir: string): boolean => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return false;
    }
    let empty = true;
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory() && walk(p)) {
        try {
          fs.rmdirSync(p);
          removed.push(p);
          continue;
        } catch {
          // not empty after all, or a mount point
        }
      }
      empty = false;
    }
    return empty;
  };
  walk(root);
  return removed;
}
