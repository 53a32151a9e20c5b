/**
 * The constructs: a snapshot of the default install, one assertion per row of
 * design.md's failure table that lives in the manifests, and every rejected prop.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import {
  AGENT_HEALTH_PORT,
  AGENT_NODE_FLAGS,
  AGENT_NODE_OPTIONS,
  AGENT_READY_FILE,
  AGENT_STATE_DIR,
  DEFAULT_LXCFS_PATH,
  INJECT_LABEL,
  LEGACY_NAMESPACE_LABEL,
  MUTATE_PATH,
  PART_OF_LABEL,
  SYNC_WAVE_ANNOTATION,
  VERSION,
  WEBHOOK_HTTPS_PORT,
  WEBHOOK_SERVICE_PORT,
} from '../../lib/contract';
import { lxcfsFileMounts } from '../../lib/injection';
import { LxcfsAgent, LxcfsKit, LxcfsKitConfigError, LxcfsKitProps, LxcfsWebhook } from '../../lib';
import { parseFlags } from '../../lib/flags';
import { AGENT_FLAGS } from '../../lib/agent/flags';
import { WEBHOOK_FLAGS, WEBHOOK_NODE_OPTIONS } from '../../lib/webhook/flags';
import { POD_SECURITY_ENFORCE_LABEL, POD_SECURITY_WARNING_PATH } from '../../lib/pod-security';

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument -- synthesized manifests are walked as untyped JSON and checked field by field */
type Obj = Record<string, any>;

function synth(props: LxcfsKitProps = {}): Obj[] {
  const chart = new Chart(Testing.app(), 'test');
  new LxcfsKit(chart, 'kit', props);
  return Testing.synth(chart) as Obj[];
}
const find = (objs: Obj[], kind: string, name?: string): Obj => {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (!o) throw new Error(`no ${kind} ${name ?? ''}`);
  return o;
};
const podSpec = (o: Obj): Obj => o.spec.template.spec;

/** The value of `ENV NODE_OPTIONS=...` in one target of the repository's Dockerfile (exactly one such line). */
function dockerfileNodeOptions(target: string): string {
  const dockerfile = fs.readFileSync(path.join(__dirname, '..', '..', 'Dockerfile'), 'utf8');
  const stage = dockerfile.split(/^FROM /m).find((s) => new RegExp(`^\\S+ AS ${target}\\s*$`).test(s.split('\n')[0]));
  if (stage === undefined) throw new Error(`no Dockerfile target ${target}`);
  const values = [...stage.matchAll(/^ENV NODE_OPTIONS=(.*)$/gm)].map((m) => m[1].trim().replace(/^"(.*)"$/, '$1'));
  if (values.length !== 1) throw new Error(`Dockerfile target ${target}: ${values.length} ENV NODE_OPTIONS lines, expected 1`);
  return values[0];
}
const container = (o: Obj): Obj => podSpec(o).containers[0];

