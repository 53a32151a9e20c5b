/** Builds the native mount helper with the system compiler, as the image build does. */
import { execFileSync } from 'child_process';
import * as path from 'path';

export const REPO_ROOT = path.resolve(__dirname, '../../..');
export const HELPER_SOURCE = path.join(REPO_ROOT, 'lib/agent/native/lxcfs-kit-remount.c');

export function buildHelper(outDir: string): string {
  const out = path.join(outDir, 'lxcfs-kit-remount');
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', out, HELPER_SOURCE], { stdio: ['ignore', 'inherit', 'inherit'] });
  return out;
}
