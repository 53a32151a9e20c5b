/**
 * Injection mode csi under Pod Security `restricted`: every generated pod that meets the
 * documented restricted rules still meets them after the csi-mode patch (only a csi volume,
 * read-only subPath mounts and the marker annotation are added), while the same pods patched
 * in hostPath mode do not (so the check can fail). No API server here: the rules are the
 * documented Pod Security Standards, written in test/csi/pod-security.ts.
 */
import * as fc from 'fast-check';
import { applyPatch, deepClone, Operation } from 'fast-json-patch';
import { CSI_DRIVER_NAME, DEFAULT_LXCFS_FILES, DEFAULT_LXCFS_PATH, EXCLUDE_CONTAINERS_ANNOTATION, INJECTED_ANNOTATION } from '../../lib/contract';
import { CSI_VOLUME_NAME } from '../../lib/injection';
import { PodLike, PodMutator } from '../../lib/webhook/mutate';
import { restrictedViolations } from './pod-security';

const csi = PodMutator.fromFlags(DEFAULT_LXCFS_PATH, DEFAULT_LXCFS_FILES, 'lxcfs-kit', 'csi');
const hostPath = PodMutator.fromFlags(DEFAULT_LXCFS_PATH, DEFAULT_LXCFS_FILES, 'lxcfs-kit', 'hostPath');

const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
const restrictedSecurityContext = fc.record({
  allowPrivilegeEscalation: fc.constant(false),
  capabilities: fc.oneof(fc.constant({ drop: ['ALL'] }), fc.constant({ drop: ['ALL'], add: ['NET_BIND_SERVICE'] })),
  runAsNonRoot: fc.constant(true),
  runAsUser: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
  seccompProfile: fc.constantFrom({ type: 'RuntimeDefault' }, { type: 'Localhost', localhostProfile: 'p.json' }),
  readOnlyRootFilesystem: fc.boolean(),
}, { requiredKeys: ['allowPrivilegeEscalation', 'capabilities', 'runAsNonRoot', 'seccompProfile'] });
const mountPath = fc.oneof(fc.constantFrom(...DEFAULT_LXCFS_FILES, '/data', '/etc/config'), fc.stringMatching(/^\/[a-z]{1,8}$/));
const container = fc.record({
  name,
  image: fc.constant('registry.example/app:1'),
  securityContext: restrictedSecurityContext,
  volumeMounts: fc.array(fc.record({ name, mountPath, readOnly: fc.boolean() }), { maxLength: 2 }),
  ports: fc.array(fc.record({ containerPort: fc.integer({ min: 1, max: 65535 }) }), { maxLength: 2 }),
});
const allowedVolume = fc.oneof(
  fc.record({ name, emptyDir: fc.constant({}) }),
  fc.record({ name, configMap: fc.record({ name }) }),
  fc.record({ name, secret: fc.record({ secretName: name }) }),
  fc.record({ name, projected: fc.constant({ sources: [] }) }),
  fc.record({ name, persistentVolumeClaim: fc.record({ claimName: name }) }),
);
const restrictedPod = fc.record({
  metadata: fc.record({
    name,
    labels: fc.constant({ 'lxcfs-kit.io/inject': 'enabled' }),
    annotations: fc.option(fc.dictionary(fc.constantFrom(EXCLUDE_CONTAINERS_ANNOTATION, 'team', 'x/y'), name, { maxKeys: 2 }), { nil: undefined }),
  }, { requiredKeys: ['name', 'labels'] }),
  spec: fc.record({
    securityContext: fc.constant({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } }),
    containers: fc.uniqueArray(container, { minLength: 1, maxLength: 3, selector: (c) => c.name }),
    initContainers: fc.uniqueArray(container, { maxLength: 2, selector: (c) => c.name }),
    volumes: fc.uniqueArray(allowedVolume, { maxLength: 3, selector: (v) => v.name }),
  }, { requiredKeys: ['securityContext', 'containers'] }),
});

