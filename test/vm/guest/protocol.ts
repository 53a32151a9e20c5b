/**
 * What the guest and the host say to each other. The host writes a GuestConfig
 * into the initramfs; the guest prints one line per event on its serial console,
 * `@@lxcfs-kit-vm <kind> <json>`, which the host parses out of the console
 * stream (kernel messages may sit between them). Node built-ins only: this file
 * runs inside the VM.
 */
export const MARKER = '@@lxcfs-kit-vm';

/** Scenarios the guest driver knows, in the order it runs them. */
export const SCENARIOS = ['view', 'kill', 'down-start', 'handover'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export type CgroupMode = 'v1' | 'v2';

export interface GuestConfig {
  /** The reference pod's runc config (webhook-mutated mounts, limits), without args and cgroupsPath. */
  readonly containerSpec: Record<string, unknown>;
  readonly lxcfsPath: string;
  readonly files: readonly string[];
  /** The compiled `lxcfs-kit` CLI inside the guest. */
  readonly cli: string;
  readonly helper: string;
  readonly rootfs: string;
}

/** The eight files as a reader sees them: file → content (or `ERROR: ...` when the read failed). */
export type FileTexts = Record<string, string>;

export interface ViewEvent {
  /** Which moment of the scenario (e.g. `reference`, `after kill 1`). */
  readonly label: string;
  readonly container: string;
  readonly files: FileTexts;
  /** Seconds since the container's `runc run` returned, taken after the read: an upper bound of its age. */
  readonly containerAgeSeconds: number;
}

export interface GuestEvents {
  booted: { kernel: string; cgroup: CgroupMode; lxcfs: string; scenarios: Scenario[] };
  /** The VM's own files, read outside any container: what a reader would see without lxcfs. */
  machine: { files: FileTexts };
  view: ViewEvent;
  /** A read that must fail (lxcfs down, nothing healing yet): proves the scenario's failure is real. */
  broken: { container: string; meminfo: string };
  heal: { round: number; oldLxcfsPid: number; newLxcfsPid: number; reconcileFailed: number; healed: number; seconds: number };
  handover: { rounds: number; reads: number; failedReads: number; failures: string[]; oldExitCodes: (number | null)[] };
  downStart: { directoriesSeen: string[]; waitedSeconds: number };
  log: { text: string };
  error: { scenario: string; message: string; agentLog: string };
  done: { seconds: number };
}

export type GuestEventKind = keyof GuestEvents;

export interface GuestEvent<K extends GuestEventKind = GuestEventKind> {
  readonly kind: K;
  readonly data: GuestEvents[K];
}

/** The event a console line carries, or undefined for any other line. */
export function parseEventLine(line: string): GuestEvent | undefined {
  const at = line.indexOf(MARKER + ' ');
  if (at < 0) return undefined;
  const rest = line.slice(at + MARKER.length + 1);
  const space = rest.indexOf(' ');
  if (space < 0) return undefined;
  try {
    return { kind: rest.slice(0, space) as GuestEventKind, data: JSON.parse(rest.slice(space + 1)) as GuestEvents[GuestEventKind] };
  } catch {
    return undefined;
  }
}
