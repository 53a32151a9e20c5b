/**
 * Injection mode csi: the planner (pure) and the real webhook process over HTTPS. The same
 * files, marker, opt-in/opt-out rules and idempotence as hostPath mode; one CSI volume and a
 * read-only subPath mount per file instead of hostPath volumes.
 */
import * as fc from 'fast-check';
import { applyPatch, deepClone, Operation } from 'fast-json-patch';
import { CSI_DRIVER_NAME, DEFAULT_LXCFS_FILES, DEFAULT_LXCFS_PATH, EXCLUDE_CONTAINERS_ANNOTATION, INJECTED_ANNOTATION, INJECT_LABEL } from '../../lib/contract';
import { CSI_VOLUME_NAME } from '../../lib/injection';
import { PodLike, PodMutator } from '../../lib/webhook/mutate';
import { admissionResponse, decodePatch, fixturePod, makePki, request, review, startFileModeWebhook, TestPki, WebhookProcess } from './helpers';

const csi = PodMutator.fromFlags(DEFAULT_LXCFS_PATH, DEFAULT_LXCFS_FILES, 'lxcfs-kit', 'csi');
const hostPath = PodMutator.fromFlags(DEFAULT_LXCFS_PATH, DEFAULT_LXCFS_FILES, 'lxcfs-kit', 'hostPath');

type Mount = { name: string; mountPath: string; subPath?: string; readOnly?: boolean };
type Ctr = { name: string; volumeMounts?: Mount[] };
type Pod = { metadata?: { annotations?: Record<string, string> }; spec: { containers: Ctr[]; initContainers?: Ctr[]; volumes?: { name: string; csi?: object; hostPath?: object }[] } };

function apply(m: PodMutator, pod: unknown, ns = 'apps'): Pod {
  return applyPatch(deepClone(pod), m.plan(pod as PodLike, ns).patch as Operation[], true, false).newDocument as Pod;
}

const expectedMounts = DEFAULT_LXCFS_FILES.map((f) => ({ name: CSI_VOLUME_NAME, mountPath: f, subPath: f.slice(1), readOnly: true }));

