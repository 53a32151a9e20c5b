/**
 * The pod mutation of the injection contract (design.md), as a pure function:
 * a pod in, the JSON Patch that injects lxcfs out. No I/O, so the admission
 * handler, the repair reconciler and the property tests all share one truth
 * about "what would this pod get".
 *
 * The patch pieces (volumes, volume mounts, annotation value) are built once
 * from the configuration; per request only the decisions are made.
 */
import { CSI_DRIVER_NAME, EXCLUDE_CONTAINERS_ANNOTATION, INJECTED_ANNOTATION, INJECT_DISABLED, INJECT_LABEL, SYSTEM_NAMESPACES } from '../contract';
import { csiInjection, InjectionMode, LxcfsFileMount, lxcfsFileMounts } from '../injection';

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
    affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: unknown } } };
    volumes?: { name?: string; hostPath?: { path?: unknown; type?: unknown } }[];
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
  /**
   * `hostPath`: one hostPath volume of `type: File` per file. `csi`: one CSI ephemeral volume
   * of the agent's driver and a read-only subPath mount per file (Pod Security baseline and
   * restricted allow it). The same files, marker, opt-in rules and idempotence either way.
   * @default 'hostPath'
   */
  readonly mode?: InjectionMode;
  /** @default CSI_DRIVER_NAME */
  readonly csiDriver?: string;
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
  /** Set when the pod must be refused: injecting it would exceed the patch bound (MAX_INJECTED_MOUNTS). */
  readonly denied?: string;
  /** What the pod's creator should know (sent as admission warnings). */
  readonly warnings?: readonly string[];
}

/**
 * Bound on the mounts one patch adds (containers and init containers × files): about 70 bytes of
 * patch each, so a patch stays under ~300 KiB. Real pods are far below it; a pod beyond it is
 * refused with a message rather than answered with a patch the size of the request.
 */
export const MAX_INJECTED_MOUNTS = 4096;

/** Kubernetes' limit on all annotations of an object together; a longer value cannot be valid. */
const MAX_ANNOTATIONS_BYTES = 256 * 1024;

/** RFC 6901: `~` becomes `~0` and `/` becomes `~1`, in that order. */
export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

const ANNOTATION_PATH = `/metadata/annotations/${escapePointer(INJECTED_ANNOTATION)}`;

/** A compiled mutation: the configuration's patch pieces, built once. */
export class PodMutator {
  private readonly mounts: readonly LxcfsFileMount[];
  /** The pod volumes this configuration adds, and which of them each file's mount uses. */
  private readonly volumes: readonly PodVolume[];
  private readonly volumeOfMount: readonly number[];
  private readonly volumeMounts: readonly object[];
  private readonly ownNamespace: string;
  /** The whole-array values of the common case (nothing there yet), shared by every plan. */
  private readonly allVolumes: readonly object[];
  private readonly allVolumeMounts: readonly object[];
  /** Serialized forms of the shared values above, so the hot path does not re-stringify them. */
  private readonly jsonOf = new Map<unknown, string>();
  private readonly marker: string;

