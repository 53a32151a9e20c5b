/**
 * The pod mutation of the injection contract (design.md), as a pure function:
 * a pod in, the JSON Patch that injects lxcfs out. No I/O, so the admission
 * handler, the repair reconciler and the property tests all share one truth
 * about "what would this pod get".
 *
 * The patch pieces (volumes, volume mounts, annotation value) are built once
 * from the configuration; per request only the decisions are made.
 */
import { EXCLUDE_CONTAINERS_ANNOTATION, INJECTED_ANNOTATION, INJECT_DISABLED, INJECT_LABEL, SYSTEM_NAMESPACES } from '../contract';
import { LxcfsFileMount, lxcfsFileMounts } from '../injection';

/** The parts of a pod the mutation reads; everything else passes through untouched. */
export interface PodLike {
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: {
    os?: { name?: string };
    nodeSelector?: Record<string, string>;
    volumes?: { name?: string }[];
    containers?: ContainerLike[];
    initContainers?: ContainerLike[];
  };
}
export interface ContainerLike {
  name?: string;
  volumeMounts?: { name?: string; mountPath?: string }[];
}

export type JsonPatchOp = { op: 'add'; path: string; value: unknown };

export interface MutationConfig {
  readonly mounts: readonly LxcfsFileMount[];
  /** The release's own namespace: never injected, whatever its labels say. */
  readonly ownNamespace: string;
}

/** Why a pod is out of scope by policy, whatever its containers look like. */
export type SkipReason = 'system-namespace' | 'own-namespace' | 'windows' | 'opted-out';

export interface MutationPlan {
  /** Empty when the pod already has everything it should get. */
  readonly patch: JsonPatchOp[];
  /** Containers and init containers that get at least one new mount. */
  readonly injectedContainers: number;
  /** Set when the pod is out of scope by policy and was not inspected. */
  readonly skipped?: SkipReason;
  /** Containers that would carry lxcfs mounts after the patch (new or pre-existing). */
  readonly coveredContainers: number;
}

/** RFC 6901: `~` becomes `~0` and `/` becomes `~1`, in that order. */
export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

const ANNOTATION_PATH = `/metadata/annotations/${escapePointer(INJECTED_ANNOTATION)}`;

/** A compiled mutation: the configuration's patch pieces, built once. */
export class PodMutator {
  private readonly mounts: readonly LxcfsFileMount[];
  private readonly volumes: readonly object[];
  private readonly volumeMounts: readonly object[];
  private readonly ownNamespace: string;
  /** The whole-array values of the common case (nothing there yet), shared by every plan. */
  private readonly allVolumes: readonly object[];
  private readonly allVolumeMounts: readonly object[];
  /** Serialized forms of the shared values above, so the hot path does not re-stringify them. */
  private readonly jsonOf = new Map<unknown, string>();

  constructor(config: MutationConfig) {
    this.mounts = config.mounts;
    this.ownNamespace = config.ownNamespace;
    this.volumes = this.mounts.map((m) => Object.freeze({ name: m.volumeName, hostPath: Object.freeze({ path: m.hostPath, type: m.hostPathType }) }));
    this.volumeMounts = this.mounts.map((m) => Object.freeze({ name: m.volumeName, mountPath: m.mountPath, readOnly: true }));
    this.allVolumes = Object.freeze([...this.volumes]);
    this.allVolumeMounts = Object.freeze([...this.volumeMounts]);
    for (const v of [...this.volumes, ...this.volumeMounts, this.allVolumes, this.allVolumeMounts]) this.jsonOf.set(v, JSON.stringify(v));
  }

  /** JSON text of a plan's patch; equal to JSON.stringify(patch), reusing the precomputed pieces. */
  serializePatch(patch: readonly JsonPatchOp[]): string {
    let out = '[';
    for (let i = 0; i < patch.length; i++) {
      const op = patch[i];
      const value = this.jsonOf.get(op.value) ?? JSON.stringify(op.value);
      out += `${i === 0 ? '' : ','}{"op":"add","path":${JSON.stringify(op.path)},"value":${value}}`;
    }
    return `${out}]`;
  }

  static fromFlags(lxcfsPath: string, files: readonly string[], ownNamespace: string): PodMutator {
    return new PodMutator({ mounts: lxcfsFileMounts(lxcfsPath, files), ownNamespace });
  }

  /** The value of the injected marker: the files this configuration injects, comma-joined. */
  get markerValue(): string {
    return this.mounts.map((m) => m.mountPath).join(',');
  }

  /** Policy checks that hold whatever the containers look like (defense in depth behind the selectors). */
  skipReason(pod: PodLike, namespace: string | undefined): SkipReason | undefined {
    const ns = namespace ?? pod.metadata?.namespace ?? '';
    if (SYSTEM_NAMESPACES.includes(ns)) return 'system-namespace';
    if (ns !== '' && ns === this.ownNamespace) return 'own-namespace';
    if (isWindows(pod)) return 'windows';
    if (pod.metadata?.labels?.[INJECT_LABEL] === INJECT_DISABLED) return 'opted-out';
    return undefined;
  }

