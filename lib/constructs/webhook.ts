/**
 * The admission webhook: Deployment, Service, PodDisruptionBudget, ServiceAccount,
 * least-privilege RBAC, certificates and the MutatingWebhookConfiguration.
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import {
  DEFAULT_LXCFS_FILES,
  DEFAULT_LXCFS_PATH,
  WEBHOOK_COMPONENT,
  WEBHOOK_HTTPS_PORT,
  WEBHOOK_METRICS_PORT,
  WEBHOOK_SERVICE_PORT,
  WEBHOOK_TLS_DIR,
} from '../contract';
import { directFlagValues } from '../options';
import { WEBHOOK_FLAGS, webhookArgs, WebhookFlags } from '../webhook/flags';
import { nonEmpty } from './agent';
import { CertManagerCertificates } from './certificates';
import { DEFAULT_CONTAINER_ANNOTATION, MetadataContext, metadataContext, objectMetadata, podMetadata, selectorLabels, serviceMonitorMetadata } from './metadata';
import { webhookNames, WebhookNames } from './webhook-names';
import {
  assertNoProblems,
  CertificateSource,
  commonProblems,
  JsonObject,
  LxcfsCommonProps,
  LxcfsWebhookOptions,
  RESERVED_LABELS,
  ServiceMonitorOptions,
  WEBHOOK_DEFAULTS,
  webhookProblems,
} from './props';
import {
  PDB_DEFAULTS,
  WEBHOOK_FIXED_SECURITY_CONTEXT,
  WEBHOOK_POD_SECURITY_CONTEXT_DEFAULT,
  WEBHOOK_SECURITY_CONTEXT_DEFAULT,
  workloadProblems,
} from './workload';
import { pairingProblems } from './pairing';
import { ConfigurationPolicy } from './webhook-configuration-policy';
import { WebhookConfiguration } from './webhook-configuration';
import { InjectionModeChoice } from './csi-driver';

export interface LxcfsWebhookProps extends LxcfsCommonProps, LxcfsWebhookOptions {
  /**
   * Files bind-mounted (read-only) into every injected container.
   * @default ['/proc/cpuinfo', '/proc/meminfo', '/proc/stat', '/proc/uptime', '/proc/loadavg', '/proc/diskstats', '/proc/swaps', '/sys/devices/system/cpu/online']
   */
  readonly files?: readonly string[];
  /**
   * Prometheus Operator ServiceMonitor for the webhook's metrics.
   * @default { enabled: false }
   */
  readonly serviceMonitor?: ServiceMonitorOptions;
  /**
   * How lxcfs reaches injected pods: `hostPath` volumes, the agent's `csi` volume, or per
   * namespace by its enforced Pod Security level (`podSecurity`: csi where it is baseline or
   * restricted). The agents must serve the CSI plugin for `csi` and `podSecurity`.
   * @default 'hostPath'
   */
  readonly injectionMode?: InjectionModeChoice;
}

/** Flags the webhook construct sets from its props (extraArgs may not repeat them). */
export const WEBHOOK_MANAGED_FLAGS: readonly string[] = [
  'port',
  'metrics-port',
  'cert-mode',
  'tls-cert-file',
  'tls-key-file',
  'service-name',
  'secret-name',
  'webhook-configuration',
  'lxcfs-path',
  'injection-mode',
  'file',
  'legacy-namespace-label',
  'repair-mode',
  'pod-security-enforced-namespaces',
  'repair-interval',
  'evictions-per-minute',
  'lease-name',
];
/** Environment variables the webhook container gets from the construct. */
export const WEBHOOK_MANAGED_ENV: readonly string[] = ['POD_NAMESPACE', 'POD_NAME'];

/** Every problem with the props of a LxcfsWebhook. */
export function lxcfsWebhookProblems(props: LxcfsWebhookProps): string[] {
  return [
    ...commonProblems(props),
    ...webhookProblems(props, props.files, props.namespace),
    ...workloadProblems('webhook', props, {
      known: Object.keys(WEBHOOK_FLAGS),
      flags: WEBHOOK_MANAGED_FLAGS,
      env: WEBHOOK_MANAGED_ENV,
      labels: RESERVED_LABELS,
      annotations: [DEFAULT_CONTAINER_ANNOTATION],
      commonLabels: props.labels ?? {},
    }),
  ];
}

/** The built-in spread: webhook replicas on different nodes where the cluster allows it. */
export function defaultWebhookTopologySpread(podLabels: Readonly<Record<string, string>>): JsonObject[] {
  return [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: podLabels } }];
}

/** Where the chart generator finds the container args (it renders them from the same flag specs). */
export const WEBHOOK_CONTAINER = WEBHOOK_COMPONENT;

