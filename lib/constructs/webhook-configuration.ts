/**
 * The MutatingWebhookConfiguration. Only opted-in pods are ever sent to the
 * webhook, and never from system namespaces or the install's own namespace, so
 * `failurePolicy: Fail` can block neither the cluster nor the webhook itself.
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import {
  INJECT_DISABLED,
  INJECT_ENABLED,
  INJECT_LABEL,
  LEGACY_NAMESPACE_LABEL,
  LEGACY_NAMESPACE_VALUE,
  MUTATE_CSI_PATH,
  MUTATE_PATH,
  PART_OF_LABEL,
  PROJECT_NAME,
  SYSTEM_NAMESPACES,
  WEBHOOK_COMPONENT,
  WEBHOOK_SERVICE_PORT,
} from '../contract';
import { HOSTPATH_FORBIDDING_LEVELS, POD_SECURITY_ENFORCE_LABEL, POD_SECURITY_WARNING_PATH } from '../pod-security';
import { servingCertificateName } from './certificates';
import { MetadataContext, objectMetadata } from './metadata';
import { CertificateSource, FailurePolicy } from './props';
import type { WebhookNames } from './webhook-names';

export interface WebhookConfigurationProps {
  readonly ctx: MetadataContext;
  readonly names: WebhookNames;
  readonly certificates: CertificateSource;
  readonly failurePolicy: FailurePolicy;
  readonly timeoutSeconds: number;
  readonly legacyNamespaceLabel: boolean;
  readonly excludedNamespaces: readonly string[];
  /**
   * Namespaces enforcing Pod Security baseline/restricted: `skip` leaves them out (with
   * warning-only twins), `inject` treats them like any other, `csi` (injection mode
   * podSecurity) sends them to the csi endpoint, whose CSI volume every level allows.
   */
  readonly podSecurityEnforcedNamespaces: 'skip' | 'inject' | 'csi';
}

/** Entry names (unique within the configuration). */
export const WEBHOOK_ENTRY_NAMES = {
  namespaces: 'namespaces.lxcfs-kit.io',
  pods: 'pods.lxcfs-kit.io',
  legacyNamespaces: 'legacy-namespaces.lxcfs-kit.io',
} as const;

/** The csi twin of an entry (injection mode podSecurity), for namespaces enforcing baseline/restricted. */
export function csiEntryName(entry: string): string {
  return entry.replace(/^([^.]+)\./, '$1-csi.');
}

/** The warning-only twin of an entry, for namespaces left out for their Pod Security level. */
export function podSecurityEntryName(entry: string): string {
  return `${entry.split('.')[0]}.pod-security.lxcfs-kit.io`;
}

export class WebhookConfiguration extends Construct {
  public readonly apiObject: ApiObject;