  /** The JSON Patch for a pod being created. `namespace` is the request's (a pod may omit its own). */
  plan(pod: PodLike, namespace?: string): MutationPlan {
    const skipped = this.skipReason(pod, namespace);
    if (skipped) return { patch: [], injectedContainers: 0, coveredContainers: 0, skipped };

    const spec = pod.spec ?? {};
    const excluded = excludedContainers(pod.metadata?.annotations?.[EXCLUDE_CONTAINERS_ANNOTATION]);
    const existingVolumes = new Set((asArray(spec.volumes) ?? []).map((v) => v?.name));
    const neededVolumes = new Array<boolean>(this.mounts.length).fill(false);
    const patch: JsonPatchOp[] = [];
    let injectedContainers = 0;
    let coveredContainers = 0;

    const visit = (list: ContainerLike[] | undefined, field: 'containers' | 'initContainers'): void => {
      if (!list) return;
      for (let i = 0; i < list.length; i++) {
        const c = list[i];
        if (c === null || typeof c !== 'object' || (c.name !== undefined && excluded.has(c.name))) continue;
        const existing = asArray(c.volumeMounts);
        const taken = new Set<string>();
        let ours = false;
        for (const vm of existing ?? []) {
          if (vm && typeof vm.mountPath === 'string') taken.add(normalizeMountPath(vm.mountPath));
          if (vm && typeof vm.name === 'string' && this.isOurVolume(vm.name)) ours = true;
        }
        const add: object[] = [];
        for (let m = 0; m < this.mounts.length; m++) {
          if (taken.has(this.mounts[m].mountPath)) continue;
          add.push(this.volumeMounts[m]);
          neededVolumes[m] = true;
        }
        // Volumes already mounted by an earlier pass must stay declared.
        for (const vm of existing ?? []) {
          const m = vm && typeof vm.name === 'string' ? this.indexOfVolume(vm.name) : -1;
          if (m >= 0) neededVolumes[m] = true;
        }
        if (add.length > 0) {
          injectedContainers++;
          const base = `/spec/${field}/${i}/volumeMounts`;
          if (existing === undefined) patch.push({ op: 'add', path: base, value: add.length === this.mounts.length ? this.allVolumeMounts : add });
          else for (const v of add) patch.push({ op: 'add', path: `${base}/-`, value: v });
        }
        if (add.length > 0 || ours) coveredContainers++;
      }
    };
    visit(asArray(spec.initContainers), 'initContainers');
    visit(asArray(spec.containers), 'containers');

    if (coveredContainers === 0) return { patch: [], injectedContainers: 0, coveredContainers: 0 };

    const newVolumes: object[] = [];
    for (let m = 0; m < this.mounts.length; m++) {
      if (neededVolumes[m] && !existingVolumes.has(this.mounts[m].volumeName)) newVolumes.push(this.volumes[m]);
    }
    if (newVolumes.length > 0) {
      if (asArray(spec.volumes) === undefined) patch.push({ op: 'add', path: '/spec/volumes', value: newVolumes.length === this.mounts.length ? this.allVolumes : newVolumes });
      else for (const v of newVolumes) patch.push({ op: 'add', path: '/spec/volumes/-', value: v });
    }

    const annotations = pod.metadata?.annotations;
    const marker = this.markerValue;
    if (annotations === undefined || annotations === null || typeof annotations !== 'object') {
      if (pod.metadata === undefined || pod.metadata === null) patch.push({ op: 'add', path: '/metadata', value: { annotations: { [INJECTED_ANNOTATION]: marker } } });
      else patch.push({ op: 'add', path: '/metadata/annotations', value: { [INJECTED_ANNOTATION]: marker } });
    } else if (annotations[INJECTED_ANNOTATION] !== marker) {
      // `add` on an existing member replaces it (RFC 6902 4.1).
      patch.push({ op: 'add', path: ANNOTATION_PATH, value: marker });
    }
    return { patch, injectedContainers, coveredContainers };
  }

  /** True when the pod would get mounts that it does not have yet (used by the reconciler). */
  needsInjection(pod: PodLike, namespace?: string): boolean {
    return this.plan(pod, namespace).injectedContainers > 0;
  }

  private indexOfVolume(name: string): number {
    for (let m = 0; m < this.mounts.length; m++) if (this.mounts[m].volumeName === name) return m;
    return -1;
  }

  private isOurVolume(name: string): boolean {
    return this.indexOfVolume(name) >= 0;
  }
}

export function isWindows(pod: PodLike): boolean {
  const os = pod.spec?.os?.name;
  if (typeof os === 'string' && os.toLowerCase() === 'windows') return true;
  const sel = pod.spec?.nodeSelector?.['kubernetes.io/os'];
  return typeof sel === 'string' && sel.toLowerCase() === 'windows';
}

function excludedContainers(value: unknown): Set<string> {
  if (typeof value !== 'string' || value === '') return new Set();
  return new Set(value.split(',').map((s) => s.trim()).filter(Boolean));
}

/** Kubernetes compares mount paths textually; a trailing slash still names the same file. */
function normalizeMountPath(p: string): string {
  const collapsed = p.replace(/\/+/g, '/');
  return collapsed.length > 1 ? collapsed.replace(/\/$/, '') : collapsed;
}

function asArray<T>(v: T[] | undefined | null): T[] | undefined {
  return Array.isArray(v) ? v : undefined;
}
