#!/usr/bin/env node
/**
 * `lxcfs-kit <command>`: one binary for both images. Commands load lazily so the
 * webhook image never loads agent code and the reverse.
 */
import { VERSION } from './contract';
import { UsageError } from './flags';
import { Component, logLine } from './log';

interface Command {
  readonly summary: string;
  /** Long-running binaries log JSON lines (lib/log.ts), their fatal errors too; the others write text. */
  readonly logsAs?: Component;
  readonly load: () => Promise<(argv: string[]) => Promise<void | number>>;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  webhook: {
    logsAs: 'webhook',
    summary: 'serve the mutating admission webhook (HTTPS), certificates and repair reconciler',
    load: async () => (await import('./webhook/main')).runWebhook,
  },
  agent: {
    logsAs: 'agent',
    summary: 'run and supervise lxcfs on this node and heal stale lxcfs mounts in every container',
    load: async () => (await import('./agent/main')).runAgent,
  },
  doctor: {
    summary: 'check an install with your kubeconfig and say what is wrong and what to do (exit 1 when something is)',
    load: async () => (await import('./doctor/main')).runDoctor,
  },
};

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)}${c.summary}`);
  return [`lxcfs-kit ${VERSION}`, '', 'Usage: lxcfs-kit <command> [flags]   (lxcfs-kit <command> --help for its flags)', '', 'Commands:', ...rows].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${usage()}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const entry = COMMANDS[command];
  if (!entry) {
    process.stderr.write(`lxcfs-kit: unknown command "${command}"\n\n${usage()}\n`);
    return 2;
  }
  try {
    const run = await entry.load();
    // A command that judges something (doctor) returns its exit status.
    const code = await run(rest);
    return typeof code === 'number' ? code : 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`lxcfs-kit ${command}: ${err.message}\nRun "lxcfs-kit ${command} --help" for the flags.\n`);
      return 2;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(entry.logsAs ? logLine('error', message, entry.logsAs, {}) : `lxcfs-kit ${command}: ${message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code !== 0) process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`lxcfs-kit: ${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
