/**
 * Equivalence over every shape the chart can take: each combination of the
 * generator's dimensions (certificate source, own issuer, legacy label, repair
 * mode, quota, ServiceMonitor, injection mode; scrape annotations, alerts, dashboard, webhook hostNetwork and PDB shape on the defaults) rendered with Helm equals the constructs
 * synthesized with the same props. Helm 4.1 renders all of them; Helm 3.17 every fifth.
 */
import { JsonObject } from '../../lib/constructs';
import { ChartValues, defaultValues, mergeValues, propsFromValues, synthesizeObjects } from '../../lib/generator';
import { allCombos, Combo } from '../../lib/generator/template-props';
import { CHART, helms, helmTemplate, parseObjects, jsonText } from './helm';
import { TEST_CA_BUNDLE } from './matrix';

function valuesFor(combo: Combo): JsonObject {
  return {
    certificates: {
      source: combo.certificates,
      certManager: { issuerRef: { name: combo.issuer === 'external' ? 'corp-ca' : '' } },
      existingSecret: combo.certificates === 'existingSecret' ? { secretName: 'tls', caBundle: TEST_CA_BUNDLE } : { secretName: '', caBundle: '' },
    },
    criticalPodsQuota: { enabled: combo.quota === 'true' },
    serviceMonitor: { enabled: combo.serviceMonitor === 'true' },
    injection: { mode: combo.injection },
    webhook: {
      legacyNamespaceLabel: combo.legacy === 'true',
      repairMode: combo.repair,
      hostNetwork: combo.webhookHostNetwork === 'true',
      podDisruptionBudget: { enabled: combo.pdb !== 'disabled', minAvailable: combo.pdb === 'minAvailable' ? 1 : '' },
    },
    monitoring: {
      prometheusAnnotations: combo.prometheusAnnotations === 'true',
      prometheusRule: { enabled: combo.prometheusRule === 'true' },
      dashboard: { enabled: combo.dashboard === 'true' },
    },
  };
}

const key = (o: JsonObject) => `${jsonText(o.kind)}/${jsonText((o.metadata as JsonObject).name)}`;
const sorted = (objs: JsonObject[]) => Object.fromEntries(objs.map((o) => [key(o), o]));

const [helm3, helm4] = helms();
const combos = allCombos();

test.each(combos.map((c, i) => [i, JSON.stringify(c), c] as const))('combination %i %s', (index, _label, combo) => {
  const values = valuesFor(combo);
  const expected = sorted(synthesizeObjects(propsFromValues(mergeValues(defaultValues(), values) as unknown as ChartValues, { name: 'r', namespace: 'ns' })));
  const targets = index % 5 === 0 ? [helm4, helm3] : [helm4];
  for (const helm of targets) {
    expect(sorted(parseObjects(helmTemplate(helm, CHART, 'r', 'ns', values)))).toEqual(expected);
  }
});