describe('csi-mode planner', () => {
  test('a pod gets one CSI volume of the agent driver and a read-only subPath mount per file in every container', () => {
    const pod = { metadata: { name: 'p' }, spec: { initContainers: [{ name: 'i' }], containers: [{ name: 'a' }, { name: 'b', volumeMounts: [{ name: 'data', mountPath: '/data' }] }], volumes: [{ name: 'data', emptyDir: {} }] } };
    const out = apply(csi, pod);
    expect(out.spec.volumes).toEqual([{ name: 'data', emptyDir: {} }, { name: CSI_VOLUME_NAME, csi: { driver: CSI_DRIVER_NAME, readOnly: true } }]);
    expect(out.spec.initContainers?.[0].volumeMounts).toEqual(expectedMounts);
    expect(out.spec.containers[0].volumeMounts).toEqual(expectedMounts);
    expect(out.spec.containers[1].volumeMounts).toEqual([{ name: 'data', mountPath: '/data' }, ...expectedMounts]);
    expect(out.metadata?.annotations?.[INJECTED_ANNOTATION]).toBe(csi.markerValue);
    expect(csi.markerValue).toBe(hostPath.markerValue);
  });

  test('opt-out, system and own namespaces, Windows and excluded containers behave as in hostPath mode', () => {
    const pod = (extra: object = {}) => ({ metadata: { name: 'p', ...extra }, spec: { containers: [{ name: 'a' }, { name: 'b' }] } });
    expect(csi.plan(pod({ labels: { [INJECT_LABEL]: 'disabled' } }), 'apps').skipped).toBe('opted-out');
    expect(csi.plan(pod(), 'kube-system').skipped).toBe('system-namespace');
    expect(csi.plan(pod(), 'lxcfs-kit').skipped).toBe('own-namespace');
    expect(csi.plan({ ...pod(), spec: { os: { name: 'windows' }, containers: [{ name: 'a' }] } }, 'apps').skipped).toBe('windows');
    const out = apply(csi, pod({ annotations: { [EXCLUDE_CONTAINERS_ANNOTATION]: 'b' } }));
    expect(out.spec.containers[0].volumeMounts).toEqual(expectedMounts);
    expect(out.spec.containers[1].volumeMounts).toBeUndefined();
    // A container's own file at one of the paths stays; the others are added.
    const own = apply(csi, { metadata: { name: 'p' }, spec: { containers: [{ name: 'a', volumeMounts: [{ name: 'cfg', mountPath: '/proc/meminfo' }] }], volumes: [{ name: 'cfg', configMap: { name: 'x' } }] } });
    expect(own.spec.containers[0].volumeMounts?.filter((m) => m.mountPath === '/proc/meminfo')).toEqual([{ name: 'cfg', mountPath: '/proc/meminfo' }]);
    expect(own.spec.containers[0].volumeMounts?.length).toBe(DEFAULT_LXCFS_FILES.length);
  });

  test('idempotent, also across modes: a pod injected in either mode gets nothing more from either mode (2,000 pods)', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
    const mountPath = fc.oneof(fc.constantFrom(...DEFAULT_LXCFS_FILES, '/data'), fc.stringMatching(/^\/[a-z]{1,6}$/));
    const container = fc.record({ name, volumeMounts: fc.array(fc.record({ name, mountPath }), { maxLength: 2 }) }, { requiredKeys: ['name'] });
    const pod = fc.record({
      metadata: fc.record({ name, annotations: fc.option(fc.constantFrom({}, { [EXCLUDE_CONTAINERS_ANNOTATION]: 'a' }), { nil: undefined }) }, { requiredKeys: ['name'] }),
      spec: fc.record({
        containers: fc.uniqueArray(container, { minLength: 1, maxLength: 3, selector: (c) => c.name }),
        initContainers: fc.uniqueArray(container, { maxLength: 2, selector: (c) => c.name }),
        volumes: fc.uniqueArray(fc.record({ name, emptyDir: fc.constant({}) }), { maxLength: 2, selector: (v) => v.name }),
      }, { requiredKeys: ['containers'] }),
    });
    fc.assert(
      fc.property(pod, fc.constantFrom(csi, hostPath), fc.constantFrom(csi, hostPath), (p, first, second) => {
        const once = apply(first, p);
        expect(second.plan(once as PodLike, 'apps').patch).toEqual([]);
        expect(second.needsInjection(once as PodLike, 'apps')).toBe(false);
        expect(csi.needsInjection(p as PodLike, 'apps')).toBe(hostPath.needsInjection(p as PodLike, 'apps'));
        // csi mode never adds a hostPath volume, and mounts of its volume always carry a subPath.
        if (first === csi) {
          expect((once.spec.volumes ?? []).filter((v) => v.hostPath !== undefined).length).toBe(((p.spec.volumes ?? []) as { hostPath?: object }[]).filter((v) => v.hostPath).length);
          for (const c of [...once.spec.containers, ...(once.spec.initContainers ?? [])]) {
            for (const m of c.volumeMounts ?? []) if (m.name === CSI_VOLUME_NAME) expect(m).toEqual({ name: CSI_VOLUME_NAME, mountPath: m.mountPath, subPath: m.mountPath.slice(1), readOnly: true });
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the webhook process over HTTPS: /mutate follows --injection-mode, /mutate/csi is always csi', () => {
  let pki: TestPki;
  let byDefault: WebhookProcess;
  let csiMode: WebhookProcess;

  beforeAll(async () => {
    pki = makePki();
    [byDefault, csiMode] = await Promise.all([startFileModeWebhook(pki), startFileModeWebhook(pki, ['--injection-mode=csi'])]);
  }, 120000);
  afterAll(async () => {
    await byDefault?.stop();
    await csiMode?.stop();
  });

  async function volumesVia(port: number, path: string): Promise<{ name: string; csi?: object; hostPath?: object }[]> {
    const pod = fixturePod();
    const res = await request(port, pki.ca.certPem, { path, body: review(pod, { namespace: 'apps' }) });
    expect(res.status).toBe(200);
    const out = applyPatch(deepClone(pod), decodePatch(admissionResponse(res.body)) as Operation[], true, false).newDocument as Pod;
    return (out.spec.volumes ?? []).filter((v) => v.name.startsWith('lxcfs-kit-'));
  }

  test('default process: hostPath on /mutate, csi on /mutate/csi; --injection-mode=csi: csi on /mutate', async () => {
    const hostPathVolumes = await volumesVia(byDefault.port, '/mutate');
    expect(hostPathVolumes.length).toBe(DEFAULT_LXCFS_FILES.length);
    expect(hostPathVolumes.every((v) => v.hostPath !== undefined)).toBe(true);
    expect(await volumesVia(byDefault.port, '/mutate/csi')).toEqual([{ name: CSI_VOLUME_NAME, csi: { driver: CSI_DRIVER_NAME, readOnly: true } }]);
    expect(await volumesVia(csiMode.port, '/mutate')).toEqual([{ name: CSI_VOLUME_NAME, csi: { driver: CSI_DRIVER_NAME, readOnly: true } }]);
    expect((await request(byDefault.port, pki.ca.certPem, { path: '/mutate/other', body: '{}' })).status).toBe(404);
  }, 60000);
});
