/**
 * `lxcfs-kit doctor` as an operator runs it (a real process with a kubeconfig), against the
 * FAKE API server (no real one on these machines) holding a healthy install, then the same
 * install broken in each way doctor must catch. Certificates are real (node-forge CA and serving
 * certificate), so the caBundle check verifies real signatures.
 */
import { spawn } from 'child_process';
import { AGENT_HEALTH_PORT, INJECTED_ANNOTATION } from '../../lib/contract';
import { synthesizeObjects } from '../../lib/generator';
import { FakeApiServer } from '../webhook/fake-apiserver';
import { makePki, REPO, TestPki } from '../webhook/helpers';

const NS = 'lxcfs-kit';
const NAME = 'lxcfs-kit';
const SERVICE_DNS = `${NAME}-webhook.${NS}.svc`;

interface Report {
  ok: boolean;
  findings: Array<{ check: string; severity: string; subject: string; message: string; fix: string }>;
}

function doctor(fake: FakeApiServer, ...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'lib/cli.ts', 'doctor', `--kubeconfig=${fake.kubeconfigPath}`, ...args], {
      cwd: REPO,
      env: { ...process.env, KUBECONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

const ready = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] };
const notReady = { phase: 'Running', conditions: [{ type: 'Ready', status: 'False', message: 'containers with unready status: [agent]' }] };
const agentLabelsOf = (instance: string) => ({ 'app.kubernetes.io/name': 'lxcfs-kit', 'app.kubernetes.io/instance': instance, 'app.kubernetes.io/component': 'agent' });
const healthyStatus = { ready: true, healingSupported: true, lastReconcile: { healed: 0, failed: 0, pending: 0, namespaces: 12, seconds: 0.01 } };

function seedHealthy(fake: FakeApiServer, pki: TestPki, statusReachable: readonly string[] = ['n1', 'n2'], instance = NAME): void {
  const agentLabels = agentLabelsOf(instance);
  fake.put('namespaces', { metadata: { name: NS } });
  fake.put('namespaces', { metadata: { name: 'apps', labels: { 'lxcfs-kit.io/inject': 'enabled', 'pod-security.kubernetes.io/enforce': 'privileged' } } });
  fake.put('namespaces', { metadata: { name: 'other' } });
  fake.put('daemonsets', { metadata: { name: `${NAME}-agent`, namespace: NS }, spec: { selector: { matchLabels: agentLabels } } });
  fake.put('deployments', { metadata: { name: `${NAME}-webhook`, namespace: NS }, spec: { template: { spec: {} } }, status: { availableReplicas: 2 } });
  for (const node of ['n1', 'n2']) {
    fake.put('pods', { metadata: { name: `${NAME}-agent-${node}`, namespace: NS, labels: agentLabels }, spec: { nodeName: node }, status: ready });
    if (statusReachable.includes(node)) fake.proxy(NS, `${NAME}-agent-${node}`, AGENT_HEALTH_PORT, 'status', healthyStatus);
  }
  fake.put('pods', { metadata: { name: 'web-1', namespace: 'apps', annotations: { [INJECTED_ANNOTATION]: '/proc/meminfo' } }, spec: { nodeName: 'n1' }, status: ready });
  // Opted in by its own label, in a namespace that is not.
  fake.put('pods', { metadata: { name: 'job-1', namespace: 'other', labels: { 'lxcfs-kit.io/inject': 'enabled' }, annotations: { [INJECTED_ANNOTATION]: '/proc/meminfo' } }, spec: { nodeName: 'n2' }, status: ready });
  // Not opted in: never judged.
  fake.put('pods', { metadata: { name: 'plain', namespace: 'other' }, spec: { nodeName: 'n2' }, status: ready });
  fake.put('secrets', { metadata: { name: `${NAME}-webhook-tls`, namespace: NS }, data: { 'tls.crt': Buffer.from(pki.serving.certPem).toString('base64') } });
  // The configuration the constructs create (its selectors define the opt-in scope doctor judges),
  // with the CA published as the webhook would.
  const config = synthesizeObjects({ name: NAME, namespace: NS, webhook: { excludedNamespaces: ['batch'] } }).find((o) => o.kind === 'MutatingWebhookConfiguration')!;
  const caBundle = Buffer.from(pki.ca.certPem).toString('base64');
  const webhooks = (config.webhooks as Array<{ clientConfig: object }>).map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle } }));
  fake.put('mutatingwebhookconfigurations', { ...config, metadata: { name: NAME }, webhooks });
  // Outside the scope the configuration selects: an excluded namespace, an opted-out pod, the install's own pods.
  fake.put('namespaces', { metadata: { name: 'batch', labels: { 'lxcfs-kit.io/inject': 'enabled', 'pod-security.kubernetes.io/enforce': 'restricted' } } });
  fake.put('pods', { metadata: { name: 'etl-1', namespace: 'batch' }, spec: { nodeName: 'n1' }, status: ready });
  fake.put('pods', { metadata: { name: 'tool-1', namespace: 'apps', labels: { 'lxcfs-kit.io/inject': 'disabled' } }, spec: { nodeName: 'n1' }, status: ready });
}

