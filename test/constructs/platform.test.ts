/**
 * The constructs' platform options (pod metadata, pull secrets, extra args and env, the
 * webhook's security context, host network, ports, PDB, spread, ServiceMonitor placement),
 * the checks that keep them safe, every problem reported in one error, resource quantities,
 * a standalone agent and webhook that disagree, and the escape hatches.
 */
import { App, Chart, JsonPatch, Testing } from 'cdk8s';
import { LxcfsAgent, LxcfsKit, LxcfsKitConfigError, LxcfsKitProps, LxcfsWebhook } from '../../lib';
import { QUANTITY_PATTERN } from '../../lib/constructs/workload';
import { parseFlags } from '../../lib/flags';
import { AGENT_FLAGS } from '../../lib/agent/flags';
import { WEBHOOK_FLAGS } from '../../lib/webhook/flags';

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument -- synthesized manifests are walked as untyped JSON and checked field by field */
type Obj = any;

function synth(props: LxcfsKitProps = {}): Obj[] {
  const chart = new Chart(Testing.app(), 'test');
  new LxcfsKit(chart, 'kit', props);
  return Testing.synth(chart);
}
const find = (objs: Obj[], kind: string): Obj => {
  const o = objs.find((x) => x.kind === kind);
  if (!o) throw new Error(`no ${kind}`);
  return o;
};
const pod = (o: Obj): Obj => o.spec.template;
const container = (o: Obj): Obj => pod(o).spec.containers[0];
function problemsOf(build: () => unknown): string[] {
  try {
    build();
  } catch (err) {
    if (!(err instanceof LxcfsKitConfigError)) throw err;
    return err.message.split('\n').slice(1).map((l) => l.replace(/^ {2}- /, ''));
  }
  return [];
}

