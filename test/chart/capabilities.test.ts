/**
 * What the chart renders depending on the cluster (Helm's .Capabilities), with Helm 3.17 and
 * Helm 4.1: the ValidatingAdmissionPolicy that confines the webhook's writes to its own
 * configuration appears exactly when the cluster serves admissionregistration.k8s.io/v1
 * ValidatingAdmissionPolicy, the certificates are self-managed and the value allows it, and
 * then equals what the constructs synthesize.
 */
import { JsonObject } from '../../lib/constructs';
import { ChartValues, defaultValues, mergeValues, propsFromValues, synthesizeObjects } from '../../lib/generator';
import { CHART, helms, helmTemplate, parseObjects, jsonText } from './helm';

const VAP_API = ['--api-versions', 'admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy'];
const key = (o: JsonObject) => `${jsonText(o.kind)}/${jsonText((o.metadata as JsonObject).name)}`;
const policies = (objs: JsonObject[]) => objs.filter((o) => jsonText(o.kind).startsWith('ValidatingAdmissionPolicy'));

describe.each(helms().map((h) => [h.label, h] as const))('%s', (_label, helm) => {
  test('with the API served: the policy and its binding render, equal to the constructs with configurationPolicy', () => {
    const rendered = parseObjects(helmTemplate(helm, CHART, 'r', 'ns', {}, VAP_API));
    const name = jsonText((rendered.find((o) => o.kind === 'MutatingWebhookConfiguration')?.metadata as JsonObject).name);
    expect(policies(rendered).map(key)).toEqual([`ValidatingAdmissionPolicy/${name}-webhook-configuration-guard`, `ValidatingAdmissionPolicyBinding/${name}-webhook-configuration-guard`]);
    const expected = synthesizeObjects(propsFromValues(defaultValues() as unknown as ChartValues, { name: 'r', namespace: 'ns' }, { validatingAdmissionPolicy: true }));
    expect(Object.fromEntries(rendered.map((o) => [key(o), o]))).toEqual(Object.fromEntries(expected.map((o) => [key(o), o])));
  });

  test('without the API, with cert-manager certificates, or with the value off: no policy', () => {
    expect(policies(parseObjects(helmTemplate(helm, CHART, 'r', 'ns', {})))).toEqual([]);
    expect(policies(parseObjects(helmTemplate(helm, CHART, 'r', 'ns', { certificates: { source: 'certManager' } }, VAP_API)))).toEqual([]);
    const off = mergeValues(defaultValues(), { webhook: { configurationPolicy: false } });
    expect(policies(parseObjects(helmTemplate(helm, CHART, 'r', 'ns', off, VAP_API)))).toEqual([]);
  });
});
