/**
 * The one kubelet behaviour the suites need: a hostPath volume of `type: File`
 * holds the pod until the path exists and is a regular file (the injection
 * contract relies on it while lxcfs is down).
 */
import * as fs from 'fs';

export interface FileWait {
  /** Resolves once every host file is a regular file. */
  readonly ready: Promise<void>;
  /** Host paths that were ever seen as a directory while waiting (must stay empty). */
  readonly directoriesSeen: Set<string>;
  cancel(): void;
}

/** `hostPaths`: the pod's hostPath volumes of type File. */
export function waitForHostFiles(hostPaths: readonly string[], pollMs = 20): FileWait {
  const directoriesSeen = new Set<string>();
  let cancelled = false;
  const ready = (async () => {
    for (;;) {
      if (cancelled) throw new Error('cancelled');
      let allFiles = true;
      for (const hostPath of hostPaths) {
        try {
          const st = fs.statSync(hostPath);
          if (st.isDirectory()) directoriesSeen.add(hostPath);
          if (!st.isFile()) allFiles = false;
        } catch {
          allFiles = false; // absent, or a dead mount (ENOTCONN): kubelet retries
        }
      }
      if (allFiles) return;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  })();
  return {
    ready,
    directoriesSeen,
    cancel: () => {
      cancelled = true;
    },
  };
}
