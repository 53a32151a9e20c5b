/** The value sets the chart tests render: the defaults and the matrix the issue asks for, plus a few more. */
import { Json } from '../../lib/constructs';

export interface MatrixEntry {
  readonly name: string;
  readonly release: string;
  readonly namespace: string;
  readonly values: Json;
}

/** A CA bundle shaped like a real one (base64 of a PEM block); the body is not a certificate. */
export const TEST_CA_BUNDLE = Buffer.from('-----BEGIN CERTIFICATE-----\nbm90LWEtcmVhbC1jZXJ0aWZpY2F0ZQ==\n-----END CERTIFICATE-----\n').toString('base64');

export const MATRIX: readonly MatrixEntry[] = [
  { name: 'defaults', release: 'lxcfs-kit', namespace: 'lxcfs-kit', values: {} },
  { name: 'cert-manager (self-signed CA)', release: 'lxcfs-kit', namespace: 'lxcfs-kit', values: { certificates: { source: 'certManager' } } },
  {
    name: 'cert-manager (own ClusterIssuer)',
    release: 'prod',
    namespace: 'lxcfs-kit',
    values: { certificates: { source: 'certManager', certManager: { issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } } } },
  },
  {
    name: 'existing secret',
    release: 'lxcfs-kit',
    namespace: 'lxcfs-kit',
    values: { certificates: { source: 'existingSecret', existingSecret: { secretName: 'my-webhook-tls', caBundle: TEST_CA_BUNDLE } } },
  },
  {
    name: 'custom namespace, path and files',
    release: 'edge',
    namespace: 'node-tools',
    values: {
      lxcfs: { path: '/opt/lxcfs', files: ['/proc/meminfo', '/proc/cpuinfo'] },
      agent: { lxcfsArgs: ['-l'], reconcileIntervalSeconds: 10, image: { tag: '9.9.9' }, tolerations: [{ key: 'gpu', operator: 'Exists', effect: 'NoSchedule' }] },
      webhook: {
        replicas: 3,
        timeoutSeconds: 10,
        excludedNamespaces: ['batch'],
        nodeSelector: { 'kubernetes.io/os': 'linux', pool: 'system' },
        affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['system'] }] }] } } },
        resources: { requests: { cpu: '100m', memory: '128Mi' } },
        repairMode: 'evict',
        repairIntervalSeconds: 30,
        evictionsPerMinute: 2,
      },
      imagePullPolicy: 'Always',
      commonLabels: { team: 'platform' },
      commonAnnotations: { 'example.com/owner': 'platform' },
      criticalPodsQuota: { enabled: true },
      serviceMonitor: { enabled: true, interval: '1m' },
      monitoring: { prometheusAnnotations: true, prometheusRule: { enabled: true, labels: { release: 'kube-prometheus-stack' } }, dashboard: { enabled: true } },
    },
  },
  { name: 'failurePolicy Ignore', release: 'lxcfs-kit', namespace: 'lxcfs-kit', values: { webhook: { failurePolicy: 'Ignore', replicas: 1, repairMode: 'off' } } },
  { name: 'legacy label on', release: 'migrate', namespace: 'lxcfs', values: { webhook: { legacyNamespaceLabel: true } } },
  { name: 'injection mode csi, own kubelet directory', release: 'lxcfs-kit', namespace: 'lxcfs-kit', values: { injection: { mode: 'csi', kubeletDir: '/data/kubelet' } } },
  { name: 'injection mode podSecurity with the legacy label', release: 'psa', namespace: 'lxcfs-kit', values: { injection: { mode: 'podSecurity' }, webhook: { legacyNamespaceLabel: true } } },
  {
    name: 'platform values (OpenShift security context, pull secrets, registry mirror, digests, host network, PDB minAvailable, spread, ServiceMonitor placement)',
    release: 'plat',
    namespace: 'platform',
    values: {
      global: { imageRegistry: 'mirror.example.com', imagePullSecrets: [{ name: 'global-pull' }], unrelatedGlobal: { a: 1 } },
      imagePullSecrets: [{ name: 'pull' }],
      nameOverride: 'lxcfs',
      agent: {
        image: { digest: `sha256:${'a'.repeat(64)}` },
        podAnnotations: { 'example.com/agent': 'yes' },
        podLabels: { tier: 'node' },
        extraArgs: ['--pidfd=never', '--restart-burst=3'],
        extraEnv: [{ name: 'TZ', value: 'UTC' }],
        resources: { requests: { cpu: '0.1', memory: '1e8' }, limits: { memory: '1Gi' } },
      },
      webhook: {
        image: { registry: '', repository: 'lxcfs/webhook', tag: '1.2.3' },
        podAnnotations: { 'example.com/webhook': 'yes' },
        podLabels: { tier: 'control' },
        extraArgs: ['--log-level=warn'],
        extraEnv: [{ name: 'HTTPS_PROXY', valueFrom: { secretKeyRef: { name: 'proxy', key: 'url' } } }],
        podSecurityContext: { runAsUser: null, runAsGroup: null, fsGroup: null },
        securityContext: { seLinuxOptions: { level: 's0:c123,c456' } },
        hostNetwork: true,
        ports: { https: 10260, metrics: 10261 },
        podDisruptionBudget: { minAvailable: '50%' },
        topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { tier: 'control' } } }],
      },
      serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' }, namespace: 'monitoring', interval: '15s' },
    },
  },
  {
    name: 'fullnameOverride, PDB off, repairMode written as a bare off (YAML boolean false)',
    release: 'whatever',
    namespace: 'lxcfs-kit',
    values: { fullnameOverride: 'lk', webhook: { repairMode: false, podDisruptionBudget: { enabled: false } } },
  },
];