describe('defaults', () => {
  const objs = synth();
  test('no pull secrets, no extra args or env, instance = name, no managed-by label, default-container annotations', () => {
    for (const kind of ['DaemonSet', 'Deployment']) {
      const w = find(objs, kind);
      expect(pod(w).spec.imagePullSecrets).toBeUndefined();
      expect(pod(w).metadata.annotations).toEqual({ 'kubectl.kubernetes.io/default-container': container(w).name });
      expect(w.spec.selector.matchLabels['app.kubernetes.io/instance']).toBe('lxcfs-kit');
    }
    for (const o of objs) expect(o.metadata.labels?.['app.kubernetes.io/managed-by']).toBeUndefined();
    expect(container(find(objs, 'DaemonSet')).env.map((e: Obj) => e.name)).toEqual(['NODE_NAME']);
  });

  test('webhook: fixed UID 65532, hardened container, no hostNetwork, ports 8443/9090, PDB maxUnavailable 1, spread across nodes', () => {
    const d = find(objs, 'Deployment');
    expect(pod(d).spec.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container(d).securityContext).toEqual({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod(d).spec.hostNetwork).toBeUndefined();
    expect(container(d).ports.map((p: Obj) => p.containerPort)).toEqual([8443, 9090]);
    expect(find(objs, 'PodDisruptionBudget').spec.maxUnavailable).toBe(1);
    expect(pod(d).spec.topologySpreadConstraints).toHaveLength(1);
  });
});

describe('custom platform props', () => {
  const props: LxcfsKitProps = {
    instance: 'prod',
    imagePullSecrets: [{ name: 'corp' }],
    labels: { team: 'platform' },
    serviceMonitor: { enabled: true, labels: { release: 'prom' }, namespace: 'monitoring' },
    agent: {
      image: `mirror.example.com/lxcfs-kit/agent:1.0.0@sha256:${'b'.repeat(64)}`,
      podLabels: { tier: 'node' },
      podAnnotations: { 'example.com/a': '1' },
      extraArgs: ['--pidfd=never'],
      extraEnv: [{ name: 'TZ', value: 'UTC' }],
    },
    webhook: {
      podSecurityContext: { seccompProfile: { type: 'RuntimeDefault' } },
      securityContext: { seLinuxOptions: { level: 's0:c1,c2' } },
      hostNetwork: true,
      ports: { https: 10260, metrics: 10261 },
      podDisruptionBudget: { minAvailable: '50%' },
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule' }],
      extraArgs: ['--max-in-flight=32'],
    },
  };
  const objs = synth(props);

  test('pod metadata, pull secrets, extra flags (parsed by the commands\' own flag specs) and env', () => {
    const ds = find(objs, 'DaemonSet');
    expect(pod(ds).metadata.labels).toMatchObject({ tier: 'node', team: 'platform', 'app.kubernetes.io/instance': 'prod' });
    expect(pod(ds).metadata.annotations['example.com/a']).toBe('1');
    expect(ds.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'lxcfs-kit', 'app.kubernetes.io/instance': 'prod', 'app.kubernetes.io/component': 'agent' });
    expect(pod(ds).spec.imagePullSecrets).toEqual([{ name: 'corp' }]);
    expect(container(ds).image).toBe(props.agent?.image);
    expect(parseFlags(AGENT_FLAGS, container(ds).args.slice(1))).toMatchObject({ pidfd: 'never' });
    expect(container(ds).args.at(-1)).toBe('--pidfd=never');
    expect(container(ds).env.at(-1)).toEqual({ name: 'TZ', value: 'UTC' });
    const d = find(objs, 'Deployment');
    expect(parseFlags(WEBHOOK_FLAGS, container(d).args.slice(1))).toMatchObject({ port: 10260, 'metrics-port': 10261, 'max-in-flight': 32 });
  });

  test('webhook: user and group left to the platform, fixed fields kept, host network with its DNS policy and ports, PDB minAvailable, own spread', () => {
    const d = find(objs, 'Deployment');
    expect(pod(d).spec.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container(d).securityContext).toMatchObject({ privileged: false, allowPrivilegeEscalation: false, seLinuxOptions: { level: 's0:c1,c2' } });
    expect(container(d).securityContext.seccompProfile).toBeUndefined();
    expect(pod(d).spec).toMatchObject({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' });
    expect(container(d).ports.map((p: Obj) => p.containerPort)).toEqual([10260, 10261]);
    expect(find(objs, 'PodDisruptionBudget').spec).toMatchObject({ minAvailable: '50%' });
    expect(find(objs, 'PodDisruptionBudget').spec.maxUnavailable).toBeUndefined();
    expect(pod(d).spec.topologySpreadConstraints).toEqual(props.webhook?.topologySpreadConstraints);
  });

  test('ServiceMonitors in the monitoring namespace with the selector label, still scraping the install namespace', () => {
    const monitors = objs.filter((o) => o.kind === 'ServiceMonitor');
    expect(monitors).toHaveLength(2);
    for (const m of monitors) {
      expect(m.metadata.namespace).toBe('monitoring');
      expect(m.metadata.labels.release).toBe('prom');
      expect(m.spec.namespaceSelector).toEqual({ matchNames: ['lxcfs-kit'] });
    }
  });

  test('PDB disabled: none', () => {
    expect(synth({ webhook: { podDisruptionBudget: { enabled: false } } }).filter((o) => o.kind === 'PodDisruptionBudget')).toEqual([]);
  });
});

describe('what stays out of reach', () => {
  test.each<[string, LxcfsKitProps, RegExp]>([
    ['a privileged webhook', { webhook: { securityContext: { privileged: true } } }, /securityContext\.privileged is set by lxcfs-kit itself/],
    ['privilege escalation', { webhook: { securityContext: { allowPrivilegeEscalation: true } } }, /allowPrivilegeEscalation/],
    ['added capabilities', { webhook: { securityContext: { capabilities: { add: ['SYS_ADMIN'] } } } }, /capabilities/],
    ['an unmasked /proc', { webhook: { securityContext: { procMount: 'Unmasked' } } }, /procMount/],
    ['seccomp Unconfined', { webhook: { podSecurityContext: { seccompProfile: { type: 'Unconfined' } } } }, /seccompProfile Unconfined/],
    ['root as the webhook user', { webhook: { podSecurityContext: { runAsUser: 0 } } }, /runAsUser 0 is root/],
    ['runAsNonRoot off', { webhook: { podSecurityContext: { runAsNonRoot: false } } }, /podSecurityContext\.runAsNonRoot/],
    ['a managed flag in extraArgs', { agent: { extraArgs: ['--lxcfs-path=/x'] } }, /--lxcfs-path is set by lxcfs-kit/],
    ['a negated managed flag', { webhook: { extraArgs: ['--no-legacy-namespace-label'] } }, /--legacy-namespace-label is set by lxcfs-kit/],
    ['the health port (the probes use it)', { agent: { extraArgs: ['--health-port=1'] } }, /--health-port/],
    ['an arg that is not a flag', { agent: { extraArgs: ['; rm -rf /'] } }, /is not a flag/],
    ['a flag the command does not have (a typo)', { agent: { extraArgs: ['--log-level=debug'] } }, /--log-level is not a flag of lxcfs-kit agent/],
    ['a managed env var', { webhook: { extraEnv: [{ name: 'POD_NAME', value: 'x' }] } }, /POD_NAME is set by lxcfs-kit/],
    ['a selector label in podLabels', { agent: { podLabels: { 'app.kubernetes.io/component': 'x' } } }, /podLabels: label "app.kubernetes.io\/component"/],
    ['a pod label repeating a common label', { labels: { team: 'a' }, webhook: { podLabels: { team: 'b' } } }, /also in the install's labels/],
    ['a scrape annotation in agent podAnnotations', { agent: { podAnnotations: { 'prometheus.io/port': '1' } } }, /prometheus\.io\/port/],
    ['equal ports', { webhook: { ports: { https: 9000, metrics: 9000 } } }, /both 9000/],
    ['a port out of range', { webhook: { ports: { https: 70000 } } }, /ports\.https must be a port number/],
    ['a privileged port (the webhook cannot bind it)', { webhook: { ports: { metrics: 80 } } }, /ports\.metrics must be a port number from 1024/],
    ['a PDB percentage without %', { webhook: { podDisruptionBudget: { minAvailable: 'half' } } }, /minAvailable must be a whole number or a percentage/],
    ['an instance that is not a label value', { instance: 'a b' }, /instance "a b" must be a label value/],
  ])('%s is refused', (_what, props, message) => {
    expect(problemsOf(() => synth(props)).join('\n')).toMatch(message);
  });
});

describe('resource quantities', () => {
  test.each(['100m', '0.5', '1', '64Mi', '1.5Gi', '2e3', '1E6', '512M', '.5', '128974848'])('%s is a quantity', (q) => {
    expect(QUANTITY_PATTERN.test(q)).toBe(true);
    expect(problemsOf(() => synth({ agent: { resources: { limits: { memory: q } } } }))).toEqual([]);
  });
  test.each(['512MB', '1 Gi', '-1', 'lots', '', '1.2.3', '10mi'])('%s is refused, naming the field and how to write it', (q) => {
    expect(problemsOf(() => synth({ webhook: { resources: { requests: { cpu: q } } } }))).toEqual([
      `webhook resources.requests.cpu "${q}" is not a Kubernetes quantity; write it like 100m, 0.5, 64Mi or 1Gi`,
    ]);
  });
  test('a resources field that is not requests or limits', () => {
    expect(problemsOf(() => synth({ agent: { resources: { request: { cpu: '1' } } as never } }))).toEqual([
      'agent resources.request is not a field of resources; use requests and limits',
    ]);
  });
});

test('every problem of every part is reported at once, each once', () => {
  const problems = problemsOf(() =>
    synth({
      namespace: 'default',
      injectionMode: 'sometimes' as never,
      agent: { reconcileIntervalSeconds: 0, resources: { limits: { memory: '1GB' } } },
      webhook: { replicas: 1, timeoutSeconds: 99, securityContext: { privileged: true } },
    }),
  );
  expect(problems).toHaveLength(7);
  for (const fragment of ['injectionMode "sometimes"', 'namespace "default"', 'reconcileIntervalSeconds', '"1GB"', 'replicas 1', 'timeoutSeconds', 'privileged']) {
    expect(problems.filter((p) => p.includes(fragment))).toHaveLength(1);
  }
});

describe('a standalone agent and webhook of one install cannot disagree (checked when the app synthesizes)', () => {
  const synthApp = (build: (chart: Chart) => void) => {
    const app = new App({ outdir: Testing.app().outdir });
    build(new Chart(app, 'parts'));
    return () => app.synth();
  };

  test('different lxcfs paths: refused, naming both', () => {
    const run = synthApp((chart) => {
      new LxcfsAgent(chart, 'agent', { lxcfsPath: '/opt/lxcfs' });
      new LxcfsWebhook(chart, 'webhook', {});
    });
    expect(run).toThrow(/injects lxcfs files from \/var\/lib\/lxcfs but the agent of the same install mounts lxcfs at \/opt\/lxcfs/);
  });

  test('the agent in another chart of the same app counts too', () => {
    const app = new App({ outdir: Testing.app().outdir });
    new LxcfsAgent(new Chart(app, 'nodes'), 'agent', { lxcfsPath: '/opt/lxcfs' });
    new LxcfsWebhook(new Chart(app, 'admission'), 'webhook', {});
    expect(() => app.synth()).toThrow(/the agent of the same install mounts lxcfs at \/opt\/lxcfs/);
  });

  test('CSI injection without an agent serving CSI: refused', () => {
    const run = synthApp((chart) => {
      new LxcfsAgent(chart, 'agent', {});
      new LxcfsWebhook(chart, 'webhook', { injectionMode: 'csi' });
    });
    expect(run).toThrow(/mode csi, which needs the agent's CSI plugin.*set csi: true/);
  });

  test('agreeing parts, or parts of different installs, synthesize', () => {
    expect(
      synthApp((chart) => {
        new LxcfsAgent(chart, 'agent', { lxcfsPath: '/opt/lxcfs', csi: true });
        new LxcfsWebhook(chart, 'webhook', { lxcfsPath: '/opt/lxcfs', injectionMode: 'podSecurity' });
        new LxcfsAgent(chart, 'other-agent', { name: 'other', lxcfsPath: '/srv/lxcfs' });
      }),
    ).not.toThrow();
  });
});

describe('escape hatches', () => {
  test('addJsonPatch on the underlying ApiObjects changes exactly the patched fields', () => {
    const chart = new Chart(Testing.app(), 'test');
    const kit = new LxcfsKit(chart, 'kit');
    kit.agent.daemonSet.addJsonPatch(JsonPatch.add('/spec/template/spec/containers/0/env/-', { name: 'HTTP_PROXY', value: 'http://proxy:3128' }));
    kit.webhook.deployment.addJsonPatch(JsonPatch.add('/spec/revisionHistoryLimit', 3));
    kit.webhook.podDisruptionBudget?.addJsonPatch(JsonPatch.add('/spec/unhealthyPodEvictionPolicy', 'AlwaysAllow'));
    kit.webhook.configuration.apiObject.addJsonPatch(JsonPatch.add('/metadata/annotations/example.com~1owner', 'platform'));
    const patched = Testing.synth(chart);
    const plain = synth();
    expect(container(find(patched, 'DaemonSet')).env.at(-1)).toEqual({ name: 'HTTP_PROXY', value: 'http://proxy:3128' });
    expect(find(patched, 'Deployment').spec.revisionHistoryLimit).toBe(3);
    expect(find(patched, 'PodDisruptionBudget').spec.unhealthyPodEvictionPolicy).toBe('AlwaysAllow');
    expect(find(patched, 'MutatingWebhookConfiguration').metadata.annotations['example.com/owner']).toBe('platform');
    // Nothing else moved.
    const strip = (objs: Obj[]) => JSON.parse(JSON.stringify(objs).replace(/,?"(revisionHistoryLimit|unhealthyPodEvictionPolicy|example\.com\/owner)":("[^"]*"|\d+)/g, '').replace(/,\{"name":"HTTP_PROXY","value":"http:\/\/proxy:3128"\}/, ''));
    expect(strip(patched)).toEqual(strip(plain));
  });
});
