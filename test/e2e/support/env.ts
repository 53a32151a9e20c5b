/**
 * One end-to-end environment per suite: its own temp directory, lxcfs path,
 * state dir, runc state and cgroup parent, so suites can run in parallel;
 * cleanup removes every container, agent, lxcfs process and mount it made.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DEFAULT_LXCFS_FILES } from '../../../lib/contract';
import { lxcfsFileMounts, LxcfsFileMount } from '../../../lib/injection';
import { AgentOptions, AgentProcess, sleep } from './agent-process';
import { buildHelper, transpileLib } from './build';
import { makeBusyboxRootfs, Runc } from './runc';

/** Suites run in parallel on one host: each agent heals only its own suite's containers. */
export const E2E_AGENT_ARGS: readonly string[] = ['--reconcile-interval=5', '--heal-scope=state-dir'];

export class E2EEnv {
  readonly dir: string;
  readonly lxcfsPath: string;
  readonly stateDir: string;
  readonly helper: string;
  readonly cli: string;
  readonly runc: Runc;
  readonly agents: AgentProcess[] = [];
  private agentCount = 0;

  constructor(readonly name: string) {
    this.dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), `lxcfs-kit-e2e-${name}-`)));
    this.lxcfsPath = path.join(this.dir, 'lxcfs');
    this.stateDir = path.join(this.dir, 'state');
    fs.mkdirSync(this.lxcfsPath);
    this.helper = buildHelper(this.dir);
    this.cli = transpileLib(path.join(this.dir, 'build'));
    const rootfs = makeBusyboxRootfs(path.join(this.dir, 'rootfs'));
    this.runc = new Runc({
      stateRoot: path.join(this.dir, 'runc'),
      bundlesDir: path.join(this.dir, 'bundles'),
      rootfs,
      cgroupParent: `lxcfs-kit-e2e-${name}-${process.pid}`,
      lxcfsPath: this.lxcfsPath,
    });
  }

  get fileMounts(): LxcfsFileMount[] {
    return lxcfsFileMounts(this.lxcfsPath, DEFAULT_LXCFS_FILES);
  }

  startAgent(extra: Partial<AgentOptions> = {}): AgentProcess {
    const agent = AgentProcess.start({
      lxcfsPath: this.lxcfsPath,
      stateDir: this.stateDir,
      helper: this.helper,
      logFile: path.join(this.dir, `agent-${++this.agentCount}.log`),
      extraArgs: E2E_AGENT_ARGS,
      compiledCli: this.cli,
      ...extra,
    });
    this.agents.push(agent);
    return agent;
  }

  /** fuse.lxcfs mounts in this process's mount namespace under this environment's directory. */
  hostLxcfsMounts(): string[] {
    return fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.includes(' - fuse.lxcfs ') && l.split(' ')[4]?.startsWith(this.dir));
  }

  /** lxcfs processes started for this environment (their command line names its directory). */
  lxcfsPids(): number[] {
    const pids: number[] = [];
    for (const p of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
        if (path.basename(argv[0]) === 'lxcfs' && argv.some((a) => a.startsWith(this.dir))) pids.push(Number(p));
      } catch {
        // exited
      }
    }
    return pids;
  }

  async cleanup(): Promise<void> {
    for (const a of this.agents) await a.stop(5000).catch(() => undefined);
    // E2E_KEEP_LOGS=dir keeps every agent's log for a post-mortem.
    const keep = process.env.E2E_KEEP_LOGS;
    if (keep) {
      const dest = path.join(keep, path.basename(this.dir));
      fs.mkdirSync(dest, { recursive: true });
      for (const f of fs.readdirSync(this.dir)) if (f.endsWith('.log')) fs.copyFileSync(path.join(this.dir, f), path.join(dest, f));
    }
    await this.runc.cleanup();
    for (const pid of this.lxcfsPids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await sleep(100);
    for (let i = 0; i < 20; i++) {
      const mounts = this.hostLxcfsMounts();
      if (mounts.length === 0) break;
      for (const line of mounts) {
        try {
          execFileSync('umount', ['-l', line.split(' ')[4]], { stdio: 'ignore' });
        } catch {
          // already gone
        }
      }
    }
    const left = this.hostLxcfsMounts();
    // Never delete recursively through a mount.
    if (left.length === 0) fs.rmSync(this.dir, { recursive: true, force: true });
    else process.stderr.write(`e2e cleanup: ${left.length} lxcfs mounts remain under ${this.dir}; left it in place\n`);
  }
}
