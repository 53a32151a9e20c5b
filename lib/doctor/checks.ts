/**
 * The judgements of `lxcfs-kit doctor` over one snapshot of the cluster: each finding says what
 * is wrong, about which object, and what to do. Pure: no cluster access here.
 */
import * as crypto from 'crypto';
import { INJECTED_ANNOTATION, MUTATE_CSI_PATH } from '../contract';
import { AgentStatus, Pod, Read, Snapshot, WebhookConfiguration } from './gather';

export type Severity = 'error' | 'warning' | 'ok';

export interface Finding {
  readonly check: 'agent' | 'webhook' | 'certificate' | 'pod-security' | 'injection' | 'mounts';
  readonly severity: Severity;
  readonly subject: string;
  readonly message: string;
  /** What to do; empty for ok findings. */
  readonly fix: string;
}

/** Pod Security levels that forbid hostPath volumes, which injected pods carry. */
const PSA_REJECTING = ['baseline', 'restricted'];
const PSA_ENFORCE = 'pod-security.kubernetes.io/enforce';

export function diagnose(s: Snapshot, now = new Date()): Finding[] {
  return [...agentFindings(s), ...webhookFindings(s, now), ...podSecurityFindings(s), ...injectionFindings(s), ...mountFindings(s)];
}

const running = (p: Pod) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp;
const ready = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
const podName = (p: Pod) => `${p.metadata.namespace}/${p.metadata.name}`;
const unreadable = (what: string, r: Read<unknown>): Finding[] =>
  r.ok ? [] : [{ check: 'webhook', severity: 'warning', subject: what, message: `cannot read ${what}: ${r.error}`, fix: 'run doctor with a kubeconfig that may read it (get on the object)' }];

function agentFindings(s: Snapshot): Finding[] {
  const ds = `daemonset ${s.namespace}/${s.name}-agent`;
  if (!s.daemonSet.ok) return unreadable(ds, s.daemonSet).map((f) => ({ ...f, check: 'agent' }));
  if (!s.daemonSet.value) {
    return [{ check: 'agent', severity: 'error', subject: ds, message: 'the agent DaemonSet does not exist', fix: `install lxcfs-kit, or point doctor at the install with --namespace and --name (now ${s.namespace} and ${s.name})` }];
  }
  const out: Finding[] = [];
  const nodes = new Map<string, number>();
  for (const p of s.optedInPods) if (running(p) && p.spec?.nodeName) nodes.set(p.spec.nodeName, (nodes.get(p.spec.nodeName) ?? 0) + 1);
  for (const [node, count] of [...nodes].sort()) {
    const agents = s.agentPods.filter((a) => a.spec?.nodeName === node);
    const readyAgent = agents.find((a) => running(a) && ready(a));
    if (readyAgent) continue;
    const subject = `node ${node}`;
    if (agents.length === 0) {
      out.push({ check: 'agent', severity: 'error', subject, message: `runs ${count} opted-in pods but has no agent pod`, fix: `check the agent DaemonSet's nodeSelector, tolerations and affinity against this node: kubectl -n ${s.namespace} describe daemonset ${s.name}-agent` });
    } else {
      const a = agents[0];
      const why = a.status?.conditions?.find((c) => c.type === 'Ready')?.message;
      out.push({
        check: 'agent',
        severity: 'error',
        subject,
        message: `runs ${count} opted-in pods but its agent ${a.metadata.name} is not ready${why ? ` (${why})` : ''}`,
        fix: `kubectl -n ${s.namespace} describe pod ${a.metadata.name}; kubectl -n ${s.namespace} logs ${a.metadata.name}`,
      });
    }
  }
  if (out.length === 0) out.push({ check: 'agent', severity: 'ok', subject: ds, message: `an agent is ready on every node that runs opted-in pods (${nodes.size} nodes)`, fix: '' });
  return out;
}

