/**
 * Injection modes csi and podSecurity in the constructs: the CSIDriver, the agent's
 * kubelet-directory mounts and flags, the webhook's mode and the split webhook entries.
 */
import { Chart, Testing } from 'cdk8s';
import { CSI_DRIVER_NAME, INJECT_LABEL, MUTATE_CSI_PATH, MUTATE_PATH } from '../../lib/contract';
import { POD_SECURITY_ENFORCE_LABEL, POD_SECURITY_WARNING_PATH } from '../../lib/pod-security';
import { LxcfsKit, LxcfsKitConfigError, LxcfsKitProps } from '../../lib';
import { parseFlags } from '../../lib/flags';
import { AGENT_FLAGS } from '../../lib/agent/flags';
import { WEBHOOK_FLAGS } from '../../lib/webhook/flags';

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument -- synthesized manifests are walked as untyped JSON and checked field by field */
type Obj = Record<string, any>;

function synth(props: LxcfsKitProps = {}): Obj[] {
  const chart = new Chart(Testing.app(), 'test');
  new LxcfsKit(chart, 'kit', props);
  return Testing.synth(chart) as Obj[];
}
const ofKind = (objs: Obj[], kind: string): Obj[] => objs.filter((o) => o.kind === kind);
const agentPod = (objs: Obj[]): Obj => ofKind(objs, 'DaemonSet')[0].spec.template.spec;
const webhookArgs = (objs: Obj[]) => parseFlags(WEBHOOK_FLAGS, (ofKind(objs, 'Deployment')[0].spec.template.spec.containers[0].args as string[]).slice(1));
const agentArgs = (objs: Obj[]) => parseFlags(AGENT_FLAGS, (agentPod(objs).containers[0].args as string[]).slice(1));

describe('injection mode hostPath (default)', () => {
  test('no CSIDriver, no kubelet mounts, agent without --csi, webhook in hostPath mode', () => {
    const objs = synth();
    expect(ofKind(objs, 'CSIDriver')).toEqual([]);
    expect(agentPod(objs).volumes.map((v: Obj) => v.name)).toEqual(['lxcfs', 'state', 'tmp']);
    expect(agentArgs(objs).csi).toBe(false);
    expect(webhookArgs(objs)['injection-mode']).toBe('hostPath');
  });
});

