/**
 * The package's public API is pinned: a new export is a decision (add it here and to the README's
 * "Package API"), never the side effect of `export *` from a module of internal helpers.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';
import * as api from '../../lib';

const INDEX = path.resolve(__dirname, '..', '..', 'lib', 'index.ts');

/** Values: what `require('lxcfs-kit')` holds at run time. */
const VALUES = [
  'AGENT_IMAGE',
  'CSI_DRIVER_NAME',
  'DEFAULT_LXCFS_FILES',
  'DEFAULT_LXCFS_PATH',
  'DEFAULT_NAME',
  'DEFAULT_NAMESPACE',
  'EXCLUDE_CONTAINERS_ANNOTATION',
  'INJECTED_ANNOTATION',
  'INJECT_DISABLED',
  'INJECT_ENABLED',
  'INJECT_LABEL',
  'LEGACY_NAMESPACE_LABEL',
  'LEGACY_NAMESPACE_VALUE',
  'LxcfsAgent',
  'LxcfsKit',
  'LxcfsKitConfigError',
  'LxcfsWebhook',
  'VERSION',
  'WEBHOOK_IMAGE',
];

/** Types only: props, their parts, and the types of the constructs' public members. */
const TYPES = [
  'AgentFlags',
  'CertificateSource',
  'DashboardOptions',
  'EnvVar',
  'LocalObjectReference',
  'LxcfsWebhookPlatformOptions',
  'LxcfsWorkloadOptions',
  'PodDisruptionBudgetOptions',
  'WebhookPorts',
  'FailurePolicy',
  'ImagePullPolicy',
  'InjectionModeChoice',
  'IssuerRef',
  'Json',
  'JsonObject',
  'LxcfsAgentOptions',
  'LxcfsAgentProps',
  'LxcfsCommonProps',
  'LxcfsCsiDriver',
  'LxcfsKitProps',
  'LxcfsWebhookOptions',
  'LxcfsWebhookProps',
  'MonitoringOptions',
  'PrometheusRuleOptions',
  'RepairMode',
  'ResourceRequirements',
  'ServiceMonitorOptions',
  'Toleration',
  'WebhookConfiguration',
  'WebhookFlags',
];

/** Every name lib/index.ts exports, read from its source; `export *` is reported as such. */
function declaredExports(): { values: string[]; types: string[]; wildcards: string[] } {
  const source = ts.createSourceFile(INDEX, fs.readFileSync(INDEX, 'utf8'), ts.ScriptTarget.ES2022, true);
  const values: string[] = [];
  const types: string[] = [];
  const wildcards: string[] = [];
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement)) {
      const clause = statement.exportClause;
      if (clause === undefined || !ts.isNamedExports(clause)) {
        wildcards.push(statement.getText());
        continue;
      }
      for (const e of clause.elements) (statement.isTypeOnly || e.isTypeOnly ? types : values).push(e.name.text);
    } else if (ts.canHaveModifiers(statement) && ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) {
      wildcards.push(`declared in index.ts: ${statement.getText().slice(0, 60)}`);
    }
  }
  return { values: values.sort(), types: types.sort(), wildcards };
}

test('lib/index.ts names each export (no export *, nothing declared there)', () => {
  expect(declaredExports().wildcards).toEqual([]);
});

test('the run-time exports are exactly the pinned values', () => {
  expect(Object.keys(api).sort()).toEqual([...VALUES].sort());
  expect(declaredExports().values).toEqual([...VALUES].sort());
});

test('the type-only exports are exactly the pinned types', () => {
  expect(declaredExports().types).toEqual([...TYPES].sort());
});

test('the constructs a user composes are classes and the config error is an Error', () => {
  for (const c of [api.LxcfsKit, api.LxcfsAgent, api.LxcfsWebhook]) expect(typeof c).toBe('function');
  expect(new api.LxcfsKitConfigError(['x'])).toBeInstanceOf(Error);
});
