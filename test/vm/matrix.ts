/**
 * `npm run test:vm-matrix`: boots one VM per lxcfs build × cgroup version (and
 * kernel) and prints, as a Markdown table, what each of the eight lxcfs files
 * shows the reference pod (limits cpu 0.5, memory 1024Mi), with ✓ where that
 * is the truth and ✗ where it is not. The README's table is this output.
 *
 *   npm run test:vm-matrix                          # every fetched lxcfs; v2 on kernel 6.12, v1 on 6.1
 *   npm run test:vm-matrix -- --v2-kernel=6.1 --cgroups=v2 --lxcfs=6.0.4 --scenarios=view,kill
 *
 * cgroup v1 boots kernel 6.1: Debian's 6.12 cloud kernel is built without
 * CONFIG_MEMCG_V1 and CONFIG_CPUSETS_V1, so it has no v1 memory or cpuset controller.
 */
import { parseArgs } from 'util';
import { CgroupMode, Scenario, SCENARIOS } from './guest/protocol';
import { lxcfsBuilds } from './support/assets';
import { missingVmPrerequisites } from './support/prereqs';
import { cleanupVmRuns, runVm, VmRun } from './support/run';
import { FileVerdict } from './support/view';

interface Column {
  readonly title: string;
  readonly verdicts?: FileVerdict[];
  readonly problem?: string;
  readonly run?: VmRun;
}

function list(value: string | undefined, fallback: string[]): string[] {
  return value ? value.split(',').map((s) => s.trim()).filter(Boolean) : fallback;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'v2-kernel': { type: 'string' }, 'v1-kernel': { type: 'string' }, cgroups: { type: 'string' }, lxcfs: { type: 'string' }, scenarios: { type: 'string' } },
  });
  const kernelFor: Record<CgroupMode, string> = { v2: values['v2-kernel'] ?? '6.12', v1: values['v1-kernel'] ?? '6.1' };
  const cgroups = list(values.cgroups, ['v1', 'v2']) as CgroupMode[];
  const versions = list(values.lxcfs, lxcfsBuilds().map((b) => b.version));
  const scenarios = list(values.scenarios, ['view']).filter((s): s is Scenario => (SCENARIOS as readonly string[]).includes(s));
  if (!scenarios.includes('view')) scenarios.unshift('view');
  const missing = missingVmPrerequisites({ kernels: cgroups.map((c) => kernelFor[c]), lxcfs: versions });
  if (missing.length > 0) throw new Error(`missing prerequisites: ${missing.join(', ')}`);

  const columns: Column[] = [];
  for (const version of versions) {
    for (const cgroup of cgroups) {
      const kernel = kernelFor[cgroup];
      const title = `${version}, ${cgroup} (${kernel})`;
      process.stderr.write(`booting kernel ${kernel}, lxcfs ${version}, cgroup ${cgroup}: ${scenarios.join(', ')}\n`);
      try {
        const run = await runVm({ kernel, lxcfs: version, cgroup, scenarios, verbose: true });
        const problem = run.errors.join('\n') || undefined;
        columns.push({ title, run, problem, verdicts: run.view('reference') ? run.verdicts('reference') : undefined });
        process.stderr.write(`  boot ${run.bootSeconds.toFixed(1)} s, whole run ${run.totalSeconds.toFixed(1)} s\n`);
      } catch (err) {
        columns.push({ title, problem: (err as Error).message.split('\n')[0] });
      }
    }
  }

  const files = columns.find((c) => c.verdicts)?.verdicts?.map((v) => v.file) ?? [];
  const out: string[] = [];
  out.push(`| file (reference pod: cpu 0.5, memory 1024Mi) | ${columns.map((c) => `lxcfs ${c.title}`).join(' | ')} | machine (2 CPUs, 3 GiB) |`);
  out.push(`|---|${columns.map(() => '---').join('|')}|---|`);
  for (const file of files) {
    const cells = columns.map((c) => {
      const v = c.verdicts?.find((x) => x.file === file);
      return v ? `${v.shows} ${v.truthful ? '✓' : '✗'}` : '✗ no container (see below)';
    });
    const machine = columns.find((c) => c.verdicts)?.verdicts?.find((x) => x.file === file)?.machine ?? '';
    out.push(`| \`${file}\` | ${cells.join(' | ')} | ${machine} |`);
  }
  out.push(`| **truthful** | ${columns.map((c) => (c.verdicts?.every((v) => v.truthful) ? '**yes**' : '**no**')).join(' | ')} | |`);
  if (scenarios.includes('kill')) {
    out.push(`| kill -9 lxcfs ×2, healed | ${columns.map((c) => healCell(c)).join(' | ')} | |`);
  }
  process.stdout.write(`\n${out.join('\n')}\n\n`);
  for (const c of columns) {
    if (c.problem) process.stdout.write(`lxcfs ${c.title}: ${c.problem}\n`);
    if (c.run) process.stdout.write(`lxcfs ${c.title}: ${c.run.kernel.packageName} ${c.run.kernel.version}, ${c.run.lxcfs.packageName} (${c.run.lxcfs.suite}), booted in ${c.run.bootSeconds.toFixed(1)} s\n`);
  }
}

function healCell(c: Column): string {
  const heals = c.run?.all('heal') ?? [];
  const views = ['after kill 1', 'after kill 2'].map((l) => (c.run?.view(l) ? c.run.verdicts(l).every((v) => v.truthful) : false));
  if (heals.length < 2) return 'no';
  return `${heals.map((h) => `${h.seconds.toFixed(1)} s`).join(', ')} ${views.every(Boolean) ? '✓' : '✗ view wrong after heal'}`;
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  })
  .finally(cleanupVmRuns);