describe.each(['csi', 'podSecurity'] as const)('injection mode %s', (mode) => {
  const objs = synth({ injectionMode: mode, kubeletDir: '/data/kubelet' });

  test('the CSIDriver: inline ephemeral volumes only, no attach, no pod info, no fsGroup changes', () => {
    const [driver] = ofKind(objs, 'CSIDriver');
    expect(driver.apiVersion).toBe('storage.k8s.io/v1');
    expect(driver.metadata.name).toBe(CSI_DRIVER_NAME);
    expect(driver.metadata.namespace).toBeUndefined();
    expect(driver.spec).toEqual({ attachRequired: false, podInfoOnMount: false, volumeLifecycleModes: ['Ephemeral'], fsGroupPolicy: 'None', requiresRepublish: false, storageCapacity: false });
  });

  test('the agent serves the plugin: --csi, the kubelet directory and the node name from the downward API', () => {
    const flags = agentArgs(objs);
    expect(flags.csi).toBe(true);
    expect(flags['kubelet-dir']).toBe('/data/kubelet');
    expect(flags['node-name']).toBe('$(NODE_NAME)');
    expect(agentPod(objs).containers[0].env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
  });

  test('the agent mounts the pods directory Bidirectional (published volumes reach the host), the socket and registration directories', () => {
    const c = agentPod(objs).containers[0];
    const mounts = Object.fromEntries(c.volumeMounts.map((m: Obj) => [m.mountPath, m]));
    expect(mounts['/data/kubelet/pods']).toMatchObject({ mountPropagation: 'Bidirectional' });
    expect(mounts[`/data/kubelet/plugins/${CSI_DRIVER_NAME}`]).toBeDefined();
    expect(mounts['/data/kubelet/plugins_registry']).toBeDefined();
    // Bidirectional propagation needs a privileged container.
    expect(c.securityContext.privileged).toBe(true);
    const volumes = Object.fromEntries(agentPod(objs).volumes.map((v: Obj) => [v.name, v.hostPath]));
    expect(volumes['kubelet-pods']).toEqual({ path: '/data/kubelet/pods', type: 'Directory' });
    expect(volumes['kubelet-registration']).toEqual({ path: '/data/kubelet/plugins_registry', type: 'Directory' });
  });

  test('webhook entries: csi mode sends everything to /mutate in csi mode; podSecurity splits each entry by the enforced level', () => {
    const [mwc] = ofKind(objs, 'MutatingWebhookConfiguration');
    const entries = mwc.webhooks as Obj[];
    // Namespaces enforcing baseline/restricted are injected (CSI volume), not left out with warning-only twins,
    // and the reconciler judges their pods like any other.
    expect(entries.some((e) => e.clientConfig.service.path === POD_SECURITY_WARNING_PATH)).toBe(false);
    expect(webhookArgs(objs)['pod-security-enforced-namespaces']).toBe('inject');
    if (mode === 'csi') {
      expect(webhookArgs(objs)['injection-mode']).toBe('csi');
      expect(entries.every((e) => e.clientConfig.service.path === MUTATE_PATH)).toBe(true);
      expect(JSON.stringify(entries)).not.toContain(POD_SECURITY_ENFORCE_LABEL);
      return;
    }
    expect(webhookArgs(objs)['injection-mode']).toBe('hostPath');
    const hostPathEntries = entries.filter((e) => e.clientConfig.service.path === MUTATE_PATH);
    const csiEntries = entries.filter((e) => e.clientConfig.service.path === MUTATE_CSI_PATH);
    expect(csiEntries.length).toBe(hostPathEntries.length);
    expect(new Set(entries.map((e) => e.name)).size).toBe(entries.length);
    const level = (e: Obj) => e.namespaceSelector.matchExpressions.find((x: Obj) => x.key === POD_SECURITY_ENFORCE_LABEL);
    for (const e of hostPathEntries) expect(level(e)).toEqual({ key: POD_SECURITY_ENFORCE_LABEL, operator: 'NotIn', values: ['baseline', 'restricted'] });
    for (const e of csiEntries) expect(level(e)).toEqual({ key: POD_SECURITY_ENFORCE_LABEL, operator: 'In', values: ['baseline', 'restricted'] });
    // Apart from the level, each csi entry selects exactly what its hostPath twin selects.
    for (const [i, e] of csiEntries.entries()) {
      const twin = hostPathEntries[i];
      const rest = (x: Obj) => x.namespaceSelector.matchExpressions.filter((m: Obj) => m.key !== POD_SECURITY_ENFORCE_LABEL);
      expect(rest(e)).toEqual(rest(twin));
      expect(e.objectSelector).toEqual(twin.objectSelector);
      expect(JSON.stringify(e.objectSelector) + JSON.stringify(rest(e))).toContain(INJECT_LABEL);
    }
  });
});

test('invalid injection mode and kubelet directory are rejected with a fix', () => {
  expect(() => synth({ injectionMode: 'auto' as 'csi' })).toThrow(LxcfsKitConfigError);
  expect(() => synth({ injectionMode: 'auto' as 'csi' })).toThrow(/hostPath, csi, podSecurity/);
  expect(() => synth({ injectionMode: 'csi', kubeletDir: 'var/lib/kubelet' })).toThrow(/absolute path/);
  expect(() => synth({ injectionMode: 'csi', kubeletDir: '/var/lib/kubelet/' })).toThrow(/trailing slash/);
  expect(() => synth({ injectionMode: 'csi', kubeletDir: '/var/lib/kube let' })).toThrow(/kubeletDir/);
  // Both problems at once.
  expect(() => synth({ injectionMode: 'auto' as 'csi', kubeletDir: 'x' })).toThrow(/injectionMode[\s\S]*kubeletDir/);
});
