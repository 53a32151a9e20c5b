/**
 * A ValidatingAdmissionPolicy that narrows the webhook's RBAC `patch` on its own
 * MutatingWebhookConfiguration to what the patch is for: the caBundle of each entry. RBAC
 * cannot limit fields, so without it a compromised webhook could widen its own rules or
 * selectors (and receive or block every pod of the cluster). Needs admissionregistration.k8s.io/v1
 * ValidatingAdmissionPolicy (Kubernetes 1.30 or later).
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { WEBHOOK_COMPONENT } from '../contract';
import { MetadataContext, objectMetadata } from './metadata';
import type { WebhookNames } from './webhook-names';

export interface ConfigurationPolicyProps {
  readonly ctx: MetadataContext;
  readonly names: WebhookNames;
}

/** Fields of a webhook entry the webhook may never change (everything but clientConfig.caBundle). */
const ENTRY_FIELDS = [
  'admissionReviewVersions',
  'failurePolicy',
  'matchPolicy',
  'matchConditions',
  'namespaceSelector',
  'objectSelector',
  'reinvocationPolicy',
  'rules',
  'sideEffects',
  'timeoutSeconds',
  'clientConfig.service',
  'clientConfig.url',
] as const;

/** Metadata the webhook may never change either (an annotation could, e.g., hand the caBundle to cert-manager's injector). */
const METADATA_FIELDS = ['metadata.labels', 'metadata.annotations', 'metadata.finalizers', 'metadata.ownerReferences'] as const;

/** CEL: `a.f` and `b.f` are both absent or equal (has() keeps it valid for optional fields). */
function sameField(a: string, b: string, field: string): string {
  return `(has(${a}.${field}) == has(${b}.${field}) && (!has(${a}.${field}) || ${a}.${field} == ${b}.${field}))`;
}

/** The CEL expression that holds when `object` differs from `oldObject` at most in caBundle fields. */
export function onlyCaBundleChanged(): string {
  const entry = ['o.name == w.name', ...ENTRY_FIELDS.map((f) => sameField('o', 'w', f))].join(' && ');
  return [
    'object.webhooks.size() == oldObject.webhooks.size()',
    `object.webhooks.all(w, oldObject.webhooks.exists_one(o, ${entry}))`,
    ...METADATA_FIELDS.map((f) => sameField('object', 'oldObject', f)),
  ].join(' && ');
}

export class ConfigurationPolicy extends Construct {
  public readonly policy: ApiObject;

  constructor(scope: Construct, id: string, props: ConfigurationPolicyProps) {
    super(scope, id);
    const { ctx, names } = props;
    // Before the webhook runs: its first caBundle patch is already checked.
    const meta = () => objectMetadata(ctx, names.configurationPolicy, WEBHOOK_COMPONENT, 'prerequisites', { namespaced: false });
    this.policy = new ApiObject(this, 'Policy', {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: meta(),
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: ['admissionregistration.k8s.io'],
              apiVersions: ['*'],
              operations: ['UPDATE'],
              resources: ['mutatingwebhookconfigurations'],
              resourceNames: [names.webhookConfiguration],
            },
          ],
        },
        // Only the webhook's own writes; Helm, Argo CD and administrators stay unrestricted.
        matchConditions: [{ name: 'webhook-service-account', expression: `request.userInfo.username == "system:serviceaccount:${ctx.namespace}:${names.serviceAccount}"` }],
        validations: [
          {
            expression: onlyCaBundleChanged(),
            message: `the lxcfs-kit webhook may change only clientConfig.caBundle of ${names.webhookConfiguration}`,
            reason: 'Forbidden',
          },
        ],
      },
    });
    new ApiObject(this, 'Binding', {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: meta(),
      spec: { policyName: names.configurationPolicy, validationActions: ['Deny'] },
    });
  }
}
