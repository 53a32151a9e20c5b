/**
 * Every object the chart renders (defaults and the whole matrix) and every object in
 * dist/ validates against the Kubernetes OpenAPI schemas (kubernetes-models, plus an
 * unknown-field check against @kubernetes/client-node's models) and the
 * cert-manager / Prometheus Operator CRD schemas.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { JsonObject } from '../../lib/constructs';
import { CHART, helms, helmTemplate, parseObjects, REPO_ROOT, jsonText } from './helm';
import { MATRIX } from './matrix';

interface Result {
  id: string;
  ok: boolean;
  error?: string;
}

function validateObjects(objects: readonly JsonObject[]): Result[] {
  const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(__dirname, 'openapi-validate.ts')], {
    cwd: REPO_ROOT,
    input: JSON.stringify(objects),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`validator failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Result[];
}

test('the validator rejects an invalid object (it can fail)', () => {
  const [result] = validateObjects([
    { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'x' }, spec: { selector: {}, template: { spec: { containers: [{ name: 'a', ports: [{ containerPort: 'http' }] }] } } } },
  ]);
  expect(result.ok).toBe(false);
  expect(result.error).toMatch(/containerPort/);
});

test('the validator rejects a misspelt field (unknown fields are checked too)', () => {
  const [result] = validateObjects([
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'x', labels: { any: 'label' } },
      spec: {
        selector: {},
        template: { spec: { containers: [{ name: 'a', volumeMounts: [{ name: 'v', mountPath: '/x', mountPropogation: 'Bidirectional' }] }] } },
      },
    },
  ]);
  expect(result).toMatchObject({ ok: false, error: 'unknown fields: .spec.template.spec.containers[0].volumeMounts[0].mountPropogation' });
});

test('every object of every matrix render (Helm 4.1) validates', () => {
  const [, helm4] = helms();
  const objects = MATRIX.flatMap((e) => parseObjects(helmTemplate(helm4, CHART, e.release, e.namespace, e.values)));
  const kinds = new Set(objects.map((o) => jsonText(o.kind)));
  // The matrix covers every kind the chart can render, CRDs included.
  for (const kind of ['DaemonSet', 'Deployment', 'MutatingWebhookConfiguration', 'PodDisruptionBudget', 'Certificate', 'Issuer', 'ServiceMonitor', 'PrometheusRule', 'ConfigMap', 'ResourceQuota', 'ClusterRole']) {
    expect(kinds).toContain(kind);
  }
  const failures = validateObjects(objects).filter((r) => !r.ok);
  expect(failures).toEqual([]);
});

test('every object in dist/lxcfs-kit.k8s.yaml validates', () => {
  const objects = parseObjects(fs.readFileSync(path.join(REPO_ROOT, 'dist', 'lxcfs-kit.k8s.yaml'), 'utf8'));
  expect(objects.length).toBeGreaterThan(10);
  expect(validateObjects(objects).filter((r) => !r.ok)).toEqual([]);
});
