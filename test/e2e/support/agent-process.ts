/** The real `lxcfs-kit agent` as a separate process, the way a node runs it. */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { REPO_ROOT } from './build';
import { AGENT_NODE_FLAGS, AGENT_NODE_OPTIONS } from '../../../lib/contract';

/** node's flags as the agent image gives them (NODE_OPTIONS, then its entrypoint): agents under test run as shipped. */
export const AGENT_IMAGE_NODE_FLAGS: readonly string[] = [...AGENT_NODE_OPTIONS.split(' '), ...AGENT_NODE_FLAGS];

export interface AgentOptions {
  readonly lxcfsPath: string;
  readonly stateDir: string;
  readonly helper: string;
  readonly logFile: string;
  readonly extraArgs?: readonly string[];
  /** Run compiled JavaScript (bench: RSS without the TypeScript compiler) instead of ts-node. */
  readonly compiledCli?: string;
  /** V8/Node flags for the agent process (as the image's command line sets them). */
  readonly nodeFlags?: readonly string[];
  /** A command that execs the agent (e.g. `unshare -m` to give it its own mount namespace, as its container has). */
  readonly wrapper?: readonly string[];
}

/** One line of the agent's log: the fixed keys of lib/log.ts, then the line's fields. */
export interface AgentLogEntry {
  readonly time: string;
  readonly level: string;
  readonly msg: string;
  readonly component: 'agent';
  readonly [field: string]: unknown;
}

export interface AgentStatus {
  pid: number;
  ready: boolean;
  readyProblem: string | null;
  serving: boolean;
  superseded: boolean;
  lxcfsPid: number | null;
  lxcfsDevice: string | null;
  lxcfsServingSince: number | null;
  restarts: number;
  /** Delay before the last lxcfs start (above 0 in a crash loop), and short runs in a row. */
  restartDelayMs: number;
  crashStreak: number;
  /** The FUSE source name of this agent's lxcfs (its heal scope with --heal-scope=state-dir). */
  lxcfsSource: string | null;
  reconciles: number;
  lastReconcile: {
    healed: number;
    failed: number;
    namespaces: number;
    seconds: number;
    /** Container mounts on the agent's lxcfs it knows without a scan. */
    indexed: number;
    /** `fromIndex`: mounts re-attached from that index after a restart of lxcfs, before any scan. */
    phases: { fromIndex: number; indexMs: number; scanMs: number; attachMs: number };
  } | null;
  /** process.memoryUsage() in MiB, and V8's malloc peak (`v8MallocPeak`). */
  memoryMiB?: Record<string, number>;
}

export class AgentProcess {
  private port = 0;
  readonly exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly opts: AgentOptions,
  ) {
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  static start(opts: AgentOptions): AgentProcess {
    const args = [
      'agent',
      `--lxcfs-path=${opts.lxcfsPath}`,
      `--state-dir=${opts.stateDir}`,
      `--helper=${opts.helper}`,
      '--health-address=127.0.0.1',
      '--health-port=0',
      ...(opts.extraArgs ?? []),
    ];
    const nodeArgs = opts.compiledCli ? [...(opts.nodeFlags ?? AGENT_IMAGE_NODE_FLAGS), opts.compiledCli, ...args] : ['-r', 'ts-node/register/transpile-only', path.join(REPO_ROOT, 'lib/cli.ts'), ...args];
    const log = fs.openSync(opts.logFile, 'a');
    // Transpiled code lives outside the repo; NODE_PATH lets it find the repo's node_modules.
    const env = { ...process.env, NODE_PATH: path.join(REPO_ROOT, 'node_modules') };
    const [command, ...prefix] = [...(opts.wrapper ?? []), process.execPath];
    const child = spawn(command, [...prefix, ...nodeArgs], { cwd: REPO_ROOT, env, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    return new AgentProcess(child, opts);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The agent's own lines (lxcfs's output left out), as written, for failure messages. */
  logTail(lines = 30): string {
    try {
      const text = fs.readFileSync(this.opts.logFile, 'utf8');
      return text.split('\n').filter((l) => !l.includes('"source":"lxcfs"')).slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /**
   * Every line of the log file as the JSON object the agent writes (lib/log.ts); throws on the
   * first line that is not one, so a test reading the log also proves its shape.
   */
  logEntries(): AgentLogEntry[] {
    const text = fs.existsSync(this.opts.logFile) ? fs.readFileSync(this.opts.logFile, 'utf8') : '';
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((line, i) => {
        let entry: unknown;
        try {
          entry = JSON.parse(line);
        } catch {
          throw new Error(`agent log line ${i + 1} is not JSON: ${line}`);
        }
        const e = entry as Partial<AgentLogEntry> | null;
        if (e === null || typeof e !== 'object' || typeof e.time !== 'string' || typeof e.level !== 'string' || typeof e.msg !== 'string' || e.component !== 'agent') {
          throw new Error(`agent log line ${i + 1} lacks time, level, msg or component "agent": ${line}`);
        }
        return e as AgentLogEntry;
      });
  }

  private async discoverPort(): Promise<number> {
    if (this.port) return this.port;
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`agent exited before serving health:\n${this.logTail()}`);
      const text = fs.existsSync(this.opts.logFile) ? fs.readFileSync(this.opts.logFile, 'utf8') : '';
      // The log file may hold earlier agents' lines; take this process's line (listen lines carry no pid, so take the last).
      const matches = [...text.matchAll(/health and metrics on http:\/\/127\.0\.0\.1:(\d+)/g)];
      const last = matches[matches.length - 1];
      if (last && (await this.statusAt(Number(last[1])))?.pid === this.pid) {
        this.port = Number(last[1]);
        return this.port;
      }
      await sleep(50);
    }
    throw new Error(`agent did not start its health server:\n${this.logTail()}`);
  }

  private statusAt(port: number): Promise<AgentStatus | undefined> {
    return get(port, '/status').then(
      (r) => (r.code === 200 ? (JSON.parse(r.body) as AgentStatus) : undefined),
      () => undefined,
    );
  }

  async status(): Promise<AgentStatus> {
    const s = await this.statusAt(await this.discoverPort());
    if (!s) throw new Error('agent /status did not answer');
    return s;
  }

  async http(pathName: string): Promise<{ code: number; body: string }> {
    return get(await this.discoverPort(), pathName);
  }

  /** Waits until /readyz answers 200. */
  async waitReady(timeoutMs = 90_000): Promise<AgentStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const port = await this.discoverPort();
      const r = await get(port, '/readyz').catch(() => ({ code: 0, body: '' }));
      if (r.code === 200) return this.status();
      if (Date.now() > deadline) throw new Error(`agent not ready after ${timeoutMs} ms (${r.body.trim()}):\n${this.logTail()}`);
      await sleep(25);
    }
  }

  /** Waits until `pred` holds for /status. */
  async waitStatus(pred: (s: AgentStatus) => boolean, what: string, timeoutMs = 90_000): Promise<AgentStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.status().catch(() => undefined);
      if (s && pred(s)) return s;
      if (Date.now() > deadline) throw new Error(`agent: ${what} not reached within ${timeoutMs} ms:\n${this.logTail()}`);
      await sleep(20);
    }
  }

  /** SIGTERM, as kubelet stops a pod; resolves with the exit code. */
  async stop(timeoutMs = 20000): Promise<number | null> {
    if (!this.running) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  /** SIGKILL of the agent: its lxcfs dies with it (as when the agent's pod is killed). */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

export function get(port: number, pathName: string): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathName, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether a process exists (for "lxcfs died with its agent"). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