describe('lxcfs-kit doctor against the fake API server', () => {
  const pki = makePki([SERVICE_DNS], 30 * 86400_000);

  test('a healthy install: exit 0, every check ok, in text and JSON', async () => {
    const fake = new FakeApiServer();
    await fake.start();
    try {
      seedHealthy(fake, pki);
      const json = await doctor(fake, '--output=json');
      expect(json.err).toBe('');
      const report = JSON.parse(json.out) as Report;
      expect(report.findings.filter((f) => f.severity !== 'ok')).toEqual([]);
      expect(report.ok).toBe(true);
      expect(json.code).toBe(0);
      expect(report.findings.map((f) => f.check).sort()).toEqual(['agent', 'certificate', 'injection', 'mounts', 'pod-security', 'webhook']);
      // The agents' status was read through the pod proxy, one request per agent.
      expect(fake.count('GET', `/api/v1/namespaces/${NS}/pods/${NAME}-agent-n1:${AGENT_HEALTH_PORT}/proxy/status`)).toBe(1);
      const text = await doctor(fake);
      expect(text.code).toBe(0);
      expect(text.out).toContain('No problems found.');
      // Read-only: doctor never writes.
      expect(fake.calls.filter((c) => c.method !== 'GET' && c.method !== 'WATCH')).toEqual([]);
    } finally {
      await fake.stop();
    }
  });

  test('a broken install: exit 1 and every problem named with its fix', async () => {
    const fake = new FakeApiServer();
    await fake.start();
    try {
      seedHealthy(fake, pki);
      // Agent on n2 not ready while an opted-in pod runs there.
      fake.put('pods', { metadata: { name: `${NAME}-agent-n2`, namespace: NS, labels: agentLabelsOf(NAME) }, spec: { nodeName: 'n2' }, status: notReady });
      // An opted-in node with no agent at all.
      fake.put('pods', { metadata: { name: 'db-1', namespace: 'apps', annotations: { [INJECTED_ANNOTATION]: '/proc/meminfo' } }, spec: { nodeName: 'n3' }, status: ready });
      // The published CA is another one: the API server would refuse the handshake.
      const other = makePki([SERVICE_DNS]);
      const config = fake.get('mutatingwebhookconfigurations', undefined, NAME)!;
      const webhooks = config.webhooks as Array<{ clientConfig: { caBundle: string } }>;
      webhooks[0].clientConfig.caBundle = Buffer.from(other.ca.certPem).toString('base64');
      webhooks[1].clientConfig.caBundle = '';
      fake.put('mutatingwebhookconfigurations', config);
      // An opted-in namespace that enforces restricted, and an opted-in pod without lxcfs.
      fake.put('namespaces', { metadata: { name: 'secure', labels: { 'lxcfs-kit.io/inject': 'enabled', 'pod-security.kubernetes.io/enforce': 'restricted' } } });
      fake.put('pods', { metadata: { name: 'api-7', namespace: 'apps' }, spec: { nodeName: 'n1' }, status: ready });
      // Mounts on n1: two waiting, one given up on.
      fake.proxy(NS, `${NAME}-agent-n1`, AGENT_HEALTH_PORT, 'status', { ready: false, healingSupported: true, lastReconcile: { healed: 0, failed: 3, pending: 2, namespaces: 12, seconds: 0.01 } });
      // No webhook replica available while failurePolicy is Fail.
      fake.put('deployments', { metadata: { name: `${NAME}-webhook`, namespace: NS }, spec: { template: { spec: {} } }, status: { availableReplicas: 0 } });

      const r = await doctor(fake, '--output=json');
      expect(r.code).toBe(1);
      const report = JSON.parse(r.out) as Report;
      expect(report.ok).toBe(false);
      const problems = report.findings.filter((f) => f.severity === 'error').map((f) => `${f.check} | ${f.subject} | ${f.message}`);
      expect(problems).toEqual([
        `agent | node n2 | runs 1 opted-in pods but its agent ${NAME}-agent-n2 is not ready (containers with unready status: [agent])`,
        'agent | node n3 | runs 1 opted-in pods but has no agent pod',
        `webhook | deployment ${NS}/${NAME}-webhook | no webhook replica is available and failurePolicy is Fail: every opted-in pod creation is rejected`,
        `certificate | mutatingwebhookconfiguration ${NAME} webhook namespaces.lxcfs-kit.io | its CA bundle does not verify the webhook's serving certificate: the API server rejects the TLS handshake`,
        `certificate | mutatingwebhookconfiguration ${NAME} webhook pods.lxcfs-kit.io | has no CA bundle (not published yet): the API server cannot call the webhook`,
        'pod-security | namespace secure | is opted in but enforces Pod Security "restricted", which rejects the hostPath volumes of injected pods',
        'injection | pod apps/api-7 | is opted in but runs without lxcfs (created while the webhook was down or before the install)',
        `mounts | node n1 (agent ${NAME}-agent-n1) | 2 stale lxcfs mounts wait to be re-attached`,
        `mounts | node n1 (agent ${NAME}-agent-n1) | 1 lxcfs mounts could not be re-attached and were given up on`,
      ]);
      for (const f of report.findings.filter((x) => x.severity === 'error')) expect(f.fix).not.toBe('');
      const text = await doctor(fake);
      expect(text.code).toBe(1);
      expect(text.out).toMatch(/FAIL \[pod-security\] namespace secure: .*\n\s+fix: label it pod-security\.kubernetes\.io\/enforce=privileged/);
      expect(text.out).toContain('9 problems found');
    } finally {
      await fake.stop();
    }
  });

  test.each(['podSecurity', 'csi'] as const)('injection mode %s: an opted-in namespace that enforces restricted gets the CSI volume, so it is no problem', async (mode) => {
    const fake = new FakeApiServer();
    await fake.start();
    try {
      seedHealthy(fake, pki);
      // The install as the constructs synthesize it in this mode: its configuration and the webhook's args.
      const objs = synthesizeObjects({ name: NAME, namespace: NS, injectionMode: mode, webhook: { excludedNamespaces: ['batch'] } });
      const config = objs.find((o) => o.kind === 'MutatingWebhookConfiguration')!;
      const caBundle = Buffer.from(pki.ca.certPem).toString('base64');
      const webhooks = (config.webhooks as Array<{ clientConfig: object }>).map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle } }));
      fake.put('mutatingwebhookconfigurations', { ...config, metadata: { name: NAME }, webhooks });
      const deployment = objs.find((o) => o.kind === 'Deployment')! as unknown as { spec: { template: { spec: object } } };
      fake.put('deployments', { metadata: { name: `${NAME}-webhook`, namespace: NS }, spec: { template: { spec: deployment.spec.template.spec } }, status: { availableReplicas: 2 } });
      fake.put('namespaces', { metadata: { name: 'secure', labels: { 'lxcfs-kit.io/inject': 'enabled', 'pod-security.kubernetes.io/enforce': 'restricted' } } });
      const report = JSON.parse((await doctor(fake, '--output=json')).out) as Report;
      expect(report.findings.filter((f) => f.severity !== 'ok')).toEqual([]);
      expect(report.findings.find((f) => f.check === 'pod-security')?.message).toMatch(/get the CSI volume/);
    } finally {
      await fake.stop();
    }
  });

  test('a missing install is reported with what to do, and bad flags are usage errors', async () => {
    const fake = new FakeApiServer();
    await fake.start();
    try {
      const missing = await doctor(fake, '--output=json');
      expect(missing.code).toBe(1);
      const report = JSON.parse(missing.out) as Report;
      expect(report.findings.find((f) => f.check === 'agent')).toMatchObject({ severity: 'error', message: 'the agent DaemonSet does not exist', fix: expect.stringContaining('--namespace') as unknown });
      expect(report.findings.find((f) => f.subject === `mutatingwebhookconfiguration ${NAME}`)).toMatchObject({ severity: 'error' });
      const help = await doctor(fake, '--help');
      expect(help.code).toBe(0);
      for (const flag of ['--namespace', '--name', '--kubeconfig', '--context', '--output']) expect(help.out).toContain(flag);
      const bad = await doctor(fake, '--output=yaml');
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(/--output must be one of text, json/);
      expect(bad.err).not.toMatch(/\n\s+at /);
    } finally {
      await fake.stop();
    }
  });

  test('an agent status the pod proxy cannot reach is a warning naming the node, not a pass', async () => {
    const fake = new FakeApiServer();
    await fake.start();
    try {
      seedHealthy(fake, pki, ['n1']);
      const r = await doctor(fake, '--output=json');
      const report = JSON.parse(r.out) as Report;
      const warnings = report.findings.filter((f) => f.severity === 'warning');
      expect(warnings.map((f) => `${f.check} | ${f.subject}`)).toEqual([`mounts | node n2 (agent ${NAME}-agent-n2)`]);
      expect(warnings[0].message).toMatch(/HTTP 503/);
      expect(warnings[0].fix).toMatch(/pods\/proxy/);
      expect(r.code).toBe(0);
    } finally {
      await fake.stop();
    }
  });

  test('a Helm release (instance label = release name, not the install name): the agents are found by their DaemonSet\'s selector', async () => {
    const fake = new FakeApiServer();
    await fake.start();
    try {
      seedHealthy(fake, pki, ['n1', 'n2'], 'prod');
      const report = JSON.parse((await doctor(fake, '--output=json')).out) as Report;
      expect(report.findings.filter((f) => f.severity !== 'ok')).toEqual([]);
      expect(fake.count('GET', `/api/v1/namespaces/${NS}/pods/${NAME}-agent-n2:${AGENT_HEALTH_PORT}/proxy/status`)).toBe(1);
    } finally {
      await fake.stop();
    }
  });
});