  constructor(config: MutationConfig) {
    this.mounts = config.mounts;
    this.ownNamespace = config.ownNamespace;
    if (config.mode === 'csi') {
      const csi = csiInjection(this.mounts.map((m) => m.mountPath), config.csiDriver ?? CSI_DRIVER_NAME);
      this.volumes = [Object.freeze({ name: csi.volume.name, csi: Object.freeze({ ...csi.volume.csi }) })];
      this.volumeMounts = csi.mounts.map((m) => Object.freeze({ ...m }));
      this.volumeOfMount = this.mounts.map(() => 0);
    } else {
      this.volumes = this.mounts.map((m) => Object.freeze({ name: m.volumeName, hostPath: Object.freeze({ path: m.hostPath, type: m.hostPathType }) }));
      this.volumeMounts = this.mounts.map((m) => Object.freeze({ name: m.volumeName, mountPath: m.mountPath, readOnly: true }));
      this.volumeOfMount = this.mounts.map((_m, i) => i);
    }
    this.marker = this.mounts.map((m) => m.mountPath).join(',');
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

  static fromFlags(lxcfsPath: string, files: readonly string[], ownNamespace: string, mode: InjectionMode = 'hostPath'): PodMutator {
    return new PodMutator({ mounts: lxcfsFileMounts(lxcfsPath, files), ownNamespace, mode });
  }

  /** The value of the injected marker: the files this configuration injects, comma-joined. */
  get markerValue(): string {
    return this.marker;
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

    // Every field below may have any JSON type (the pod is the client's): read only what has the expected one.
    const spec = isRecord(pod.spec) ? pod.spec : {};
    const meta = isRecord(pod.metadata) ? pod.metadata : undefined;
    const initContainers = asArray(spec.initContainers);
    const containers = asArray(spec.containers);
    const count = (initContainers?.length ?? 0) + (containers?.length ?? 0);
    if (count * this.mounts.length > MAX_INJECTED_MOUNTS) {
      return {
        patch: [],
        injectedContainers: 0,
        coveredContainers: 0,
        denied: `the pod has ${count} containers and init containers; lxcfs-kit injects at most ${Math.floor(MAX_INJECTED_MOUNTS / this.mounts.length)} (${MAX_INJECTED_MOUNTS} mounts); exclude containers with the ${EXCLUDE_CONTAINERS_ANNOTATION} annotation or opt the pod out with ${INJECT_LABEL}=${INJECT_DISABLED}`,
      };
    }
    const excluded = excludedContainers(isRecord(meta?.annotations) ? meta.annotations[EXCLUDE_CONTAINERS_ANNOTATION] : undefined);
    const volumes = asArray(spec.volumes);
    // A volume of the pod's own that already carries one of our names: ours (an earlier pass) or a
    // collision, whose content must never be mounted over a /proc file.
    const volumeState = this.volumes.map((v) => volumeStateOf(volumes, v));
    const warnings: string[] = [];
    this.mounts.forEach((mount, m) => {
      const v = this.volumeOfMount[m];
      if (volumeState[v] === 'foreign') warnings.push(`lxcfs-kit did not mount ${mount.mountPath}: the pod already has a different volume named ${this.volumes[v].name}; rename that volume to get it`);
    });
    const neededVolumes = new Array<boolean>(this.volumes.length).fill(false);
    const patch: JsonPatchOp[] = [];
    let injectedContainers = 0;
    let coveredContainers = 0;

    const visit = (list: readonly unknown[] | undefined, field: 'containers' | 'initContainers'): void => {
      if (!list) return;
      for (let i = 0; i < list.length; i++) {
        const c = list[i];
        if (!isRecord(c) || (typeof c.name === 'string' && excluded.has(c.name))) continue;
        const existing = asArray(c.volumeMounts);
        const taken = new Array<boolean>(this.mounts.length).fill(false);
        let ours = false;
        for (const vm of existing ?? []) {
          if (!isRecord(vm)) continue;
          if (typeof vm.mountPath === 'string') {
            const m = this.indexOfPath(normalizeMountPath(vm.mountPath));
            if (m >= 0) taken[m] = true;
          }
          // Volumes already mounted by an earlier pass must stay declared.
          const v = typeof vm.name === 'string' ? this.indexOfVolume(vm.name) : -1;
          if (v >= 0) {
            ours = true;
            neededVolumes[v] = true;
          }
        }
        const add: object[] = [];
        for (let m = 0; m < this.mounts.length; m++) {
          if (taken[m] || volumeState[this.volumeOfMount[m]] === 'foreign') continue;
          add.push(this.volumeMounts[m]);
          neededVolumes[this.volumeOfMount[m]] = true;
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
    visit(initContainers, 'initContainers');
    visit(containers, 'containers');

    // Plain literals, not a spread of an optional part: one object shape on the admission path.
    const planWarnings = warnings.length > 0 ? warnings : undefined;
    if (coveredContainers === 0) return { patch: [], injectedContainers: 0, coveredContainers: 0, warnings: planWarnings };

    const newVolumes: object[] = [];
    for (let v = 0; v < this.volumes.length; v++) {
      if (neededVolumes[v] && volumeState[v] === 'absent') newVolumes.push(this.volumes[v]);
    }
    if (newVolumes.length > 0) {
      if (volumes === undefined) patch.push({ op: 'add', path: '/spec/volumes', value: newVolumes.length === this.volumes.length ? this.allVolumes : newVolumes });
      else for (const v of newVolumes) patch.push({ op: 'add', path: '/spec/volumes/-', value: v });
    }

    const annotations = meta?.annotations;
    const marker = this.marker;
    if (!isRecord(annotations)) {
      if (meta === undefined) patch.push({ op: 'add', path: '/metadata', value: { annotations: { [INJECTED_ANNOTATION]: marker } } });
      else patch.push({ op: 'add', path: '/metadata/annotations', value: { [INJECTED_ANNOTATION]: marker } });
    } else if (annotations[INJECTED_ANNOTATION] !== marker) {
      // `add` on an existing member replaces it (RFC 6902 4.1).
      patch.push({ op: 'add', path: ANNOTATION_PATH, value: marker });
    }
    return { patch, injectedContainers, coveredContainers, warnings: planWarnings };
  }

  /** True when the pod would get mounts that it does not have yet (used by the reconciler). */
  needsInjection(pod: PodLike, namespace?: string): boolean {
    return this.plan(pod, namespace).injectedContainers > 0;
  }

  /** Index into `volumes` of a volume this configuration adds; -1 for any other name. */
  private indexOfVolume(name: string): number {
    for (let v = 0; v < this.volumes.length; v++) if (this.volumes[v].name === name) return v;
    return -1;
  }

  private indexOfPath(mountPath: string): number {
    for (let m = 0; m < this.mounts.length; m++) if (this.mounts[m].mountPath === mountPath) return m;
    return -1;
  }
}

const OS_LABEL = 'kubernetes.io/os';

/** Pinned to Windows nodes: by spec.os, by nodeSelector, or by a required node affinity every term of which demands Windows. */
export function isWindows(pod: PodLike): boolean {
  const spec = isRecord(pod.spec) ? pod.spec : undefined;
  const os = isRecord(spec?.os) ? spec.os.name : undefined;
  if (typeof os === 'string' && os.toLowerCase() === 'windows') return true;
  const sel = isRecord(spec?.nodeSelector) ? spec.nodeSelector[OS_LABEL] : undefined;
  if (typeof sel === 'string' && sel.toLowerCase() === 'windows') return true;
  const affinity = isRecord(spec?.affinity) ? spec.affinity.nodeAffinity : undefined;
  const required = isRecord(affinity) ? affinity.requiredDuringSchedulingIgnoredDuringExecution : undefined;
  const terms = isRecord(required) ? asArray(required.nodeSelectorTerms) : undefined;
  // Terms are alternatives: the pod is pinned only when every one of them requires Windows.
  return terms !== undefined && terms.length > 0 && terms.every(termRequiresWindows);
}

function termRequiresWindows(term: unknown): boolean {
  const expressions = isRecord(term) ? asArray(term.matchExpressions) : undefined;
  // Expressions of one term must all hold: one that admits only Windows pins the term.
  return (expressions ?? []).some((e) => {
    if (!isRecord(e) || e.key !== OS_LABEL) return false;
    const values = asArray(e.values) ?? [];
    const named = values.filter((v): v is string => typeof v === 'string').map((v) => v.toLowerCase());
    return e.operator === 'In' && named.length > 0 && named.every((v) => v === 'windows');
  });
}

/** Container names to leave alone; a value longer than Kubernetes allows excludes everything (validation rejects the pod anyway). */
function excludedContainers(value: unknown): { has(name: string): boolean } {
  if (typeof value !== 'string' || value === '') return new Set();
  if (value.length > MAX_ANNOTATIONS_BYTES) return { has: () => true };
  return new Set(value.split(',').map((s) => s.trim()).filter(Boolean));
}

/** A volume this configuration adds: its name and one source (`hostPath` or `csi`). */
type PodVolume = { readonly name: string; readonly [source: string]: unknown };

/** What the pod's own volume list holds under one of our volume names: ours (an earlier pass) only with the same source. */
function volumeStateOf(volumes: readonly unknown[] | undefined, ours: PodVolume): 'absent' | 'ours' | 'foreign' {
  const v = volumes?.find((x) => isRecord(x) && x.name === ours.name);
  if (v === undefined) return 'absent';
  const sourceKey = Object.keys(ours).find((k) => k !== 'name') ?? '';
  const want = ours[sourceKey];
  const src = isRecord(v) ? v[sourceKey] : undefined;
  const keys = isRecord(v) ? Object.keys(v) : [];
  const same = keys.length === 2 && keys.includes(sourceKey) && isRecord(src) && isRecord(want) && Object.entries(want).every(([k, val]) => src[k] === val);
  return same ? 'ours' : 'foreign';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Kubernetes compares mount paths textually; a trailing slash still names the same file. */
function normalizeMountPath(p: string): string {
  const collapsed = p.replace(/\/+/g, '/');
  return collapsed.length > 1 ? collapsed.replace(/\/$/, '') : collapsed;
}

function asArray(v: unknown): readonly unknown[] | undefined {
  return Array.isArray(v) ? v : undefined;
}
