/**
 * Runs inside the VM as PID 1's child: starts the real agent (in a private
 * cgroup namespace on cgroup v2, as a Kubernetes pod is), starts the reference
 * pod's container with runc, and reports on the serial console what that
 * container reads and how the agent heals it. The host judges; this program
 * only measures. Node built-ins only (the initramfs carries no node_modules).
 */
import { ChildProcess, execFile, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { createInterface } from 'readline';
import { CgroupMode, FileTexts, GuestConfig, GuestEvents, MARKER, Scenario, SCENARIOS } from './protocol';

const config = JSON.parse(fs.readFileSync('/opt/vm/config.json', 'utf8')) as GuestConfig;
const RUNC_ROOT = '/run/runc';
const STATE_DIR = '/run/lxcfs-kit';
const BUNDLES = '/run/bundles';
const t0 = Date.now();

function emit<K extends keyof GuestEvents>(kind: K, data: GuestEvents[K]): void {
  process.stdout.write(`${MARKER} ${kind} ${JSON.stringify(data)}\n`);
}

function cmdlineArg(name: string): string {
  const word = fs.readFileSync('/proc/cmdline', 'utf8').trim().split(/\s+/).find((w) => w.startsWith(`${name}=`));
  return word ? word.slice(name.length + 1) : '';
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs a command to its end; never rejects (a failure is a non-zero code with stderr or the error's message). */
function run(cmd: string, args: string[], timeoutMs = 60000): Promise<{ code: number; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const exitCode = (err as { code?: unknown } | null)?.code;
      const code = err ? (typeof exitCode === 'number' ? exitCode : 1) : 0;
      const timedOut = (err as { killed?: boolean } | null)?.killed === true;
      resolve({ code, stdout, stderr: stderr || (err ? err.message : ''), timedOut });
    });
  });
}

/** Polls `probe` (whose errors count as "not yet") until it yields a value; `hopeless` ends the wait early. */
async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, hopeless?: () => string | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reason = hopeless?.();
    if (reason) throw new Error(`${what}: ${reason}`);
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

interface AgentStatus {
  pid: number;
  ready: boolean;
  lxcfsPid: number | null;
  reconciles: number;
  lastReconcile: { healed: number; failed: number; seconds: number } | null;
}

class Agent {
  private static count = 0;
  readonly logFile: string;
  readonly port: number;
  readonly exited: Promise<number | null>;
  private child: ChildProcess;

  constructor(readonly cgroup: CgroupMode) {
    const n = ++Agent.count;
    this.port = 9478 + n;
    this.logFile = `/tmp/agent-${n}.log`;
    const args = [
      config.cli,
      'agent',
      `--lxcfs-path=${config.lxcfsPath}`,
      `--state-dir=${STATE_DIR}`,
      `--helper=${config.helper}`,
      '--health-address=127.0.0.1',
      `--health-port=${this.port}`,
      '--reconcile-interval=5',
    ];
    const log = fs.openSync(this.logFile, 'a');
    if (cgroup === 'v2') {
      // As a pod on a cgroup v2 node: its own cgroup, and a private cgroup namespace rooted there.
      const cg = `/sys/fs/cgroup/lxcfs-kit-agent-${n}`;
      fs.mkdirSync(cg, { recursive: true });
      // Absolute path: busybox's sh would otherwise run its own unshare applet, which has no --cgroup.
      const script = `echo $$ > ${cg}/cgroup.procs && exec /usr/bin/unshare --cgroup node "$@"`;
      this.child = spawn('sh', ['-c', script, 'agent', ...args], { stdio: ['ignore', log, log] });
    } else {
      // Kubernetes on cgroup v1 leaves pods in the host's cgroup namespace.
      this.child = spawn('node', args, { stdio: ['ignore', log, log] });
    }
    fs.closeSync(log);
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  logTail(lines = 40): string {
    try {
      return fs.readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  async get(pathName: string): Promise<{ code: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: this.port, path: pathName, timeout: 10000 }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    });
  }

  async status(): Promise<AgentStatus> {
    return JSON.parse((await this.get('/status')).body) as AgentStatus;
  }

  /** Under TCG node starts in seconds, so the window is wide; it counts from the agent's start. */
  async waitReady(timeoutMs = 180000): Promise<AgentStatus> {
    let exited = false;
    void this.exited.then(() => (exited = true));
    return waitFor(
      'agent ready',
      timeoutMs,
      async () => ((await this.get('/readyz')).code === 200 ? this.status() : undefined),
      () => (exited ? 'the agent exited first' : undefined),
    );
  }

