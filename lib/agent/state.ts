/**
 * Host-wide state shared by the agents of one node (the old and the new one
 * during a rolling update): who is serving, and a lock so that only one agent
 * re-attaches mounts at a time.
 */
import * as fs from 'fs';
import * as path from 'path';

export interface ServingRecord {
  readonly pid: number;
  /** Instance id of the serving agent's lxcfs (one per lxcfs start). */
  readonly instance: string;
  /** `major:minor` of that lxcfs; mounts on it are taken over by a successor. */
  readonly device: string;
  /** Its FUSE source name; with the device, what identifies its mounts (device numbers are reused). */
  readonly source: string;
  readonly lxcfsPath: string;
  readonly since: string;
  /**
   * False while the serving agent is still re-attaching mounts to its lxcfs after a takeover;
   * true once none is left. The predecessor keeps its lxcfs running until then. (Absent in
   * records of agents that predate it: treated as true.)
   */
  readonly attached?: boolean;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class NodeState {
  constructor(readonly dir: string) {}

  get instancesDir(): string {
    return path.join(this.dir, 'instances');
  }

  private get servingFile(): string {
    return path.join(this.dir, 'serving.json');
  }

  private get lockFile(): string {
    return path.join(this.dir, 'reconcile.lock');
  }

  private get agentsDir(): string {
    return path.join(this.dir, 'agents');
  }

  ensure(): void {
    fs.mkdirSync(this.instancesDir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(this.agentsDir, { recursive: true, mode: 0o700 });
  }

  /** Announces this agent at once, so an old agent told to stop knows a successor is coming. */
  registerAgent(startedAt: number): void {
    // Written aside and renamed into place: an old agent reading a half-written announcement
    // would take it for no successor at all (its dot name is no pid, so readers skip it).
    const aside = path.join(this.agentsDir, `.${process.pid}.tmp`);
    fs.writeFileSync(aside, String(startedAt));
    fs.renameSync(aside, path.join(this.agentsDir, String(process.pid)));
  }

  unregisterAgent(): void {
    fs.rmSync(path.join(this.agentsDir, String(process.pid)), { force: true });
  }

  /** Live agents on this node other than this one, with their start times; files of dead ones are removed. */
  otherAgents(): { pid: number; startedAt: number }[] {
    const out: { pid: number; startedAt: number }[] = [];
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.agentsDir);
    } catch {
      return out;
    }
    for (const name of names) {
      const pid = Number(name);
      if (!Number.isInteger(pid) || pid === process.pid) continue;
      if (!processAlive(pid)) {
        fs.rmSync(path.join(this.agentsDir, name), { force: true });
        continue;
      }
      out.push({ pid, startedAt: Number(readTextOr(path.join(this.agentsDir, name), '0')) });
    }
    return out;
  }

  readServing(): ServingRecord | undefined {
    try {
      const rec = JSON.parse(fs.readFileSync(this.servingFile, 'utf8')) as ServingRecord;
      return typeof rec.pid === 'number' && typeof rec.instance === 'string' ? rec : undefined;
    } catch {
      return undefined;
    }
  }

  writeServing(rec: ServingRecord): void {
    const tmp = `${this.servingFile}.${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(rec));
    fs.renameSync(tmp, this.servingFile);
  }

  clearServing(instance: string): void {
    if (this.readServing()?.instance === instance) fs.rmSync(this.servingFile, { force: true });
  }

  /**
   * Runs `fn` holding the node's reconcile lock. A lock whose holder died is
   * broken; a live holder is waited for (it finishes a pass in about a second).
   */
  async withLock<T>(fn: () => Promise<T>, timeoutMs = 15000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        fs.writeFileSync(this.lockFile, String(process.pid), { flag: 'wx' });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const holder = readHolder(this.lockFile);
        if (holder === 'gone') continue;
        // An empty file is a holder between create and write, unless it is old (holder died right there).
        const stale = holder === 'empty' ? Date.now() - mtimeMs(this.lockFile) > 2000 : !processAlive(holder) || holder === process.pid;
        if (stale) {
          fs.rmSync(this.lockFile, { force: true });
          continue;
        }
        if (Date.now() > deadline) throw new Error(`reconcile lock ${this.lockFile} is held by process ${String(holder)} for more than ${timeoutMs / 1000}s`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    try {
      return await fn();
    } finally {
      try {
        if (fs.readFileSync(this.lockFile, 'utf8') === String(process.pid)) fs.rmSync(this.lockFile, { force: true });
      } catch {
        // already gone
      }
    }
  }
}

function readHolder(file: string): number | 'empty' | 'gone' {
  try {
    const text = fs.readFileSync(file, 'utf8').trim();
    const pid = Number(text);
    return text === '' || !Number.isInteger(pid) ? 'empty' : pid;
  } catch {
    return 'gone';
  }
}

function mtimeMs(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function readTextOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return fallback;
  }
}