function webhookFindings(s: Snapshot, now: Date): Finding[] {
  const out: Finding[] = [];
  const deploymentName = `deployment ${s.namespace}/${s.name}-webhook`;
  const configName = `mutatingwebhookconfiguration ${s.name}`;
  out.push(...unreadable(deploymentName, s.webhookDeployment), ...unreadable(configName, s.configuration));
  const config = s.configuration.ok ? s.configuration.value : undefined;
  if (s.configuration.ok && !config) {
    out.push({ check: 'webhook', severity: 'error', subject: configName, message: 'the webhook configuration does not exist: no pod is injected', fix: 'reinstall lxcfs-kit (helm upgrade --install, or kubectl apply the manifests)' });
  }
  const failClosed = config?.webhooks?.some((w) => (w.failurePolicy ?? 'Fail') === 'Fail') ?? false;
  if (s.webhookDeployment.ok) {
    const d = s.webhookDeployment.value;
    if (!d) out.push({ check: 'webhook', severity: 'error', subject: deploymentName, message: 'the webhook Deployment does not exist', fix: 'reinstall lxcfs-kit' });
    else if ((d.status?.availableReplicas ?? 0) < 1) {
      out.push({
        check: 'webhook',
        severity: 'error',
        subject: deploymentName,
        message: failClosed ? 'no webhook replica is available and failurePolicy is Fail: every opted-in pod creation is rejected' : 'no webhook replica is available: opted-in pods start without lxcfs',
        fix: `kubectl -n ${s.namespace} describe deployment ${s.name}-webhook; kubectl -n ${s.namespace} logs deployment/${s.name}-webhook`,
      });
    }
  }
  if (config) out.push(...certificateFindings(s, config.webhooks ?? [], now));
  if (!out.some((f) => f.severity !== 'ok' && f.check === 'webhook')) {
    out.push({ check: 'webhook', severity: 'ok', subject: configName, message: `configuration present, webhook available (failurePolicy ${failClosed ? 'Fail' : 'Ignore'})`, fix: '' });
  }
  return out;
}

function certificateFindings(s: Snapshot, webhooks: NonNullable<WebhookConfiguration['webhooks']>, now: Date): Finding[] {
  const subject = `mutatingwebhookconfiguration ${s.name}`;
  if (!s.servingCertificate.ok) return [{ check: 'certificate', severity: 'warning', subject, message: `cannot read the serving certificate: ${s.servingCertificate.error}`, fix: 'run doctor with a kubeconfig that may get Secrets in the install namespace' }];
  const secret = s.servingCertificate.value;
  if (!secret?.certPem) {
    return [{ check: 'certificate', severity: 'error', subject: `secret ${s.namespace}/${secret?.secretName ?? `${s.name}-webhook-tls`}`, message: 'holds no serving certificate (tls.crt)', fix: `the webhook creates it in self mode, cert-manager in certManager mode: kubectl -n ${s.namespace} logs deployment/${s.name}-webhook` }];
  }
  let serving: crypto.X509Certificate;
  try {
    serving = new crypto.X509Certificate(secret.certPem);
  } catch (err) {
    return [{ check: 'certificate', severity: 'error', subject: `secret ${s.namespace}/${secret.secretName}`, message: `tls.crt is not a certificate: ${(err as Error).message}`, fix: 'replace the Secret with a valid kubernetes.io/tls certificate' }];
  }
  const out: Finding[] = [];
  const service = `${s.name}-webhook.${s.namespace}.svc`;
  if (!serving.checkHost(service)) {
    out.push({ check: 'certificate', severity: 'error', subject: `secret ${s.namespace}/${secret.secretName}`, message: `the serving certificate is not valid for ${service}`, fix: `issue it with the DNS name ${service}` });
  }
  if (new Date(serving.validTo) <= now || new Date(serving.validFrom) > now) {
    out.push({ check: 'certificate', severity: 'error', subject: `secret ${s.namespace}/${secret.secretName}`, message: `the serving certificate is not valid now (valid ${serving.validFrom} to ${serving.validTo})`, fix: 'renew it (self mode: restart the webhook; cert-manager: cmctl renew)' });
  }
  for (const w of webhooks) {
    const bundle = w.clientConfig?.caBundle ? Buffer.from(w.clientConfig.caBundle, 'base64').toString('utf8') : '';
    const cas = (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).flatMap((pem) => {
      try {
        return [new crypto.X509Certificate(pem)];
      } catch {
        return [];
      }
    });
    if (cas.length === 0) {
      out.push({ check: 'certificate', severity: 'error', subject: `${subject} webhook ${w.name}`, message: 'has no CA bundle (not published yet): the API server cannot call the webhook', fix: `self mode: the webhook publishes it (kubectl -n ${s.namespace} logs deployment/${s.name}-webhook); cert-manager: check the cainjector` });
    } else if (!cas.some((ca) => serving.checkIssued(ca) && serving.verify(ca.publicKey))) {
      out.push({ check: 'certificate', severity: 'error', subject: `${subject} webhook ${w.name}`, message: 'its CA bundle does not verify the webhook\'s serving certificate: the API server rejects the TLS handshake', fix: `self mode: restart the webhook to re-publish (kubectl -n ${s.namespace} rollout restart deployment/${s.name}-webhook); existingSecret: set certificates.existingSecret.caBundle to the CA that signed tls.crt` });
    }
  }
  if (out.length === 0) out.push({ check: 'certificate', severity: 'ok', subject, message: `the CA bundle verifies the serving certificate (valid until ${serving.validTo})`, fix: '' });
  return out;
}

/**
 * Injection modes csi and podSecurity give baseline/restricted namespaces the CSI volume, which
 * every level allows: the webhook runs with --injection-mode=csi, or the configuration routes
 * those namespaces to the csi endpoint.
 */
