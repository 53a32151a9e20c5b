/**
 * One version everywhere: package.json is the source, and the chart, the
 * generated manifests and the constructs' image constants must agree with it
 * (the release gate runs the same checks on the tag before publishing).
 */
import * as fs from 'fs';
import { parse, parseAllDocuments } from 'yaml';
import { AGENT_IMAGE, IMAGE_REGISTRY, PROJECT_NAME, VERSION, WEBHOOK_IMAGE } from '../../lib/contract';
import { versionProblems } from '../../.github/scripts/release-version';
import { packageJson, readRepoFile, repoPath, ROOT } from './repo';

interface Container {
  readonly image?: string;
}

function containerImages(doc: unknown): string[] {
  const spec = (doc as { spec?: { template?: { spec?: { containers?: Container[]; initContainers?: Container[] } } } })?.spec?.template?.spec;
  return [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])].map((c) => c.image ?? '');
}

describe('versions and image names agree across the release', () => {
  test('the constructs default to the images the release pushes, tagged with the package version', () => {
    const pkg = packageJson();
    expect(pkg.name).toBe(PROJECT_NAME);
    expect(VERSION).toBe(pkg.version);
    expect(AGENT_IMAGE).toBe(`${IMAGE_REGISTRY}/agent:${pkg.version}`);
    expect(WEBHOOK_IMAGE).toBe(`${IMAGE_REGISTRY}/webhook:${pkg.version}`);
  });

  test('Chart.yaml (generated) names the chart lxcfs-kit, with version and appVersion from package.json', () => {
    const chartFile = repoPath('charts', 'lxcfs-kit', 'Chart.yaml');
    expect({ chartFile, exists: fs.existsSync(chartFile) }).toEqual({ chartFile, exists: true });
    const chart = parse(readRepoFile('charts', 'lxcfs-kit', 'Chart.yaml')) as Record<string, unknown>;
    expect(chart['name']).toBe(PROJECT_NAME);
    expect(String(chart['version'])).toBe(VERSION);
    expect(String(chart['appVersion'])).toBe(VERSION);
  });

  test('the generated manifests run exactly the agent and webhook images of this version', () => {
    const docs = parseAllDocuments(readRepoFile('dist', 'lxcfs-kit.k8s.yaml')).map((d) => d.toJS() as unknown);
    const images = new Set(docs.flatMap(containerImages).filter((i) => i !== ''));
    expect([...images].sort()).toEqual([AGENT_IMAGE, WEBHOOK_IMAGE].sort());
  });

  test('the release gate finds nothing to fix in this checkout (chart, values, manifests)', () => {
    expect(versionProblems(ROOT)).toEqual([]);
  });
});