  constructor(scope: Construct, id: string, props: WebhookConfigurationProps) {
    super(scope, id);
    const { ctx, names, certificates } = props;
    const clientConfig = {
      service: { name: names.service, namespace: ctx.namespace, path: MUTATE_PATH, port: WEBHOOK_SERVICE_PORT },
      // self: created without caBundle, the webhook publishes its CA (Argo CD: ignoreDifferences on caBundle).
      // certManager: cainjector fills it from the Certificate named in the annotation.
      ...(certificates.source === 'existingSecret' ? { caBundle: certificates.caBundle } : {}),
    };
    const notExcluded = {
      key: 'kubernetes.io/metadata.name',
      operator: 'NotIn',
      values: [...SYSTEM_NAMESPACES, ctx.namespace, ...props.excludedNamespaces],
    };
    const notOptedOut = [
      { key: INJECT_LABEL, operator: 'NotIn', values: [INJECT_DISABLED] },
      // lxcfs-kit's own pods are never sent to the webhook (it must not depend on itself).
      { key: PART_OF_LABEL, operator: 'NotIn', values: [PROJECT_NAME] },
    ];
    const entry = (name: string, namespaceExpressions: unknown[], objectExpressions: unknown[]) => ({
      name,
      admissionReviewVersions: ['v1'],
      clientConfig,
      failurePolicy: props.failurePolicy,
      matchPolicy: 'Equivalent',
      reinvocationPolicy: 'IfNeeded',
      sideEffects: 'None',
      timeoutSeconds: props.timeoutSeconds,
      rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
      namespaceSelector: { matchExpressions: [notExcluded, ...namespaceExpressions] },
      objectSelector: { matchExpressions: objectExpressions },
    });
    const namespaceOptedIn = { key: INJECT_LABEL, operator: 'In', values: [INJECT_ENABLED] };
    const namespaceNotOptedIn = { key: INJECT_LABEL, operator: 'NotIn', values: [INJECT_ENABLED] };
    const legacyNotOptedIn = { key: LEGACY_NAMESPACE_LABEL, operator: 'NotIn', values: [LEGACY_NAMESPACE_VALUE] };

    const scopes: [string, unknown[], unknown[]][] = [
      [WEBHOOK_ENTRY_NAMES.namespaces, [namespaceOptedIn], notOptedOut],
      // Pods labelled in namespaces not opted in as a whole (those are the entries for
      // namespaces), so a pod is never sent twice.
      [
        WEBHOOK_ENTRY_NAMES.pods,
        [namespaceNotOptedIn, ...(props.legacyNamespaceLabel ? [legacyNotOptedIn] : [])],
        [{ key: INJECT_LABEL, operator: 'In', values: [INJECT_ENABLED] }, notOptedOut[1]],
      ],
    ];
    if (props.legacyNamespaceLabel) {
      scopes.push([WEBHOOK_ENTRY_NAMES.legacyNamespaces, [{ key: LEGACY_NAMESPACE_LABEL, operator: 'In', values: [LEGACY_NAMESPACE_VALUE] }, namespaceNotOptedIn], notOptedOut]);
    }
    const webhooks: Record<string, unknown>[] = [];
    if (props.podSecurityEnforcedNamespaces === 'inject') {
      for (const [name, ns, obj] of scopes) webhooks.push(entry(name, ns, obj));
    } else {
      // Pod Security is checked after mutation: an injected pod in such a namespace would be refused.
      const psa = (operator: 'In' | 'NotIn') => ({ key: POD_SECURITY_ENFORCE_LABEL, operator, values: [...HOSTPATH_FORBIDDING_LEVELS] });
      for (const [name, ns, obj] of scopes) webhooks.push(entry(name, [...ns, psa('NotIn')], obj));
      if (props.podSecurityEnforcedNamespaces === 'csi') {
        // Injection mode podSecurity: their pods get the CSI volume, which every level allows.
        const csiConfig = { ...clientConfig, service: { ...clientConfig.service, path: MUTATE_CSI_PATH } };
        for (const [name, ns, obj] of scopes) webhooks.push({ ...entry(csiEntryName(name), [...ns, psa('In')], obj), clientConfig: csiConfig });
      } else {
        // Their opted-in pods reach a warning-only endpoint that can never block them.
        for (const [name, ns, obj] of scopes) {
          webhooks.push({
            ...entry(podSecurityEntryName(name), [...ns, psa('In')], obj),
            clientConfig: { ...clientConfig, service: { ...clientConfig.service, path: POD_SECURITY_WARNING_PATH } },
            failurePolicy: 'Ignore',
            reinvocationPolicy: 'Never',
          });
        }
      }
    }

    const annotations: Record<string, string> =
      certificates.source === 'certManager' ? { 'cert-manager.io/inject-ca-from': `${ctx.namespace}/${servingCertificateName(ctx.name)}` } : {};
    this.apiObject = new ApiObject(this, 'Resource', {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: objectMetadata(ctx, names.webhookConfiguration, WEBHOOK_COMPONENT, 'webhookConfiguration', { namespaced: false, annotations }),
      webhooks,
    });
  }
}