describe('default install', () => {
  const objs = synth();
  const agent = find(objs, 'DaemonSet');
  const webhook = find(objs, 'Deployment');
  const mwc = find(objs, 'MutatingWebhookConfiguration');

  test('snapshot', () => {
    expect(objs).toMatchSnapshot();
  });

  test('start order after power loss: agent system-node-critical, webhook system-cluster-critical', () => {
    expect(podSpec(agent).priorityClassName).toBe('system-node-critical');
    expect(podSpec(webhook).priorityClassName).toBe('system-cluster-critical');
  });

  test('registry not up after a power loss: both images IfNotPresent with the immutable version tag', () => {
    for (const o of [agent, webhook]) {
      expect(container(o).imagePullPolicy).toBe('IfNotPresent');
      expect(container(o).image).toMatch(new RegExp(`:${VERSION.replace(/\./g, '\\.')}$`));
    }
  });

  test('agent: hostNetwork (starts before the CNI), hostPID, privileged, every taint tolerated, Linux only', () => {
    const spec = podSpec(agent);
    expect(spec.hostNetwork).toBe(true);
    expect(spec.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(spec.hostPID).toBe(true);
    expect(container(agent).securityContext.privileged).toBe(true);
    expect(spec.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(find(objs, 'ServiceAccount', 'lxcfs-kit-agent').automountServiceAccountToken).toBe(false);
    expect(objs.filter((o) => /Binding$/.test(o.kind) && o.subjects.some((s: Obj) => s.name === 'lxcfs-kit-agent'))).toEqual([]);
  });

  test('lxcfs upgrade: the new agent takes over before the old one stops (maxSurge 1, maxUnavailable 0)', () => {
    expect(agent.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
  });

  test('agent mounts: lxcfs dir with Bidirectional propagation, state dir, both DirectoryOrCreate at the same host path', () => {
    expect(container(agent).volumeMounts).toEqual([
      { name: 'lxcfs', mountPath: DEFAULT_LXCFS_PATH, mountPropagation: 'Bidirectional' },
      { name: 'state', mountPath: AGENT_STATE_DIR },
      { name: 'tmp', mountPath: '/tmp' },
    ]);
    expect(podSpec(agent).volumes).toEqual([
      { name: 'lxcfs', hostPath: { path: DEFAULT_LXCFS_PATH, type: 'DirectoryOrCreate' } },
      { name: 'state', hostPath: { path: AGENT_STATE_DIR, type: 'DirectoryOrCreate' } },
      { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    ]);
  });

  test('lxcfs dead mount: liveness HTTP /healthz (fails on ENOTCONN or no answer in 2 s) on the health port by number', () => {
    const live = container(agent).livenessProbe;
    expect(live.httpGet).toEqual({ path: '/healthz', port: AGENT_HEALTH_PORT, scheme: 'HTTP' });
    expect(live.exec).toBeUndefined();
    // The agent answers 503 itself after 2 s; the probe must wait longer than that.
    expect(live.timeoutSeconds).toBeGreaterThan(2);
  });

  test('agent rolling update: no container port, so no host port blocks the surge pod on the same node', () => {
    const c = container(agent);
    expect(c.ports).toBeUndefined();
    for (const x of podSpec(agent).containers as Obj[]) {
      expect(x.ports ?? []).toEqual([]);
      expect(JSON.stringify(x)).not.toMatch(/hostPort/);
    }
  });

  test('agent rolling update: readiness and startup are exec probes on the ready file the agent is told to write', () => {
    const c = container(agent);
    for (const probe of [c.readinessProbe, c.startupProbe]) {
      expect(probe.exec).toEqual({ command: ['cat', AGENT_READY_FILE] });
      expect(probe.httpGet).toBeUndefined();
      expect(probe.tcpSocket).toBeUndefined();
    }
    const flags = parseFlags(AGENT_FLAGS, (c.args as string[]).slice(1));
    expect(flags['ready-file']).toBe(AGENT_READY_FILE);
    expect(c.args).toContain(`--ready-file=${AGENT_READY_FILE}`);
    // Generous start-up window: lxcfs mounts, takes over from the old agent, first reconcile.
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBeGreaterThanOrEqual(60);
  });

  test('agent root filesystem is read-only; the ready file lives on a pod-private memory emptyDir at /tmp, never a host path', () => {
    const c = container(agent);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(AGENT_READY_FILE.startsWith('/tmp/')).toBe(true);
    const tmp = (c.volumeMounts as Obj[]).find((m) => m.mountPath === '/tmp');
    const volume = (podSpec(agent).volumes as Obj[]).find((v) => v.name === tmp?.name);
    // Per pod, so never shared with the old agent; the agent removes a stale file from a container restart first thing.
    expect(volume?.emptyDir).toEqual({ medium: 'Memory', sizeLimit: '1Mi' });
    expect(volume?.hostPath).toBeUndefined();
  });

  test.each(['/', '/etc', '/usr', '/var', '/var/lib', '/proc', '/sys/fs', '/dev', '/run', '/var/lib/kubelet', '/var//lib/lxcfs', '/var/lib/../lxcfs'])(
    'lxcfs path %s is rejected: it must be a dedicated directory',
    (lxcfsPath) => {
      expect(() => synth({ lxcfsPath })).toThrow(/lxcfs path .*(system directory|without "\/\/")/);
    },
  );

  test('agent rolling update: liveness tolerates the handover gap (new agent binds the port after the old one exits)', () => {
    const live = container(agent).livenessProbe;
    // Restart only after (failureThreshold - 1) * period seconds without an answer; the gap is about 1 s.
    expect((live.failureThreshold - 1) * live.periodSeconds).toBeGreaterThanOrEqual(20);
  });

  test('node memory: each image target sets NODE_OPTIONS to its contract constant, the manifests never repeat it', () => {
    expect(dockerfileNodeOptions('agent')).toBe(AGENT_NODE_OPTIONS);
    expect(dockerfileNodeOptions('webhook')).toBe(WEBHOOK_NODE_OPTIONS);
    expect(AGENT_NODE_OPTIONS).toBe('--max-semi-space-size=1 --expose-gc --v8-pool-size=1');
    expect(AGENT_NODE_FLAGS).toEqual(['--optimize-for-size']);
    expect(WEBHOOK_NODE_OPTIONS).toBe('--max-semi-space-size=4 --max-old-space-size=96');
    for (const o of [agent, webhook]) expect(((container(o).env ?? []) as Obj[]).map((e) => e.name)).not.toContain('NODE_OPTIONS');
  });

  test('agent shutdown: grace period of at least 30 s (the old agent waits up to 20 s for its successor)', () => {
    expect(podSpec(agent).terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
  });

  test('lxcfs is never OOM-killed under normal load: requests set, no CPU limit, generous memory limit', () => {
    const r = container(agent).resources;
    expect(r.requests).toEqual({ cpu: '50m', memory: '64Mi' });
    expect(r.limits.cpu).toBeUndefined();
    expect(r.limits.memory).toBe('512Mi');
  });

  test('the command lines parse with the commands\' own flag specs', () => {
    const agentArgs = container(agent).args as string[];
    const webhookArgs = container(webhook).args as string[];
    expect(agentArgs[0]).toBe('agent');
    expect(webhookArgs[0]).toBe('webhook');
    expect(parseFlags(AGENT_FLAGS, agentArgs.slice(1))['lxcfs-path']).toBe(DEFAULT_LXCFS_PATH);
    const w = parseFlags(WEBHOOK_FLAGS, webhookArgs.slice(1));
    expect(w['cert-mode']).toBe('self');
    expect(w['secret-name']).toBe('lxcfs-kit-webhook-tls');
    expect(w['webhook-configuration']).toBe(mwc.metadata.name);
    expect(w['service-name']).toBe(find(objs, 'Service').metadata.name);
  });

  test('webhook down: 2 replicas, PDB, spread across nodes, never below the asked replicas during a roll-out', () => {
    expect(webhook.spec.replicas).toBe(2);
    expect(webhook.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    const pdb = find(objs, 'PodDisruptionBudget');
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(pdb.spec.selector).toEqual(webhook.spec.selector);
    const spec = podSpec(webhook);
    expect(spec.topologySpreadConstraints[0]).toMatchObject({ topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway' });
    expect(spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe('kubernetes.io/hostname');
  });

  test('webhook security: non-root 65532, read-only root, no capabilities, no escalation, seccomp RuntimeDefault, API token', () => {
    const spec = podSpec(webhook);
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container(webhook).securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(spec.automountServiceAccountToken).toBe(true);
    expect(container(webhook).env).toEqual([
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ]);
    expect(container(webhook).readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'https', scheme: 'HTTPS' });
  });

  test('service 443 → https container port; MWC points at it on the mutate path', () => {
    const svc = find(objs, 'Service');
    expect(svc.spec.ports[0]).toEqual({ name: 'https', port: WEBHOOK_SERVICE_PORT, targetPort: 'https', protocol: 'TCP' });
    expect(container(webhook).ports[0]).toEqual({ name: 'https', containerPort: WEBHOOK_HTTPS_PORT, protocol: 'TCP' });
    for (const w of mwc.webhooks) {
      // The Pod Security twins call the warning-only endpoint of the same Service.
      const path = w.name.includes('.pod-security.') ? POD_SECURITY_WARNING_PATH : MUTATE_PATH;
      expect(w.clientConfig).toEqual({ service: { name: svc.metadata.name, namespace: 'lxcfs-kit', path, port: WEBHOOK_SERVICE_PORT } });
    }
  });

  test('webhook down → Fail on opt-in scope only; system namespaces and its own excluded; its own pods and opted-out pods never sent', () => {
    expect(mwc.webhooks.map((w: Obj) => w.name)).toEqual(['namespaces.lxcfs-kit.io', 'pods.lxcfs-kit.io', 'namespaces.pod-security.lxcfs-kit.io', 'pods.pod-security.lxcfs-kit.io']);
    for (const w of mwc.webhooks) {
      const warningOnly = w.name.includes('.pod-security.');
      expect(w).toMatchObject({
        failurePolicy: warningOnly ? 'Ignore' : 'Fail',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        reinvocationPolicy: warningOnly ? 'Never' : 'IfNeeded',
        matchPolicy: 'Equivalent',
        rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
      });
      // Pod Security is checked after mutation: namespaces enforcing baseline/restricted (no hostPath) only get the warning.
      expect(w.namespaceSelector.matchExpressions).toContainEqual({ key: POD_SECURITY_ENFORCE_LABEL, operator: warningOnly ? 'In' : 'NotIn', values: ['baseline', 'restricted'] });
      expect(w.timeoutSeconds).toBeLessThanOrEqual(10);
      expect(w.namespaceSelector.matchExpressions[0]).toEqual({
        key: 'kubernetes.io/metadata.name',
        operator: 'NotIn',
        values: ['kube-system', 'kube-public', 'kube-node-lease', 'lxcfs-kit'],
      });
      expect(w.objectSelector.matchExpressions).toContainEqual({ key: PART_OF_LABEL, operator: 'NotIn', values: ['lxcfs-kit'] });
    }
    const [byNamespace, byPod] = mwc.webhooks;
    expect(byNamespace.namespaceSelector.matchExpressions).toContainEqual({ key: INJECT_LABEL, operator: 'In', values: ['enabled'] });
    expect(byNamespace.objectSelector.matchExpressions).toContainEqual({ key: INJECT_LABEL, operator: 'NotIn', values: ['disabled'] });
    expect(byPod.objectSelector.matchExpressions).toContainEqual({ key: INJECT_LABEL, operator: 'In', values: ['enabled'] });
    // Every lxcfs-kit pod carries the label the objectSelector excludes.
    for (const o of [agent, webhook]) expect(o.spec.template.metadata.labels[PART_OF_LABEL]).toBe('lxcfs-kit');
  });

  test('self-managed certificates: no caBundle in the MWC, no key material anywhere', () => {
    for (const w of mwc.webhooks) expect(w.clientConfig.caBundle).toBeUndefined();
    expect(JSON.stringify(objs)).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    expect(objs.filter((o) => o.kind === 'Secret')).toEqual([]);
  });

  test('RBAC by resourceNames wherever the API allows it', () => {
    const role = find(objs, 'Role', 'lxcfs-kit-webhook-certificates');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['lxcfs-kit-webhook-tls'], verbs: ['get', 'update'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    ]);
    const mwcRole = find(objs, 'ClusterRole', 'lxcfs-kit-webhook-configuration');
    expect(mwcRole.rules).toEqual([
      { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: [mwc.metadata.name], verbs: ['get', 'watch', 'patch'] },
    ]);
    expect(find(objs, 'Role', 'lxcfs-kit-webhook').rules).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['lxcfs-kit-webhook-repair'], verbs: ['get', 'update'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    ]);
    // report mode reads pods and namespaces and reports with Events, but evicts nothing.
    expect(find(objs, 'ClusterRole', 'lxcfs-kit-webhook-reconciler').rules).toEqual([
      { apiGroups: [''], resources: ['pods', 'namespaces'], verbs: ['list'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
    ]);
    expect(objs.some((o) => JSON.stringify(o).includes('pods/eviction'))).toBe(false);
  });

  test('RBAC least privilege: only the verbs the webhook calls (no secrets/events patch, no configuration update/list, no pod watch)', () => {
    const rules = objs.filter((o) => o.kind.endsWith('Role')).flatMap((o) => o.rules as Obj[]);
    const verbsOn = (resource: string): string[] => [...new Set(rules.filter((r) => r.resources.includes(resource)).flatMap((r) => r.verbs as string[]))].sort();
    expect(verbsOn('secrets')).toEqual(['create', 'get', 'update']);
    expect(verbsOn('mutatingwebhookconfigurations')).toEqual(['get', 'patch', 'watch']);
    expect(verbsOn('events')).toEqual(['create']);
    expect(verbsOn('leases')).toEqual(['create', 'get', 'update']);
    expect(verbsOn('pods')).toEqual(['list']);
    expect(verbsOn('namespaces')).toEqual(['list']);
  });

  test('Events about reported pods: create cluster-wide (a core/v1 Event lives in its pod\'s namespace), nowhere else', () => {
    const eventRoles = objs.filter((o) => o.kind.endsWith('Role') && JSON.stringify(o.rules).includes('events'));
    expect(eventRoles.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['ClusterRole/lxcfs-kit-webhook-reconciler']);
    const binding = find(objs, 'ClusterRoleBinding', 'lxcfs-kit-webhook-reconciler');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'lxcfs-kit-webhook-reconciler' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: podSpec(webhook).serviceAccountName, namespace: webhook.metadata.namespace }]);
    // The core group only: the webhook writes core/v1 Events, never events.k8s.io ones.
    expect(find(objs, 'ClusterRole', 'lxcfs-kit-webhook-reconciler').rules.filter((r: Obj) => r.resources.includes('events'))).toEqual([
      { apiGroups: [''], resources: ['events'], verbs: ['create'] },
    ]);
  });

  test('webhook shutdown: grace period covers --shutdown-delay, the listener drain and a margin (at least 15 s)', () => {
    const flags = parseFlags(WEBHOOK_FLAGS, container(webhook).args.slice(1));
    const drainSeconds = 5; // WebhookServer.close() default grace for in-flight admissions
    expect(flags['shutdown-delay']).toBe(5);
    expect(podSpec(webhook).terminationGracePeriodSeconds).toBeGreaterThanOrEqual(15);
    expect(podSpec(webhook).terminationGracePeriodSeconds).toBeGreaterThanOrEqual(flags['shutdown-delay'] + drainSeconds + 5);
  });

  test('webhook probes: readiness HTTPS GET /readyz, liveness and startup HTTPS GET /healthz, on the https port', () => {
    const c = container(webhook);
    const https = (c.ports as Obj[]).find((p) => p.name === 'https');
    expect(https?.containerPort).toBe(WEBHOOK_HTTPS_PORT);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'https', scheme: 'HTTPS' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'https', scheme: 'HTTPS' });
    expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'https', scheme: 'HTTPS' });
  });

  test('Argo CD sync waves: RBAC → agent → webhook → webhook configuration', () => {
    const wave = (o: Obj) => Number(o.metadata.annotations[SYNC_WAVE_ANNOTATION]);
    expect(wave(find(objs, 'ClusterRole', 'lxcfs-kit-webhook-configuration'))).toBeLessThan(wave(agent));
    expect(wave(find(objs, 'ServiceAccount', 'lxcfs-kit-agent'))).toBeLessThan(wave(agent));
    expect(wave(agent)).toBeLessThan(wave(webhook));
    expect(wave(webhook)).toBeLessThan(wave(mwc));
    for (const o of objs) expect(o.metadata.annotations[SYNC_WAVE_ANNOTATION]).toMatch(/^\d$/);
  });
});

describe('options', () => {
  test('injected pods get hostPath type File (the contract the webhook implements; the install itself creates no File volumes)', () => {
    for (const m of lxcfsFileMounts('/opt/lxcfs', ['/proc/meminfo'])) expect(m).toMatchObject({ hostPath: '/opt/lxcfs/proc/meminfo', hostPathType: 'File' });
    const objs = synth({ lxcfsPath: '/opt/lxcfs' });
    expect(JSON.stringify(objs)).not.toContain('"type":"File"');
    const args = container(find(objs, 'Deployment')).args as string[];
    expect(args).toContain('--lxcfs-path=/opt/lxcfs');
  });

  test('cert-manager: self-signed CA chain, serving Certificate, inject-ca-from, files mode with the secret mounted', () => {
    const objs = synth({ webhook: { certificates: { source: 'certManager' } } });
    expect(objs.filter((o) => o.kind === 'Issuer').map((o) => o.metadata.name)).toEqual(['lxcfs-kit-selfsigned', 'lxcfs-kit-ca']);
    const serving = find(objs, 'Certificate', 'lxcfs-kit-webhook');
    expect(serving.spec.secretName).toBe('lxcfs-kit-webhook-tls');
    expect(serving.spec.dnsNames).toContain('lxcfs-kit-webhook.lxcfs-kit.svc');
    const mwc = find(objs, 'MutatingWebhookConfiguration');
    expect(mwc.metadata.annotations['cert-manager.io/inject-ca-from']).toBe('lxcfs-kit/lxcfs-kit-webhook');
    const d = find(objs, 'Deployment');
    expect(podSpec(d).volumes).toContainEqual({ name: 'tls', secret: { secretName: 'lxcfs-kit-webhook-tls', defaultMode: 0o440 } });
    const w = parseFlags(WEBHOOK_FLAGS, (container(d).args as string[]).slice(1));
    expect(w['cert-mode']).toBe('files');
    expect(w['tls-cert-file']).toBe('/etc/lxcfs-kit/tls/tls.crt');
    // files mode: no rights on Secrets or the webhook configuration.
    expect(objs.some((o) => o.kind.endsWith('Role') && JSON.stringify(o.rules).includes('secrets'))).toBe(false);
    expect(objs.some((o) => o.kind === 'ClusterRole' && JSON.stringify(o.rules).includes('mutatingwebhookconfigurations'))).toBe(false);
  });

  test('cert-manager with your issuer: no Issuers created, the Certificate references yours', () => {
    const objs = synth({ webhook: { certificates: { source: 'certManager', issuerRef: { name: 'corp', kind: 'ClusterIssuer' } } } });
    expect(objs.filter((o) => o.kind === 'Issuer')).toEqual([]);
    expect(find(objs, 'Certificate').spec.issuerRef).toEqual({ name: 'corp', kind: 'ClusterIssuer', group: 'cert-manager.io' });
  });

  test('existing secret: caBundle in every webhook entry, secret mounted', () => {
    const caBundle = Buffer.from('-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n').toString('base64');
    const objs = synth({ webhook: { certificates: { source: 'existingSecret', secretName: 'mine', caBundle } } });
    for (const w of find(objs, 'MutatingWebhookConfiguration').webhooks) expect(w.clientConfig.caBundle).toBe(caBundle);
    expect(podSpec(find(objs, 'Deployment')).volumes).toContainEqual({ name: 'tls', secret: { secretName: 'mine', defaultMode: 0o440 } });
  });

  test('legacy label: a third entry for lxcfs-admission-webhook=enabled namespaces, and the webhook flag', () => {
    const objs = synth({ webhook: { legacyNamespaceLabel: true } });
    const entries = find(objs, 'MutatingWebhookConfiguration').webhooks;
    // Three injecting entries and their three Pod Security warning twins.
    expect(entries).toHaveLength(6);
    expect(entries[2].namespaceSelector.matchExpressions).toContainEqual({ key: LEGACY_NAMESPACE_LABEL, operator: 'In', values: ['enabled'] });
    // A labelled pod in a legacy namespace is sent once, by the legacy entry.
    expect(entries[1].namespaceSelector.matchExpressions).toContainEqual({ key: LEGACY_NAMESPACE_LABEL, operator: 'NotIn', values: ['enabled'] });
    expect(container(find(objs, 'Deployment')).args).toContain('--legacy-namespace-label');
  });

  test('repair modes: off grants no pod access, no Events and no Lease (only the reconciler elects a leader), evict adds pods/eviction', () => {
    const rules = synth({ webhook: { repairMode: 'off' } }).filter((o) => o.kind.endsWith('Role')).flatMap((o) => o.rules);
    expect(rules.length).toBeGreaterThan(0);
    expect(JSON.stringify(rules)).not.toMatch(/"pods"|pods\/eviction|namespaces|events|leases/);
    const evict = synth({ webhook: { repairMode: 'evict' } });
    expect(find(evict, 'ClusterRole', 'lxcfs-kit-webhook-evictor').rules).toEqual([
      { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
      // Evictions wait until the configuration exists and trusts the serving certificate.
      { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: ['lxcfs-kit'], verbs: ['get'] },
    ]);
  });

  test('Pod Security: podSecurityEnforcedNamespaces inject drops the selector and the warning twins, and tells the reconciler', () => {
    const objs = synth({ webhook: { podSecurityEnforcedNamespaces: 'inject' } });
    const entries = find(objs, 'MutatingWebhookConfiguration').webhooks;
    expect(entries.map((w: Obj) => w.name)).toEqual(['namespaces.lxcfs-kit.io', 'pods.lxcfs-kit.io']);
    expect(JSON.stringify(entries)).not.toContain(POD_SECURITY_ENFORCE_LABEL);
    expect(container(find(objs, 'Deployment')).args).toContain('--pod-security-enforced-namespaces=inject');
  });

  test('configurationPolicy: a ValidatingAdmissionPolicy bound to the webhook ServiceAccount allows it to change only caBundle of its configuration', () => {
    expect(synth({}).filter((o) => o.kind.startsWith('ValidatingAdmissionPolicy'))).toEqual([]);
    const objs = synth({ name: 'blue', namespace: 'tools', webhook: { configurationPolicy: true } });
    const policy = find(objs, 'ValidatingAdmissionPolicy', 'blue-webhook-configuration-guard');
    expect(policy.apiVersion).toBe('admissionregistration.k8s.io/v1');
    expect(policy.metadata.namespace).toBeUndefined();
    expect(policy.spec.failurePolicy).toBe('Fail');
    expect(policy.spec.matchConstraints.resourceRules).toEqual([
      { apiGroups: ['admissionregistration.k8s.io'], apiVersions: ['*'], operations: ['UPDATE'], resources: ['mutatingwebhookconfigurations'], resourceNames: ['blue'] },
    ]);
    const sa = find(objs, 'Deployment').spec.template.spec.serviceAccountName;
    expect(policy.spec.matchConditions).toEqual([{ name: 'webhook-service-account', expression: `request.userInfo.username == "system:serviceaccount:tools:${sa}"` }]);
    const cel: string = policy.spec.validations[0].expression;
    // Every field of an entry but caBundle, and the metadata a write could misuse, must stay as they were.
    for (const f of ['rules', 'namespaceSelector', 'objectSelector', 'failurePolicy', 'matchConditions', 'clientConfig.service', 'clientConfig.url', 'timeoutSeconds', 'sideEffects', 'reinvocationPolicy', 'matchPolicy', 'admissionReviewVersions']) {
      expect(cel).toContain(`o.${f} == w.${f}`);
    }
    for (const f of ['labels', 'annotations', 'finalizers', 'ownerReferences']) expect(cel).toContain(`object.metadata.${f} == oldObject.metadata.${f}`);
    expect(cel).toContain('object.webhooks.size() == oldObject.webhooks.size()');
    expect(cel).not.toContain('caBundle');
    expect(find(objs, 'ValidatingAdmissionPolicyBinding', 'blue-webhook-configuration-guard').spec).toEqual({ policyName: 'blue-webhook-configuration-guard', validationActions: ['Deny'] });
    // In place before the webhook's first caBundle patch.
    expect(policy.metadata.annotations['argocd.argoproj.io/sync-wave']).toBe('0');
    expect(() => synth({ webhook: { configurationPolicy: true, certificates: { source: 'certManager' } } })).toThrow(/configurationPolicy .*source "self"/);
  });

  test('names, namespace, quota, ServiceMonitor, extra labels', () => {
    const objs = synth({
      name: 'blue',
      namespace: 'tools',
      criticalPodsQuota: true,
      serviceMonitor: { enabled: true },
      labels: { team: 'x' },
      annotations: { note: 'y' },
    });
    expect(find(objs, 'MutatingWebhookConfiguration').metadata.name).toBe('blue');
    const quota = find(objs, 'ResourceQuota');
    expect(quota.spec.scopeSelector.matchExpressions[0]).toEqual({
      scopeName: 'PriorityClass',
      operator: 'In',
      values: ['system-node-critical', 'system-cluster-critical'],
    });
    expect(find(objs, 'ServiceMonitor').spec.endpoints[0].port).toBe('metrics');
    for (const o of objs) {
      expect(o.metadata.labels.team).toBe('x');
      expect(o.metadata.annotations.note).toBe('y');
      if (o.kind !== 'MutatingWebhookConfiguration' && !o.kind.startsWith('Cluster')) expect(o.metadata.namespace).toBe('tools');
    }
    expect(find(objs, 'Deployment').spec.selector.matchLabels.team).toBeUndefined();
  });

  test('createNamespace: the Namespace admits the privileged agent under Pod Security Admission', () => {
    const ns = find(synth({ createNamespace: true, namespace: 'tools' }), 'Namespace');
    expect(ns.metadata.name).toBe('tools');
    expect(ns.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('privileged');
    expect(synth().some((o) => o.kind === 'Namespace')).toBe(false);
  });

  test('LxcfsAgent and LxcfsWebhook work on their own', () => {
    const chart = new Chart(Testing.app(), 'parts');
    new LxcfsAgent(chart, 'agent', { namespace: 'a' });
    new LxcfsWebhook(chart, 'webhook', { namespace: 'a' });
    const kinds = Testing.synth(chart).map((o) => o.kind);
    expect(kinds).toEqual(expect.arrayContaining(['DaemonSet', 'Deployment', 'MutatingWebhookConfiguration', 'Service']));
  });
});

describe('rejected props (synth time, with a fix-it message)', () => {
  test.each<[string, LxcfsKitProps, RegExp]>([
    ['fewer than 2 replicas with Fail', { webhook: { replicas: 1 } }, /replicas to 2 or more, or failurePolicy to Ignore/],
    ['an empty file set', { files: [] }, /file set is empty/],
    ['a relative host path', { lxcfsPath: 'var/lib/lxcfs' }, /absolute host path/],
    ['a file outside /proc and /sys', { files: ['/etc/passwd'] }, /under \/proc or \/sys/],
    ['the default namespace (its own namespace is excluded from injection)', { namespace: 'default' }, /dedicated namespace/],
    ['kube-system as the install namespace', { namespace: 'kube-system' }, /dedicated namespace/],
    ['a timeout above the API limit', { webhook: { timeoutSeconds: 31 } }, /1 to 30/],
    ['a label that would break selectors', { labels: { 'app.kubernetes.io/instance': 'x' } }, /selectors depend on it/],
    ['an annotation that would reorder the Argo CD sync', { annotations: { 'argocd.argoproj.io/sync-wave': '9' } }, /orders the Argo CD sync/],
    ['an empty lxcfs flag list (the agent would fall back to its defaults)', { agent: { lxcfsArgs: [] } }, /lxcfsArgs is empty, which the agent would read as its default.*list at least one item, such as -l/],
    ['a name too long for derived names', { name: 'a'.repeat(41) }, /at most 40/],
    ['existingSecret without a caBundle', { webhook: { certificates: { source: 'existingSecret', secretName: 's', caBundle: '' } } }, /caBundle is empty/],
    [
      'a private key as caBundle',
      { webhook: { certificates: { source: 'existingSecret', secretName: 's', caBundle: Buffer.from('-----BEGIN PRIVATE KEY-----').toString('base64') } } },
      /contains a private key/,
    ],
  ])('%s', (_what, props, message) => {
    let error: unknown;
    try {
      synth(props);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(LxcfsKitConfigError);
    expect((error as Error).message).toMatch(message);
  });

  test('one replica is accepted with failurePolicy Ignore (and the PDB then never blocks a drain)', () => {
    const objs = synth({ webhook: { replicas: 1, failurePolicy: 'Ignore' } });
    expect(find(objs, 'Deployment').spec.replicas).toBe(1);
    expect(find(objs, 'PodDisruptionBudget').spec.maxUnavailable).toBe(1);
  });
});