function csiForRestrictedNamespaces(s: Snapshot): boolean {
  const deployment = s.webhookDeployment.ok ? s.webhookDeployment.value : undefined;
  const args = (deployment?.spec?.template?.spec?.containers ?? []).flatMap((c): readonly unknown[] => (Array.isArray(c.args) ? c.args : []));
  if (args.includes('--injection-mode=csi')) return true;
  const config = s.configuration.ok ? s.configuration.value : undefined;
  return (config?.webhooks ?? []).some((w) => w.clientConfig?.service?.path === MUTATE_CSI_PATH);
}

function podSecurityFindings(s: Snapshot): Finding[] {
  const out: Finding[] = [];
  if (csiForRestrictedNamespaces(s)) {
    return [{ check: 'pod-security', severity: 'ok', subject: 'opted-in namespaces', message: `pods in namespaces that enforce baseline or restricted get the CSI volume, which every Pod Security level allows (${s.namespaces.length} checked)`, fix: '' }];
  }
  for (const n of s.namespaces) {
    const level = n.metadata.labels?.[PSA_ENFORCE];
    if (level && PSA_REJECTING.includes(level)) {
      out.push({
        check: 'pod-security',
        severity: 'error',
        subject: `namespace ${n.metadata.name}`,
        message: `is opted in but enforces Pod Security "${level}", which rejects the hostPath volumes of injected pods`,
        fix: `label it ${PSA_ENFORCE}=privileged, set the chart value injection.mode to podSecurity or csi (prop injectionMode) so such pods get the CSI volume instead, or opt it out (remove the lxcfs-kit.io/inject label)`,
      });
    }
  }
  if (out.length === 0) out.push({ check: 'pod-security', severity: 'ok', subject: 'opted-in namespaces', message: `no opted-in namespace enforces a Pod Security level that rejects injected pods (${s.namespaces.length} checked)`, fix: '' });
  return out;
}

function injectionFindings(s: Snapshot): Finding[] {
  const missing = s.optedInPods.filter((p) => running(p) && p.spec?.os?.name !== 'windows' && p.metadata.annotations?.[INJECTED_ANNOTATION] === undefined);
  if (missing.length === 0) return [{ check: 'injection', severity: 'ok', subject: 'opted-in pods', message: `every running opted-in pod has lxcfs (${s.optedInPods.filter(running).length} pods)`, fix: '' }];
  return missing.map((p) => ({
    check: 'injection' as const,
    severity: 'error' as const,
    subject: `pod ${podName(p)}`,
    message: 'is opted in but runs without lxcfs (created while the webhook was down or before the install)',
    fix: `recreate it once the webhook is healthy: kubectl -n ${p.metadata.namespace} delete pod ${p.metadata.name} (its controller recreates it), or set webhook.repairMode=evict`,
  }));
}

function mountFindings(s: Snapshot): Finding[] {
  const out: Finding[] = [];
  for (const a of s.agentPods) {
    const subject = `node ${a.spec?.nodeName ?? '?'} (agent ${a.metadata.name})`;
    const r: Read<AgentStatus> | undefined = s.agentStatus.get(a.metadata.name);
    if (!r || !r.ok) {
      out.push({ check: 'mounts', severity: 'warning', subject, message: `cannot read the agent's status through the API server's pod proxy: ${r && !r.ok ? r.error : 'not asked'}`, fix: `needs get on pods/proxy in namespace ${s.namespace}; or curl http://<node>:9479/status on the node` });
      continue;
    }
    const st = r.value ?? {};
    const pending = st.lastReconcile?.pending ?? 0;
    const givenUp = st.givenUp ?? st.lastReconcile?.givenUp ?? Math.max(0, (st.lastReconcile?.failed ?? 0) - pending);
    if (pending > 0) out.push({ check: 'mounts', severity: 'error', subject, message: `${pending} stale lxcfs mounts wait to be re-attached`, fix: `kubectl -n ${s.namespace} logs ${a.metadata.name} (the agent retries; it is not ready until they are attached)` });
    if (givenUp > 0) out.push({ check: 'mounts', severity: 'error', subject, message: `${givenUp} lxcfs mounts could not be re-attached and were given up on`, fix: `find the containers in the agent's log (kubectl -n ${s.namespace} logs ${a.metadata.name}) and restart their pods` });
    if (st.healingSupported === false) out.push({ check: 'mounts', severity: 'warning', subject, message: `stale mounts cannot be healed on this node: ${st.healingProblem ?? 'the kernel lacks open_tree/move_mount'}`, fix: 'upgrade the node kernel to Linux 5.2 or later; until then restart pods after an lxcfs restart' });
  }
  if (!out.some((f) => f.severity !== 'ok')) out.push({ check: 'mounts', severity: 'ok', subject: 'agents', message: `no stale or given-up lxcfs mounts (${s.agentPods.length} agents)`, fix: '' });
  return out;
}