export class LxcfsWebhook extends Construct {
  public readonly deployment: ApiObject;
  public readonly service: ApiObject;
  public readonly configuration: WebhookConfiguration;
  /** The PodDisruptionBudget, unless disabled. */
  public readonly podDisruptionBudget?: ApiObject;
  /** The host directory the webhook injects lxcfs files from (an agent in the same app must mount lxcfs there). */
  public readonly lxcfsPath: string;
  /** The injected files. */
  public readonly files: readonly string[];
  /** How lxcfs reaches injected pods (csi and podSecurity need agents serving the CSI plugin). */
  public readonly injectionMode: InjectionModeChoice;
  /** The webhook's command line, as rendered into the container args. */
  public readonly flags: Partial<WebhookFlags>;

  constructor(scope: Construct, id: string, props: LxcfsWebhookProps = {}) {
    super(scope, id);
    assertNoProblems(lxcfsWebhookProblems(props));
    const ctx = metadataContext(props);
    this.lxcfsPath = props.lxcfsPath ?? DEFAULT_LXCFS_PATH;
    this.files = props.files ?? DEFAULT_LXCFS_FILES;
    const names = webhookNames(ctx.name);
    const certs: CertificateSource = props.certificates ?? WEBHOOK_DEFAULTS.certificates;
    const selfManaged = certs.source === 'self';
    const secretName = certs.source === 'existingSecret' ? certs.secretName : names.tlsSecret;
    const repairMode = props.repairMode ?? WEBHOOK_DEFAULTS.repairMode;
    const meta = (name: string, wave: Parameters<typeof objectMetadata>[3], options?: Parameters<typeof objectMetadata>[4]) =>
      objectMetadata(ctx, name, WEBHOOK_COMPONENT, wave, options);

    const injectionMode = props.injectionMode ?? 'hostPath';
    this.injectionMode = injectionMode;
    const side = { installName: ctx.name, installNamespace: ctx.namespace, lxcfsPath: this.lxcfsPath, injectionMode };
    this.node.addValidation({ validate: () => pairingProblems(side, this) });
    const ports = { https: props.ports?.https ?? WEBHOOK_HTTPS_PORT, metrics: props.ports?.metrics ?? WEBHOOK_METRICS_PORT };
    this.flags = {
      port: ports.https,
      'metrics-port': ports.metrics,
      'cert-mode': selfManaged ? 'self' : 'files',
      ...(selfManaged ? {} : { 'tls-cert-file': `${WEBHOOK_TLS_DIR}/tls.crt`, 'tls-key-file': `${WEBHOOK_TLS_DIR}/tls.key` }),
      'service-name': names.service,
      'secret-name': secretName,
      'webhook-configuration': names.webhookConfiguration,
      ...(directFlagValues('webhook', props) as Partial<WebhookFlags>),
      'lease-name': names.lease,
      // In modes csi and podSecurity those namespaces are injected (with the CSI volume), so the reconciler judges their pods too.
      'pod-security-enforced-namespaces': injectionMode === 'hostPath' ? (props.podSecurityEnforcedNamespaces ?? WEBHOOK_DEFAULTS.podSecurityEnforcedNamespaces) : 'inject',
      ...(injectionMode === 'csi' ? { 'injection-mode': 'csi' } : {}),
    };

    new ApiObject(this, 'ServiceAccount', {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: meta(names.serviceAccount, 'prerequisites'),
      // The webhook calls the API: leases, events, and (self mode) its Secret and configuration.
      automountServiceAccountToken: true,
    });
    this.rbac(ctx, names, selfManaged, secretName, repairMode);

    if (certs.source === 'certManager') {
      new CertManagerCertificates(this, 'Certificates', { ctx, names, issuerRef: certs.issuerRef });
    }

    const podLabels = selectorLabels(ctx, WEBHOOK_COMPONENT);
    const httpsProbe = (path: string, periodSeconds: number, failureThreshold: number): Record<string, unknown> => ({
      httpGet: { path, port: 'https', scheme: 'HTTPS' },
      periodSeconds,
      failureThreshold,
      timeoutSeconds: 3,
      successThreshold: 1,
    });
    const tlsVolume = selfManaged ? [] : [{ name: 'tls', secret: { secretName, defaultMode: 0o440 } }];
    const tlsMount = selfManaged ? [] : [{ name: 'tls', mountPath: WEBHOOK_TLS_DIR, readOnly: true }];

    this.deployment = new ApiObject(this, 'Deployment', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(names.webhook, 'webhook'),
      spec: {
        replicas: props.replicas ?? WEBHOOK_DEFAULTS.replicas,
        selector: { matchLabels: podLabels },
        // Never fewer ready replicas than asked for during a roll-out: with failurePolicy Fail
        // an unavailable webhook blocks opted-in pod creation.
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        template: {
          metadata: podMetadata(ctx, WEBHOOK_COMPONENT, { labels: props.podLabels, annotations: props.podAnnotations }),
          spec: {
            serviceAccountName: names.serviceAccount,
            automountServiceAccountToken: true,
            priorityClassName: props.priorityClassName ?? WEBHOOK_DEFAULTS.priorityClassName,
            // For a control plane that cannot reach pod IPs: the API server calls the node's address.
            ...(props.hostNetwork ? { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' } : {}),
            // runAsNonRoot is not negotiable; the user and group are (OpenShift assigns its own).
            securityContext: { ...(props.podSecurityContext ?? WEBHOOK_POD_SECURITY_CONTEXT_DEFAULT), runAsNonRoot: true },
            ...nonEmpty('imagePullSecrets', props.imagePullSecrets),
            ...nonEmpty('nodeSelector', props.nodeSelector ?? WEBHOOK_DEFAULTS.nodeSelector),
            ...nonEmpty('tolerations', props.tolerations ?? WEBHOOK_DEFAULTS.tolerations),
            // An empty affinity means "the built-in one", as in the chart's values.
            affinity: props.affinity && Object.keys(props.affinity).length > 0 ? props.affinity : defaultWebhookAffinity(podLabels),
            // An empty list means "the built-in one", as in the chart's values.
            topologySpreadConstraints:
              props.topologySpreadConstraints && props.topologySpreadConstraints.length > 0 ? props.topologySpreadConstraints : defaultWebhookTopologySpread(podLabels),
            terminationGracePeriodSeconds: 30,
            containers: [
              {
                name: WEBHOOK_CONTAINER,
                image: props.image ?? WEBHOOK_DEFAULTS.image,
                imagePullPolicy: props.imagePullPolicy ?? 'IfNotPresent',
                args: [...webhookArgs(this.flags), ...(props.extraArgs ?? [])],
                env: [
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  // Identity in the repair reconciler's leader election.
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  ...(props.extraEnv ?? []),
                ],
                ports: [
                  { name: 'https', containerPort: ports.https, protocol: 'TCP' },
                  { name: 'metrics', containerPort: ports.metrics, protocol: 'TCP' },
                ],
                // The fixed fields come last: no prop can make the webhook privileged or root.
                securityContext: { ...(props.securityContext ?? WEBHOOK_SECURITY_CONTEXT_DEFAULT), ...WEBHOOK_FIXED_SECURITY_CONTEXT },
                startupProbe: httpsProbe('/healthz', 2, 30),
                livenessProbe: httpsProbe('/healthz', 10, 3),
                readinessProbe: httpsProbe('/readyz', 5, 2),
                ...nonEmpty('resources', props.resources ?? WEBHOOK_DEFAULTS.resources),
                volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...tlsMount],
              },
            ],
            volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '16Mi' } }, ...tlsVolume],
          },
        },
      },
    });

    this.service = new ApiObject(this, 'Service', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(names.service, 'webhook'),
      spec: {
        type: 'ClusterIP',
        selector: podLabels,
        ports: [
          { name: 'https', port: WEBHOOK_SERVICE_PORT, targetPort: 'https', protocol: 'TCP' },
          { name: 'metrics', port: WEBHOOK_METRICS_PORT, targetPort: 'metrics', protocol: 'TCP' },
        ],
      },
    });

    // maxUnavailable 1 keeps one replica through voluntary disruptions with the default two
    // replicas (the same as minAvailable 1), yet never blocks a node drain forever when an
    // operator runs a single replica with failurePolicy Ignore.
    const pdb = props.podDisruptionBudget ?? {};
    if (pdb.enabled ?? PDB_DEFAULTS.enabled) {
      this.podDisruptionBudget = new ApiObject(this, 'PodDisruptionBudget', {
        apiVersion: 'policy/v1',
        kind: 'PodDisruptionBudget',
        metadata: meta(names.webhook, 'webhook'),
        spec: {
          ...(pdb.minAvailable !== undefined ? { minAvailable: pdb.minAvailable } : { maxUnavailable: pdb.maxUnavailable ?? PDB_DEFAULTS.maxUnavailable }),
          selector: { matchLabels: podLabels },
        },
      });
    }

    if (props.serviceMonitor?.enabled) {
      new ApiObject(this, 'ServiceMonitor', {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'ServiceMonitor',
        metadata: serviceMonitorMetadata(meta(names.webhook, 'webhook'), props.serviceMonitor),
        spec: {
          selector: { matchLabels: podLabels },
          namespaceSelector: { matchNames: [ctx.namespace] },
          endpoints: [{ port: 'metrics', path: '/metrics', scheme: 'http', interval: props.serviceMonitor.interval ?? '30s' }],
        },
      });
    }

    this.configuration = new WebhookConfiguration(this, 'Configuration', {
      ctx,
      names,
      certificates: certs,
      failurePolicy: props.failurePolicy ?? WEBHOOK_DEFAULTS.failurePolicy,
      timeoutSeconds: props.timeoutSeconds ?? WEBHOOK_DEFAULTS.timeoutSeconds,
      legacyNamespaceLabel: props.legacyNamespaceLabel ?? WEBHOOK_DEFAULTS.legacyNamespaceLabel,
      excludedNamespaces: props.excludedNamespaces ?? WEBHOOK_DEFAULTS.excludedNamespaces,
      podSecurityEnforcedNamespaces:
        injectionMode === 'podSecurity' ? 'csi' : injectionMode === 'csi' ? 'inject' : (props.podSecurityEnforcedNamespaces ?? WEBHOOK_DEFAULTS.podSecurityEnforcedNamespaces),
    });
    if (selfManaged && (props.configurationPolicy ?? WEBHOOK_DEFAULTS.configurationPolicy)) {
      new ConfigurationPolicy(this, 'ConfigurationPolicy', { ctx, names });
    }
    this.configuration.node.addDependency(this.deployment);
  }

  /** Least privilege: by resourceNames wherever the API allows it. */
  private rbac(
    ctx: MetadataContext,
    names: WebhookNames,
    selfManaged: boolean,
    secretName: string,
    repairMode: string,
  ): void {
    const subject = [{ kind: 'ServiceAccount', name: names.serviceAccount, namespace: ctx.namespace }];
    const role = (id: string, name: string, rules: unknown[], clusterScoped: boolean): void => {
      const kind = clusterScoped ? 'ClusterRole' : 'Role';
      new ApiObject(this, id, {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind,
        metadata: objectMetadata(ctx, name, WEBHOOK_COMPONENT, 'prerequisites', { namespaced: !clusterScoped }),
        rules,
      });
      new ApiObject(this, `${id}Binding`, {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: `${kind}Binding`,
        metadata: objectMetadata(ctx, name, WEBHOOK_COMPONENT, 'prerequisites', { namespaced: !clusterScoped }),
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind, name },
        subjects: subject,
      });
    };

    if (selfManaged) {
      role('CertificatesRole', names.certificates, [
        { apiGroups: [''], resources: ['secrets'], resourceNames: [secretName], verbs: ['get', 'update'] },
        // The first replica creates the Secret; `create` cannot be limited by name.
        { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      ], false);
      role('ConfigurationRole', names.configurationAccess, [
        // watch by name: the webhook watches its own configuration with a metadata.name
        // field selector (a bare watch, no list) and restores the caBundle with a JSON patch
        // if something resets it.
        {
          apiGroups: ['admissionregistration.k8s.io'],
          resources: ['mutatingwebhookconfigurations'],
          resourceNames: [names.webhookConfiguration],
          verbs: ['get', 'watch', 'patch'],
        },
      ], true);
    }
    if (repairMode !== 'off') {
      role('Role', names.webhook, [
        // Leader election of the repair reconciler, its only user. `create` cannot be limited
        // by name (the object does not exist yet when it is authorized).
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [names.lease], verbs: ['get', 'update'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      ], false);
      role('ReconcilerRole', names.reconciler, [
        // The reconciler polls for opted-in pods created without injection. list cannot be
        // limited by name; it is read-only.
        { apiGroups: [''], resources: ['pods', 'namespaces'], verbs: ['list'] },
        // A core/v1 Event must live in the namespace of the pod it is about, so reporting a pod
        // anywhere in the cluster needs cluster-wide create (never patch: each report is new).
        { apiGroups: [''], resources: ['events'], verbs: ['create'] },
      ], true);
    }
    if (repairMode === 'evict') {
      role('EvictorRole', names.evictor, [
        // Evictions respect PodDisruptionBudgets, unlike deletes.
        { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
        // Evict only while the configuration exists and trusts the serving certificate, so the
        // replacement is injected (read-only, by name; self mode has this already).
        { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: [names.webhookConfiguration], verbs: ['get'] },
      ], true);
    }
  }
}

/** Prefer webhook replicas on different nodes, so one node going down leaves one running. */
export function defaultWebhookAffinity(podLabels: Readonly<Record<string, string>>): JsonObject {
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: podLabels } } },
      ],
    },
  };
}

