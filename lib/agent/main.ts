/** `lxcfs-kit agent`: parse the command line, check the machine, run the agent until SIGTERM. */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { DEFAULT_LXCFS_FILES } from '../contract';
import { parseFlags, usageText, UsageError } from '../flags';
import { injectionProblems } from '../injection';
import { LineLog, Logger, LogSink } from '../log';
import { Agent, AgentConfig } from './agent';
import { AGENT_FLAGS, AgentFlags } from './flags';
import { lxcfsSupportsPidfd } from './lxcfs';

const SUMMARY =
  'Run and supervise lxcfs on this node, mounted at --lxcfs-path, and re-attach a fresh lxcfs file over every stale ' +
  'lxcfs mount in every container after any lxcfs restart; a new agent takes over from a running one without a gap. ' +
  'Needs root (CAP_SYS_ADMIN), /dev/fuse, the host PID namespace and the native mount helper (--helper).';

/** The agent's log (lib/log.ts shape; its CSI plugin's lines too); every line names the agent process, as handovers run two at once. */
export function agentLogger(sink: LogSink): Logger {
  return new Logger(sink, 'agent', 'info', { pid: process.pid });
}

export async function runAgent(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usageText('agent', SUMMARY, AGENT_FLAGS)}\n`);
    return;
  }
  const flags = readAgentCommandLine(argv);
  // A container restart keeps its /tmp volume: a ready file from the previous run must not say ready.
  if (flags['ready-file'] !== '') fs.rmSync(flags['ready-file'], { force: true });
  const logger = agentLogger(process.stderr);
  const config = agentConfig(flags, (msg, fields, level = 'info') => logger.log(level, msg, fields));
  const agent = new Agent(config);
  const onSignal = (sig: NodeJS.Signals): void => {
    config.log(`${sig} received; stopping`);
    agent.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Loaded only with --csi: node:http2 costs every other agent a few MiB of RSS.
  const csi = flags.csi ? await (await import('../csi/agent-wiring')).startCsi(flags, config) : undefined;
  try {
    await agent.run();
  } finally {
    await csi?.close();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

/**
 * The command line as the agent reads it, judged before it touches the machine: every
 * UsageError a command line alone can cause (the options property tests run the manifests' args through it).
 */
export function readAgentCommandLine(argv: readonly string[]): AgentFlags {
  const flags = parseFlags(AGENT_FLAGS, argv);
  checkAgentFlags(flags);
  return flags;
}

function checkAgentFlags(flags: AgentFlags): void {
  const problems = injectionProblems(flags['lxcfs-path'], DEFAULT_LXCFS_FILES);
  if (problems.length > 0) throw new UsageError(problems.join('; '));
  if (!path.isAbsolute(flags['state-dir'])) throw new UsageError(`--state-dir must be an absolute path, got "${flags['state-dir']}"`);
}

/** Validates flags and the machine; every problem becomes one clear message. */
export function agentConfig(flags: AgentFlags, log: LineLog): AgentConfig {
  checkAgentFlags(flags);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('the agent must run as root (it mounts lxcfs and enters containers\' mount namespaces)');
  }
  if (!fs.existsSync('/dev/fuse')) throw new Error('/dev/fuse is missing: load the fuse module (modprobe fuse) or give the agent container the device');
  try {
    fs.accessSync(flags.helper, fs.constants.X_OK);
  } catch {
    throw new Error(`the native mount helper ${flags.helper} is missing or not executable; build it with: cc -O2 -o ${flags.helper} lib/agent/native/lxcfs-kit-remount.c`);
  }
  const version = spawnSync(flags['lxcfs-binary'], ['--version'], { encoding: 'utf8' });
  if (version.error) throw new Error(`cannot run lxcfs (${flags['lxcfs-binary']}): ${version.error.message}; install lxcfs or pass --lxcfs-binary`);

  const args = [...flags['lxcfs-arg']];
  const wantPidfd = flags.pidfd === 'always' || (flags.pidfd === 'auto' && lxcfsSupportsPidfd(flags['lxcfs-binary']));
  if (wantPidfd && !args.includes('--enable-pidfd')) args.push('--enable-pidfd');

  ensureDirectory(flags['lxcfs-path']);
  fs.mkdirSync(flags['state-dir'], { recursive: true, mode: 0o700 });
  const stateDir = fs.realpathSync(flags['state-dir']);
  const scopeSource = flags['heal-scope'] === 'state-dir' ? `lxcfs-kit-${stateDirTag(stateDir)}` : undefined;
  // subtype keeps the filesystem type fuse.lxcfs, which is how every tool recognises lxcfs mounts.
  if (scopeSource) args.push('-o', `fsname=${scopeSource},subtype=lxcfs`);
  return {
    // mountinfo shows resolved paths; compare against the same.
    lxcfsPath: resolvedPath(flags['lxcfs-path']),
    lxcfsBinary: flags['lxcfs-binary'],
    lxcfsArgs: args,
    helperPath: path.resolve(flags.helper),
    stateDir,
    scopeSource,
    reconcileIntervalMs: flags['reconcile-interval'] * 1000,
    restartBurst: flags['restart-burst'],
    healthAddress: flags['health-address'],
    healthPort: flags['health-port'],
    readyFile: flags['ready-file'] === '' ? undefined : flags['ready-file'],
    cgroupNamespace: hostCgroupNamespace(log),
    log,
  };
}

/**
 * lxcfs answers each reader from the reader's /proc/<pid>/cgroup, which the
 * kernel writes relative to the *reading* process's cgroup namespace. In a
 * private cgroup namespace (the Kubernetes default on cgroup v2) lxcfs would
 * resolve wrong paths, so it is started in the host's (pid 1's) namespace.
 */
function hostCgroupNamespace(log: LineLog): string | undefined {
  let host: string;
  let own: string;
  try {
    host = fs.readlinkSync('/proc/1/ns/cgroup');
    own = fs.readlinkSync('/proc/self/ns/cgroup');
  } catch {
    return undefined;
  }
  if (host === own) return undefined;
  log(`the agent runs in cgroup namespace ${own}; lxcfs is started in the host's (${host}) so it reads readers' cgroups as the host sees them`);
  return '/proc/1/ns/cgroup';
}

/*
 * The lxcfs path may already hold an lxcfs mount, dead or hung (an lxcfs frozen before the agent
 * restarted). Nothing here may ask that mount anything — a stat of a hung FUSE root never returns —
 * so the path is only ever looked at from its parent directory: listed, created, resolved.
 */
function ensureDirectory(dir: string): void {
  const abs = path.resolve(dir);
  const parent = path.dirname(abs);
  fs.mkdirSync(parent, { recursive: true });
  if (!fs.readdirSync(parent).includes(path.basename(abs))) fs.mkdirSync(abs);
}

/** mountinfo shows symlink-free paths: resolve the parent, and the path itself only if it is a symlink. */
function resolvedPath(p: string, depth = 0): string {
  const abs = path.resolve(p);
  const full = path.join(fs.realpathSync(path.dirname(abs)), path.basename(abs));
  let link: string;
  try {
    // readlink never asks a mount's filesystem about its root: EINVAL for a directory or mount.
    link = fs.readlinkSync(full);
  } catch {
    return full;
  }
  if (depth >= 40) throw new Error(`--lxcfs-path ${p}: too many levels of symbolic links`);
  return resolvedPath(path.resolve(path.dirname(full), link), depth + 1);
}

/** A short stable tag for a state dir. crypto is loaded only here: it costs ~2 MiB of RSS on every node. */
function stateDirTag(stateDir: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createHash } = require('crypto') as typeof import('crypto');
  return createHash('sha256').update(stateDir).digest('hex').slice(0, 12);
}
