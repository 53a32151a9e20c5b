/**
 * Release gate: `ts-node release-version.ts <git tag>` prints `version=<v>` for
 * $GITHUB_OUTPUT when the tag names package.json's version and every artifact
 * generated from that version agrees (Chart.yaml version and appVersion, the
 * image tags in the generated manifests and chart values). Otherwise it lists
 * each disagreement on stderr and exits 1, before anything is published.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parse, parseAllDocuments } from 'yaml';

const REGISTRY_PREFIX = 'ghcr.io/lxcfs-kit/';
const CHART_DIR = path.join('charts', 'lxcfs-kit');
const MANIFESTS = path.join('dist', 'lxcfs-kit.k8s.yaml');
const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

interface PackageManifest {
  readonly name?: unknown;
  readonly version?: unknown;
  readonly repository?: unknown;
}

function readIfExists(file: string): string | undefined {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
}

/** Every `ghcr.io/lxcfs-kit/...` image string anywhere in a parsed document. */
function imageReferences(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') {
    if (value.startsWith(REGISTRY_PREFIX)) out.push(value);
  } else if (Array.isArray(value)) {
    for (const v of value) imageReferences(v, out);
  } else if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) imageReferences(v, out);
  }
  return out;
}

/** `{ repository: ghcr.io/lxcfs-kit/x, tag: t }` pairs in chart values. */
function repositoryTags(value: unknown, out: { repository: string; tag: unknown }[] = []): { repository: string; tag: unknown }[] {
  if (Array.isArray(value)) {
    for (const v of value) repositoryTags(v, out);
  } else if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (typeof record['repository'] === 'string' && record['repository'].startsWith(REGISTRY_PREFIX) && 'tag' in record) {
      out.push({ repository: record['repository'], tag: record['tag'] });
    }
    for (const v of Object.values(record)) repositoryTags(v, out);
  }
  return out;
}

function repositoryUrl(repository: unknown): string | undefined {
  if (typeof repository === 'string') return repository;
  if (repository !== null && typeof repository === 'object') {
    const url = (repository as Record<string, unknown>)['url'];
    return typeof url === 'string' ? url : undefined;
  }
  return undefined;
}

function readPackage(root: string): PackageManifest {
  return JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as PackageManifest;
}

/** Where the artifacts generated from package.json's version disagree with it. */
export function versionProblems(root: string): string[] {
  const problems: string[] = [];
  const pkg = readPackage(root);
  const version = typeof pkg.version === 'string' ? pkg.version : '';
  if (!SEMVER.test(version)) problems.push(`package.json version "${version}" is not a semantic version`);

  const chartText = readIfExists(path.join(root, CHART_DIR, 'Chart.yaml'));
  if (chartText === undefined) {
    problems.push(`${CHART_DIR}/Chart.yaml is missing: run npm run synth`);
  } else {
    const chart = parse(chartText) as Record<string, unknown> | null;
    for (const key of ['version', 'appVersion']) {
      const found = chart?.[key];
      if (String(found) !== version) problems.push(`${CHART_DIR}/Chart.yaml ${key} is ${String(found)}, package.json says ${version}: run npm run synth`);
    }
  }

  const valuesText = readIfExists(path.join(root, CHART_DIR, 'values.yaml'));
  if (valuesText !== undefined) {
    const values: unknown = parse(valuesText);
    for (const { repository, tag: imageTag } of repositoryTags(values)) {
      // An empty tag means "the chart's appVersion", which is checked above.
      const tag = typeof imageTag === 'string' || typeof imageTag === 'number' ? String(imageTag) : JSON.stringify(imageTag);
      if (imageTag !== '' && imageTag !== null && tag !== version) {
        problems.push(`${CHART_DIR}/values.yaml tags ${repository} with ${tag}, package.json says ${version}`);
      }
    }
    for (const ref of imageReferences(values).filter((r) => r.includes(':'))) {
      if (!ref.endsWith(`:${version}`)) problems.push(`${CHART_DIR}/values.yaml uses image ${ref}, expected tag ${version}`);
    }
  }

  const manifestsText = readIfExists(path.join(root, MANIFESTS));
  if (manifestsText === undefined) {
    problems.push(`${MANIFESTS} is missing: run npm run synth`);
  } else {
    const images = parseAllDocuments(manifestsText).flatMap((d) => imageReferences(d.toJS()));
    if (images.length === 0) problems.push(`${MANIFESTS} names no ${REGISTRY_PREFIX} image`);
    for (const ref of images) {
      if (!ref.endsWith(`:${version}`)) problems.push(`${MANIFESTS} uses image ${ref}, expected tag ${version}: run npm run synth`);
    }
  }
  return problems;
}

/** Everything that stops `tag` from being released from the checkout at `root`; empty when releasable. */
export function releaseProblems(root: string, tag: string): { version: string; problems: string[] } {
  const pkg = readPackage(root);
  const version = typeof pkg.version === 'string' ? pkg.version : '';
  const problems: string[] = [];
  if (tag !== `v${version}`) {
    problems.push(`git tag "${tag}" does not match package.json version ${version}: tag v${version}, or bump package.json and run npm run synth`);
  }
  // npm --provenance checks the package's repository against the repository the workflow runs in.
  if (repositoryUrl(pkg.repository) === undefined) {
    problems.push('package.json has no "repository" (npm publish --provenance needs it to match the GitHub repository)');
  }
  return { version, problems: [...problems, ...versionProblems(root)] };
}

function main(argv: readonly string[]): number {
  const tag = argv[0];
  if (tag === undefined || tag === '') {
    process.stderr.write('usage: release-version.ts <git tag, e.g. v1.2.3>\n');
    return 2;
  }
  // The workflow runs this from the checkout's root.
  const { version, problems } = releaseProblems(process.cwd(), tag);
  if (problems.length > 0) {
    process.stderr.write(`release ${tag} refused:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
    return 1;
  }
  process.stdout.write(`version=${version}\n`);
  return 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
