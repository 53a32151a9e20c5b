/**
 * lxcfs-kit as a subchart, as platform teams ship it: an umbrella chart in a temporary
 * directory depends on the generated chart (through `file://` and `helm dependency build`, or
 * copied into its charts/ folder, with an alias), passes `global` values down, and lints with
 * --strict and renders with real Helm 3.17 and 4.1. What the subchart renders equals the
 * constructs synthesized with the same values.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';
import { VERSION } from '../../lib/contract';
import { JsonObject } from '../../lib/constructs';
import { ChartValues, defaultValues, mergeValues, propsFromValues, synthesizeObjects } from '../../lib/generator';
import { CHART, helms, jsonText, parseObjects, runHelm } from './helm';

const GLOBALS = {
  imageRegistry: 'mirror.example.com',
  // Bitnami's globals name pull secrets as plain strings.
  imagePullSecrets: ['corp-registry'],
  // Globals meant for other subcharts must not trip lxcfs-kit's schema.
  clusterDomain: 'cluster.local',
  team: { name: 'platform' },
};
const SUBCHART_VALUES = { webhook: { replicas: 3 }, commonLabels: { team: 'platform' } };

function umbrella(how: 'file' | 'copy'): { dir: string; key: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-umbrella-'));
  const key = how === 'copy' ? 'lxcfs' : 'lxcfs-kit';
  const dependency = how === 'file' ? { name: 'lxcfs-kit', version: VERSION, repository: `file://${CHART}` } : { name: 'lxcfs-kit', version: VERSION, alias: key };
  fs.writeFileSync(path.join(dir, 'Chart.yaml'), YAML.stringify({ apiVersion: 'v2', name: 'platform', version: '1.0.0', icon: 'https://example.com/icon.svg', dependencies: [dependency] }));
  fs.writeFileSync(path.join(dir, 'values.yaml'), YAML.stringify({ global: GLOBALS, [key]: SUBCHART_VALUES }));
  fs.mkdirSync(path.join(dir, 'templates'));
  fs.writeFileSync(
    path.join(dir, 'templates', 'configmap.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-platform\ndata:\n  team: {{ .Values.global.team.name | quote }}\n',
  );
  if (how === 'copy') fs.cpSync(CHART, path.join(dir, 'charts', 'lxcfs-kit'), { recursive: true });
  return { dir, key };
}

const expected = () => {
  const values = mergeValues(defaultValues(), { global: GLOBALS, ...SUBCHART_VALUES }) as unknown as ChartValues;
  return synthesizeObjects(propsFromValues(values, { name: 'platform', namespace: 'tools' }));
};
const byKey = (objects: readonly JsonObject[]) => Object.fromEntries(objects.map((o) => [`${jsonText(o.kind)}/${jsonText((o.metadata as JsonObject).name)}`, o]));

describe.each(helms().map((h) => [h.label, h] as const))('%s', (_label, helm) => {
  test.each([
    ['a file:// dependency fetched by helm dependency build', 'file'],
    ['the chart copied into charts/ under an alias', 'copy'],
  ] as const)('umbrella chart with %s: lint --strict passes, global values reach lxcfs-kit, the render equals the constructs', (_what, how) => {
    const { dir } = umbrella(how);
    if (how === 'file') {
      const build = runHelm(helm, ['dependency', 'build', dir]);
      expect({ status: build.status, err: build.status === 0 ? '' : build.stdout + build.stderr }).toEqual({ status: 0, err: '' });
    }
    const lint = runHelm(helm, ['lint', '--strict', dir, '--namespace', 'tools']);
    expect({ status: lint.status, out: lint.status === 0 ? '' : lint.stdout + lint.stderr }).toEqual({ status: 0, out: '' });
    const render = runHelm(helm, ['template', 'platform', dir, '--namespace', 'tools']);
    expect(render.stderr).toBe('');
    const objects = parseObjects(render.stdout);
    const own = objects.filter((o) => o.kind === 'ConfigMap' && (o.metadata as JsonObject).name === 'platform-platform');
    expect(own).toHaveLength(1);
    const lxcfs = objects.filter((o) => !own.includes(o));
    expect(byKey(lxcfs)).toEqual(byKey(expected()));
    const deployment = lxcfs.find((o) => o.kind === 'Deployment') as { spec: { template: { spec: { containers: Array<{ image: string }>; imagePullSecrets: unknown } } } };
    expect(deployment.spec.template.spec.containers[0].image).toBe(`mirror.example.com/lxcfs-kit/webhook:${VERSION}`);
    expect(deployment.spec.template.spec.imagePullSecrets).toEqual([{ name: 'corp-registry' }]);
  });

  test('the schema still refuses a misspelt subchart value passed from the umbrella', () => {
    const { dir, key } = umbrella('copy');
    fs.writeFileSync(path.join(dir, 'values.yaml'), YAML.stringify({ global: GLOBALS, [key]: { webhook: { replica: 3 } } }));
    const lint = runHelm(helm, ['lint', '--strict', dir, '--namespace', 'tools']);
    expect(lint.status).not.toBe(0);
    expect(lint.stdout + lint.stderr).toMatch(/replica/);
  });
});