function patched(mutator: PodMutator, pod: PodLike): { out: PodLike; ops: Operation[] } {
  const plan = mutator.plan(pod, 'restricted-apps');
  return { out: applyPatch(deepClone(pod), plan.patch as Operation[], true, false).newDocument as PodLike, ops: plan.patch as Operation[] };
}

describe('csi mode meets Pod Security restricted (documented rules; no API server)', () => {
  test('restricted pods stay restricted after the csi patch; the hostPath patch breaks them (3,000 pods)', () => {
    let injected = 0;
    let hostPathBroken = 0;
    fc.assert(
      fc.property(restrictedPod, (pod) => {
        // The generator only yields pods that meet restricted.
        expect(restrictedViolations(pod)).toEqual([]);
        const { out, ops } = patched(csi, pod);
        expect(restrictedViolations(out)).toEqual([]);
        // Only volumes, volume mounts and the marker annotation are touched.
        for (const op of ops) expect(op.path).toMatch(/^\/(spec\/volumes|spec\/(init)?[cC]ontainers\/\d+\/volumeMounts|metadata(\/annotations(\/.*)?)?)(\/-)?$/);
        if (ops.length > 0) {
          injected++;
          const vols = (out.spec?.volumes ?? []) as { name: string; csi?: { driver: string; readOnly: boolean } }[];
          expect(vols.filter((v) => v.name === CSI_VOLUME_NAME)).toEqual([{ name: CSI_VOLUME_NAME, csi: { driver: CSI_DRIVER_NAME, readOnly: true } }]);
          expect(out.metadata?.annotations?.[INJECTED_ANNOTATION]).toBe(DEFAULT_LXCFS_FILES.join(','));
          const h = patched(hostPath, pod);
          if (restrictedViolations(h.out).some((v) => v.startsWith('hostPath volumes'))) hostPathBroken++;
        }
      }),
      { numRuns: 3000 },
    );
    expect(injected).toBeGreaterThan(2400);
    expect(hostPathBroken).toBe(injected);
  });

  test('the checker flags each documented restricted rule (it can fail)', () => {
    const base = { metadata: { name: 'p' }, spec: { securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } }, containers: [{ name: 'c', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }] } };
    expect(restrictedViolations(base)).toEqual([]);
    const variants: [string, (p: typeof base & Record<string, never>) => void][] = [
      ['hostPath volumes', (p) => Object.assign(p.spec, { volumes: [{ name: 'h', hostPath: { path: '/' } }] })],
      ['volume types', (p) => Object.assign(p.spec, { volumes: [{ name: 'n', nfs: { server: 's', path: '/' } }] })],
      ['host namespaces', (p) => Object.assign(p.spec, { hostPID: true })],
      ['privileged', (p) => Object.assign(p.spec.containers[0].securityContext, { privileged: true })],
      ['privilege escalation', (p) => Object.assign(p.spec.containers[0].securityContext, { allowPrivilegeEscalation: true })],
      ['capabilities', (p) => Object.assign(p.spec.containers[0].securityContext, { capabilities: { drop: ['ALL'], add: ['SYS_ADMIN'] } })],
      ['running as non-root', (p) => Object.assign(p.spec.securityContext, { runAsNonRoot: false })],
      ['runAsUser 0', (p) => Object.assign(p.spec.containers[0].securityContext, { runAsUser: 0 })],
      ['seccomp', (p) => Object.assign(p.spec.securityContext, { seccompProfile: { type: 'Unconfined' } })],
      ['host ports', (p) => Object.assign(p.spec.containers[0], { ports: [{ containerPort: 80, hostPort: 80 }] })],
      ['procMount', (p) => Object.assign(p.spec.containers[0].securityContext, { procMount: 'Unmasked' })],
      ['sysctls', (p) => Object.assign(p.spec.securityContext, { sysctls: [{ name: 'kernel.msgmax', value: '1' }] })],
    ];
    for (const [rule, change] of variants) {
      const pod = JSON.parse(JSON.stringify(base)) as typeof base & Record<string, never>;
      change(pod);
      expect(restrictedViolations(pod).some((v) => v.startsWith(rule))).toBe(true);
    }
  });
});