  async stop(): Promise<number | null> {
    this.child.kill('SIGTERM');
    return this.exited;
  }

  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

class Container {
  constructor(
    readonly id: string,
    readonly initPid: number,
    readonly runcProcess: ChildProcess,
    /** Taken before `runc run` was started: the container is younger than this says, however slow the start. */
    readonly startedAt: number,
  ) {}

  /** Reads every file whole (a byte-wise shell read costs one lxcfs round trip per byte under TCG). */
  async readFiles(): Promise<FileTexts> {
    // grep, not cat: busybox's cat copies with sendfile, which stops at the size the kernel cached for the
    // FUSE file and cuts lxcfs's answers short; grep read()s to the end as applications do (exit 1: empty file).
    const script = config.files.map((f) => `echo '@@F ${f}'; grep '' ${f} 2>&1; [ $? -le 1 ] || echo '@@ERR'`).join('; ');
    // The bound only catches a hang: under software emulation on a busy host one exec can take minutes.
    const r = await run('runc', ['--root', RUNC_ROOT, 'exec', this.id, 'sh', '-c', script], 600000);
    // Output cut short by the bound would read as wrong files; say what happened instead.
    if (r.timedOut) throw new Error(`reading the files in ${this.id} did not finish within 600 s`);
    const files: FileTexts = {};
    let current = '';
    for (const line of r.stdout.split('\n')) {
      if (line.startsWith('@@F ')) {
        current = line.slice(4);
        files[current] = '';
      } else if (line === '@@ERR') {
        files[current] = `ERROR: ${files[current].trim()}`;
      } else if (current) {
        files[current] += `${line}\n`;
      }
    }
    if (r.code !== 0 && Object.keys(files).length === 0) throw new Error(`runc exec ${this.id} failed: ${r.stderr}`);
    return files;
  }

