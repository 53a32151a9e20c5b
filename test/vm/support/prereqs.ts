/**
 * What the VM suite needs: QEMU, cpio, the e2e suites' tools (runc, busybox-static,
 * cc) and the kernels and lxcfs builds of test/vm/fetch-assets.sh. Under CI=true
 * a missing prerequisite fails the suite; elsewhere the suite is skipped, loudly.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { BUSYBOX } from '../../e2e/support/prereqs';
import { cacheDir, FETCH_SCRIPT, kernel, lxcfsLine } from './assets';

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

/** `needs`: kernel series and lxcfs lines the suite boots, e.g. { kernels: ['6.12'], lxcfs: ['6.0'] }. */
export function missingVmPrerequisites(needs: { kernels: readonly string[]; lxcfs: readonly string[] }): string[] {
  if (process.platform !== 'linux') return ['Linux'];
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (mknod of /dev/console in the initramfs)');
  for (const cmd of ['qemu-system-x86_64', 'cpio', 'runc', 'cc', 'ldd']) if (!onPath(cmd)) missing.push(cmd);
  if (!fs.existsSync('/usr/bin/unshare')) missing.push('/usr/bin/unshare (util-linux)');
  if (!fs.existsSync(BUSYBOX)) missing.push(`${BUSYBOX} (busybox-static)`);
  for (const series of needs.kernels) if (!kernel(series)) missing.push(`kernel ${series} in ${cacheDir()} (run ${FETCH_SCRIPT})`);
  for (const line of needs.lxcfs) if (!lxcfsLine(line)) missing.push(`lxcfs ${line}.x in ${cacheDir()} (run ${FETCH_SCRIPT})`);
  return missing;
}

export function describeVM(name: string, needs: { kernels: readonly string[]; lxcfs: readonly string[] }, body: () => void): void {
  const missing = missingVmPrerequisites(needs);
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  const reason = `missing prerequisites: ${missing.join(', ')}`;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has its prerequisites (CI=true)', () => {
        throw new Error(reason);
      });
    });
    return;
  }
  process.stderr.write(`\n*** SKIPPED VM suite "${name}": ${reason} ***\n\n`);
  describe.skip(`${name} [SKIPPED: ${reason}]`, body);
}
