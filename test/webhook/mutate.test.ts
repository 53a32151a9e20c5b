import * as fc from 'fast-check';
import { applyPatch, deepClone, Operation } from 'fast-json-patch';
import { DEFAULT_LXCFS_FILES, DEFAULT_LXCFS_PATH, EXCLUDE_CONTAINERS_ANNOTATION, INJECTED_ANNOTATION, VOLUME_PREFIX } from '../../lib/contract';
import { escapePointer, PodLike, PodMutator } from '../../lib/webhook/mutate';

const mutator = PodMutator.fromFlags(DEFAULT_LXCFS_PATH, DEFAULT_LXCFS_FILES, 'lxcfs-kit');

function apply(pod: PodLike, ns = 'apps'): { out: PodLike; injected: number } {
  const plan = mutator.plan(pod, ns);
  // validateOperation=true: the library rejects paths that do not exist in the document.
  const out = applyPatch(deepClone(pod), plan.patch as Operation[], true, false).newDocument as PodLike;
  return { out, injected: plan.injectedContainers };
}

type Mount = { name?: string; mountPath?: string; readOnly?: boolean };
type Volume = { name?: string; hostPath?: { path: string; type: string } };

const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
const annotationKey = fc.oneof(
  fc.stringMatching(/^[a-z~/.]{1,12}$/),
  fc.constantFrom(EXCLUDE_CONTAINERS_ANNOTATION, 'a/b~c', '~0~1', 'x/'),
);
const mountPath = fc.oneof(fc.constantFrom(...DEFAULT_LXCFS_FILES, '/proc/meminfo/', '/data', '/etc/config'), fc.stringMatching(/^\/[a-z]{1,8}$/));
const container = fc.record(
  {
    name,
    image: fc.constant('busybox'),
    volumeMounts: fc.array(fc.record({ name, mountPath }), { maxLength: 3 }),
  },
  { requiredKeys: ['name', 'image'] },
);
const podArb = fc.record(
  {
    metadata: fc.record(
      {
        name,
        labels: fc.dictionary(name, name, { maxKeys: 2 }),
        annotations: fc.dictionary(annotationKey, fc.string({ maxLength: 8 }), { maxKeys: 4 }),
      },
      { requiredKeys: [] },
    ),
    spec: fc.record(
      {
        containers: fc.uniqueArray(container, { minLength: 1, maxLength: 4, selector: (c) => c.name }),
        initContainers: fc.uniqueArray(container, { maxLength: 2, selector: (c) => c.name }),
        // Volume names are unique within a pod, as the API server's validation requires.
        volumes: fc.uniqueArray(fc.record({ name, emptyDir: fc.constant({}) }), { maxLength: 3, selector: (v) => v.name }),
      },
      { requiredKeys: ['containers'] },
    ),
  },
  { requiredKeys: ['spec'] },
);

function allContainers(p: PodLike): { name?: string; volumeMounts?: Mount[] }[] {
  return [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])] as { name?: string; volumeMounts?: Mount[] }[];
}

