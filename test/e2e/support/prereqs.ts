/**
 * What the end-to-end suites need from the machine. Under CI=true a missing
 * prerequisite fails the suite; elsewhere the suite is skipped, loudly.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';

export const BUSYBOX = '/usr/bin/busybox';

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

export function missingPrerequisites(): string[] {
  const missing: string[] = [];
  if (process.platform !== 'linux') return ['Linux'];
  if (process.getuid?.() !== 0) missing.push('root');
  if (!fs.existsSync('/dev/fuse')) missing.push('/dev/fuse');
  for (const cmd of ['lxcfs', 'runc', 'cc']) if (!onPath(cmd)) missing.push(cmd);
  if (!fs.existsSync(BUSYBOX)) missing.push(`${BUSYBOX} (busybox-static)`);
  return missing;
}

/**
 * `describe` when the machine can run the suite; otherwise a suite that fails
 * (CI) or is skipped with the reason printed.
 */
export function describeE2E(name: string, body: () => void): void {
  const missing = missingPrerequisites();
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  const reason = `missing prerequisites: ${missing.join(', ')} (needs root, /dev/fuse, lxcfs, runc, busybox-static, cc)`;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has its prerequisites (CI=true)', () => {
        throw new Error(reason);
      });
    });
    return;
  }
  process.stderr.write(`\n*** SKIPPED end-to-end suite "${name}": ${reason} ***\n\n`);
  describe.skip(`${name} [SKIPPED: ${reason}]`, body);
}