  async view(label: string): Promise<void> {
    const files = await this.readFiles();
    emit('view', { label, container: this.id, files, containerAgeSeconds: (Date.now() - this.startedAt) / 1000 });
  }
}

async function startContainer(cgroup: CgroupMode, id: string, script: string, output?: (line: string) => void): Promise<Container> {
  const bundle = path.join(BUNDLES, id);
  fs.mkdirSync(bundle, { recursive: true });
  const spec = JSON.parse(JSON.stringify(config.containerSpec)) as {
    process: { args: string[] };
    hostname: string;
    linux: { cgroupsPath?: string; namespaces: { type: string }[] };
  };
  spec.process.args = ['/bin/sh', '-c', script];
  spec.hostname = id;
  spec.linux.cgroupsPath = `/kubepods/${id}`;
  // containerd gives every container a private cgroup namespace on cgroup v2 (none on v1).
  if (cgroup === 'v2') spec.linux.namespaces.push({ type: 'cgroup' });
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  const pidFile = path.join(bundle, 'init.pid');
  const requestedAt = Date.now();
  const child = spawn('runc', ['--root', RUNC_ROOT, 'run', '-d', '--pid-file', pidFile, '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    if (output) createInterface({ input: stream }).on('line', output);
    else stream.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  }
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  if (code !== 0) throw new Error(`runc run ${id} failed (exit ${String(code)}): ${stderr.trim()}`);
  return new Container(id, Number(fs.readFileSync(pidFile, 'utf8')), child, requestedAt);
}

function machineFiles(): FileTexts {
  const files: FileTexts = {};
  for (const f of config.files) {
    try {
      files[f] = fs.readFileSync(f, 'utf8');
    } catch (err) {
      files[f] = `ERROR: ${(err as Error).message}`;
    }
  }
  return files;
}

/** The lxcfs host files are regular files again: what kubelet waits for before it starts a pod with hostPath type File. */
function hostFilesReady(seenAsDirectory: Set<string>): boolean {
  let ready = true;
  for (const f of config.files) {
    const hostPath = path.join(config.lxcfsPath, f);
    try {
      const st = fs.statSync(hostPath);
      if (st.isDirectory()) seenAsDirectory.add(hostPath);
      if (!st.isFile()) ready = false;
    } catch {
      ready = false;
    }
  }
  return ready;
}

/** A reader loop for the handover: whole-file reads (head, grep) ~10 times a second; prints failures and progress. */
const READER = `
n=0
while :; do
  n=$((n+1))
  if m=$(head -n1 /proc/meminfo 2>&1) && c=$(grep -c ^processor /proc/cpuinfo 2>&1); then
    case "$m" in *" 1048576 kB") ;; *) echo "F $n meminfo:$m" ;; esac
    [ "$c" = 1 ] || echo "F $n processors:$c"
  else
    echo "F $n unreadable:$m$c"
  fi
  [ $((n % 5)) = 0 ] && echo "C $n"
  usleep 100000
done
`;

async function main(): Promise<void> {
  const cgroup: CgroupMode = cmdlineArg('lxcfs_kit.cgroup') === 'v1' ? 'v1' : 'v2';
  const wanted = cmdlineArg('lxcfs_kit.scenarios').split(',');
  const scenarios = SCENARIOS.filter((s) => wanted.includes(s));
  const version = await run('lxcfs', ['--version']);
  const lxcfsVersion = `${version.stdout}${version.stderr}`.replace(/"/g, '').trim();
  emit('booted', { kernel: fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(), cgroup, lxcfs: lxcfsVersion, scenarios });
  emit('machine', { files: machineFiles() });
  fs.mkdirSync(RUNC_ROOT, { recursive: true });

  let agent = new Agent(cgroup);
  let current: Scenario | 'setup' = 'setup';
  try {
    await agent.waitReady();
    const ref = await startContainer(cgroup, 'reference', 'exec sleep 1000000');
    for (const scenario of scenarios) {
      current = scenario;
      if (scenario === 'view') await ref.view('reference');
      if (scenario === 'kill') {
        for (let round = 1; round <= 2; round++) {
          const before = await agent.status();
          if (before.lxcfsPid === null) throw new Error('the agent reports no lxcfs');
          const killedAt = Date.now();
          process.kill(before.lxcfsPid, 'SIGKILL');
          const after = await waitFor('a new lxcfs and a clean reconcile after the kill', 180000, async () => {
            const s = await agent.status();
            return s.ready && s.lxcfsPid !== null && s.lxcfsPid !== before.lxcfsPid && s.reconciles > before.reconciles && s.lastReconcile?.failed === 0 ? s : undefined;
          });
          emit('heal', {
            round,
            oldLxcfsPid: before.lxcfsPid,
            newLxcfsPid: after.lxcfsPid ?? -1,
            reconcileFailed: after.lastReconcile?.failed ?? -1,
            healed: after.lastReconcile?.healed ?? -1,
            seconds: (Date.now() - killedAt) / 1000,
          });
          await ref.view(`after kill ${round}`);
        }
      }
      if (scenario === 'down-start') {
        // The agent's pod dies with its lxcfs: every mount is stale and nothing heals.
        await agent.kill();
        const broken = await run('runc', ['--root', RUNC_ROOT, 'exec', ref.id, 'cat', '/proc/meminfo']);
        emit('broken', { container: ref.id, meminfo: `${broken.stdout}${broken.stderr}`.trim().slice(0, 300) });
        // kubelet starts a new pod while lxcfs is down; its hostPath File volumes hold it until lxcfs is back.
        const seen = new Set<string>();
        const waitStart = Date.now();
        agent = new Agent(cgroup);
        await waitFor('the lxcfs host files to be regular files again', 180000, () => Promise.resolve(hostFilesReady(seen) ? true : undefined));
        const late = await startContainer(cgroup, 'started-while-down', 'exec sleep 1000000');
        emit('downStart', { directoriesSeen: [...seen], waitedSeconds: (Date.now() - waitStart) / 1000 });
        await agent.waitReady();
        await late.view('started while lxcfs was down');
        // The running container is healed by the new agent's first reconcile.
        await waitFor('the reference container healed', 180000, async () => ((await agent.status()).lastReconcile?.failed === 0 ? true : undefined));
        await ref.view('after the agent came back');
      }
      if (scenario === 'handover') {
        const lines: string[] = [];
        let reads = 0;
        await startContainer(cgroup, 'reader', READER, (line) => {
          if (line.startsWith('C ')) reads = Number(line.slice(2));
          else if (line.trim() !== '') lines.push(line);
        });
        const advance = async (): Promise<void> => {
          const from = reads;
          await waitFor('the reader to make progress', 120000, () => Promise.resolve(reads > from + 1 ? true : undefined));
        };
        await advance();
        const oldExitCodes: (number | null)[] = [];
        const rounds = 2;
        for (let i = 0; i < rounds; i++) {
          const next = new Agent(cgroup);
          await next.waitReady();
          oldExitCodes.push(await agent.stop());
          agent = next;
          await advance();
        }
        emit('handover', { rounds, reads, failedReads: lines.filter((l) => l.startsWith('F ')).length, failures: lines.slice(0, 20), oldExitCodes });
      }
    }
  } catch (err) {
    emit('error', { scenario: current, message: (err as Error).stack ?? String(err), agentLog: agent.logTail() });
  }
  emit('done', { seconds: (Date.now() - t0) / 1000 });
  await agent.kill().catch(() => undefined);
  // Containers' output pipes would keep the event loop alive; the guest powers off next.
  process.exit(0);
}

main().catch((err: unknown) => {
  emit('error', { scenario: 'driver', message: String((err as Error).stack ?? err), agentLog: '' });
  process.exitCode = 1;
});