describe('pod mutation (property tests with a real JSON Patch library)', () => {
  test('the patch applies cleanly, satisfies the contract, and a second pass yields no patch', () => {
    fc.assert(
      fc.property(podArb, (pod) => {
        const before = deepClone(pod) as PodLike;
        const { out } = apply(pod);
        const excluded = new Set((pod.metadata?.annotations?.[EXCLUDE_CONTAINERS_ANNOTATION] ?? '').split(',').map((s) => s.trim()));
        const volumes = (out.spec?.volumes ?? []) as Volume[];
        const volumeNames = volumes.map((v) => v.name);
        let covered = 0;
        allContainers(out).forEach((c, idx) => {
          const orig = allContainers(before)[idx];
          const origPaths = new Set((orig.volumeMounts ?? []).map((m) => (m.mountPath ?? '').replace(/\/$/, '')));
          // Original mounts are kept, in order, untouched.
          expect((c.volumeMounts ?? []).slice(0, (orig.volumeMounts ?? []).length)).toEqual(orig.volumeMounts ?? []);
          for (const f of DEFAULT_LXCFS_FILES) {
            const ours = (c.volumeMounts ?? []).filter((m) => m.mountPath === f && m.name?.startsWith(VOLUME_PREFIX));
            if (excluded.has(c.name ?? '') || origPaths.has(f)) {
              expect(ours).toHaveLength(0);
            } else {
              expect(ours).toHaveLength(1);
              expect(ours[0].readOnly).toBe(true);
              expect(volumeNames).toContain(ours[0].name);
              covered++;
            }
          }
        });
        // Every lxcfs volume is a hostPath of type File under the lxcfs path, declared once.
        for (const v of volumes.filter((v) => v.name?.startsWith(VOLUME_PREFIX))) {
          expect(v.hostPath?.type).toBe('File');
          expect(v.hostPath?.path.startsWith(`${DEFAULT_LXCFS_PATH}/`)).toBe(true);
        }
        expect(new Set(volumeNames).size).toBe(volumeNames.length);
        // The marker is present exactly when something was injected; other annotations survive.
        if (covered > 0) expect(out.metadata?.annotations?.[INJECTED_ANNOTATION]).toBe(DEFAULT_LXCFS_FILES.join(','));
        else expect(out.metadata?.annotations?.[INJECTED_ANNOTATION]).toBe(before.metadata?.annotations?.[INJECTED_ANNOTATION]);
        for (const [k, v] of Object.entries(before.metadata?.annotations ?? {})) {
          if (k !== INJECTED_ANNOTATION) expect(out.metadata?.annotations?.[k]).toBe(v);
        }
        // Reinvocation: an injected pod yields nothing.
        expect(mutator.plan(out, 'apps').patch).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  test('the input pod is never modified by planning', () => {
    fc.assert(
      fc.property(podArb, (pod) => {
        const copy = deepClone(pod) as typeof pod;
        mutator.plan(pod, 'apps');
        expect(pod).toEqual(copy);
      }),
      { numRuns: 200 },
    );
  });
});

describe('pod mutation (cases)', () => {
  test('a pod without volumes or mounts gets whole arrays added', () => {
    const plan = mutator.plan({ metadata: { name: 'p' }, spec: { containers: [{ name: 'app' }] } }, 'apps');
    const paths = plan.patch.map((p) => p.path);
    expect(paths).toEqual(['/spec/containers/0/volumeMounts', '/spec/volumes', `/metadata/annotations`]);
    expect(plan.injectedContainers).toBe(1);
    expect(mutator.plan({ spec: { containers: [{ name: 'app' }] } }, 'apps').patch[2].path).toBe('/metadata');
  });

  test('init containers are injected too', () => {
    const { out, injected } = apply({ spec: { initContainers: [{ name: 'init' }], containers: [{ name: 'app' }] } });
    expect(injected).toBe(2);
    expect(out.spec?.initContainers?.[0].volumeMounts).toHaveLength(DEFAULT_LXCFS_FILES.length);
  });

  test('a container that already mounts /proc/meminfo keeps its own mount', () => {
    const pod: PodLike = {
      spec: {
        volumes: [{ name: 'mine' }],
        containers: [{ name: 'app', volumeMounts: [{ name: 'mine', mountPath: '/proc/meminfo' }] }],
      },
    };
    const { out } = apply(pod);
    const mounts = out.spec?.containers?.[0].volumeMounts ?? [];
    expect(mounts.filter((m) => m.mountPath === '/proc/meminfo')).toEqual([{ name: 'mine', mountPath: '/proc/meminfo' }]);
    expect(mounts).toHaveLength(DEFAULT_LXCFS_FILES.length);
  });

  test('excluded containers are skipped; a pod whose containers are all excluded is untouched', () => {
    const ann = { [EXCLUDE_CONTAINERS_ANNOTATION]: 'sidecar, app' };
    expect(mutator.plan({ metadata: { annotations: ann }, spec: { containers: [{ name: 'app' }, { name: 'sidecar' }] } }, 'apps').patch).toEqual([]);
    const { out } = apply({ metadata: { annotations: { [EXCLUDE_CONTAINERS_ANNOTATION]: 'sidecar' } }, spec: { containers: [{ name: 'app' }, { name: 'sidecar' }] } });
    expect(out.spec?.containers?.[1].volumeMounts).toBeUndefined();
    expect(out.spec?.containers?.[0].volumeMounts).toHaveLength(DEFAULT_LXCFS_FILES.length);
  });

  test('annotation keys with / and ~ are escaped per RFC 6901 and survive', () => {
    expect(escapePointer('a/b~c')).toBe('a~1b~0c');
    const pod: PodLike = { metadata: { annotations: { 'a/b~c': '1', '~1': '2', [INJECTED_ANNOTATION]: 'stale' } }, spec: { containers: [{ name: 'app' }] } };
    const plan = mutator.plan(pod, 'apps');
    expect(plan.patch.map((p) => p.path)).toContain('/metadata/annotations/lxcfs-kit.io~1injected');
    const { out } = apply(pod);
    expect(out.metadata?.annotations).toEqual({ 'a/b~c': '1', '~1': '2', [INJECTED_ANNOTATION]: DEFAULT_LXCFS_FILES.join(',') });
  });

  test('Windows pods, system namespaces, the own namespace and opted-out pods are never mutated', () => {
    const c = { containers: [{ name: 'app' }] };
    expect(mutator.plan({ spec: { ...c, os: { name: 'windows' } } }, 'apps').skipped).toBe('windows');
    expect(mutator.plan({ spec: { ...c, nodeSelector: { 'kubernetes.io/os': 'windows' } } }, 'apps').skipped).toBe('windows');
    expect(mutator.plan({ spec: c }, 'kube-system').skipped).toBe('system-namespace');
    expect(mutator.plan({ spec: c }, 'lxcfs-kit').skipped).toBe('own-namespace');
    expect(mutator.plan({ metadata: { labels: { 'lxcfs-kit.io/inject': 'disabled' } }, spec: c }, 'apps').skipped).toBe('opted-out');
    for (const ns of ['kube-system', 'lxcfs-kit']) expect(mutator.plan({ spec: c }, ns).patch).toEqual([]);
  });

  test('a container added after the first pass (reinvocation) is injected on the second pass', () => {
    const { out } = apply({ spec: { containers: [{ name: 'app' }] } });
    out.spec?.containers?.push({ name: 'late' });
    const plan = mutator.plan(out, 'apps');
    expect(plan.injectedContainers).toBe(1);
    expect(plan.patch.every((p) => p.path.startsWith('/spec/containers/1/'))).toBe(true);
  });

  test('a custom file set and lxcfs path', () => {
    const m = PodMutator.fromFlags('/run/lxcfs/', ['/proc/meminfo'], 'x');
    const plan = m.plan({ spec: { containers: [{ name: 'a' }] } }, 'apps');
    expect(plan.patch[1]).toEqual({
      op: 'add',
      path: '/spec/volumes',
      value: [{ name: 'lxcfs-kit-proc-meminfo', hostPath: { path: '/run/lxcfs/proc/meminfo', type: 'File' } }],
    });
    expect(() => PodMutator.fromFlags('relative', ['/proc/meminfo'], 'x')).toThrow(/absolute/);
  });
});

describe('patch serialization', () => {
  test('serializePatch is exactly JSON.stringify of the patch, shared pieces included', () => {
    fc.assert(
      fc.property(podArb, (pod) => {
        const plan = mutator.plan(pod, 'apps');
        expect(mutator.serializePatch(plan.patch)).toBe(JSON.stringify(plan.patch));
      }),
      { numRuns: 300 },
    );
  });
});
