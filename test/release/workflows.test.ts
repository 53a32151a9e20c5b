/**
 * The GitHub Actions workflows, parsed and checked: CI runs exactly the
 * README's test command (as root, for the end-to-end suites); the release runs
 * only on version tags, refuses a tag that is not package.json's version
 * (the gate script is executed here for real), and publishes the images the
 * constructs reference, the chart and the npm package with provenance.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { stringify } from 'yaml';
import { AGENT_IMAGE, HELPER_IMAGE_PATH, IMAGE_REGISTRY, VERSION, WEBHOOK_IMAGE } from '../../lib/contract';
import { parseDockerfile } from './dockerfile-model';
import { fencedBlocks, packageJson, readRepoFile, repoPath, ROOT } from './repo';
import { allUses, evaluate, job, needsOf, readWorkflow, Step, stepsUsing } from './workflow-model';

const ci = readWorkflow('ci.yml');
const release = readWorkflow('release.yml');

/** The test command the README gives in "The two commands". */
function readmeTestCommand(): string {
  const readme = readRepoFile('README.md');
  const start = readme.indexOf('## The two commands');
  expect(start).toBeGreaterThanOrEqual(0);
  const block = fencedBlocks(readme.slice(start))[0];
  const lines = (block?.body ?? '').split('\n').filter((l) => l.trim() !== '');
  const testLine = lines.find((l) => /#.*\btests?\b/.test(l));
  expect(testLine).toBeDefined();
  return (testLine as string).split('#')[0]?.trim();
}

/** The shell lines a step runs, with `bash .ci/run` expanded to that script's lines. */
function commandLines(step: Step): string[] {
  const own = (step.run ?? '').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  return own.flatMap((line) =>
    /(^|\s)(bash\s+)?\.ci\/run\b/.test(line)
      ? [line, ...readRepoFile('.ci', 'run').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))]
      : [line],
  );
}

describe('ci.yml', () => {
  test('runs on pull requests and on pushes to main, and can be called by the release', () => {
    expect(Object.keys(ci.on)).toEqual(expect.arrayContaining(['pull_request', 'push', 'workflow_call']));
    expect((ci.on['push'] as { branches: string[] }).branches).toEqual(['main']);
  });

  test("runs the README's test command, as root (the end-to-end suites need it)", () => {
    const command = readmeTestCommand();
    expect(command).toBe('npm test');
    expect(packageJson().scripts['test']).toBeDefined();
    const runners = Object.values(ci.jobs).flatMap((j) => (j.steps ?? []).filter((s) => commandLines(s).includes(command)));
    expect(runners.length).toBe(1);
    const step = runners[0];
    expect(step.run).toMatch(/^sudo\b/);
    // .ci/run ends with the test command: nothing after it can turn a failure into a pass.
    const ciRun = readRepoFile('.ci', 'run').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    if (/\.ci\/run/.test(step.run ?? '')) {
      expect(ciRun[ciRun.length - 1]).toBe(command);
      expect(ciRun).toContain('set -euo pipefail');
    }
  });

  test('CI=true is set for the test job, so missing end-to-end prerequisites fail instead of skipping', () => {
    const testJob = Object.values(ci.jobs).find((j) => (j.steps ?? []).some((s) => /\.ci\/run/.test(s.run ?? '')));
    expect(testJob?.env?.['CI']).toBe('true');
    const step = (testJob?.steps ?? []).find((s) => /\.ci\/run/.test(s.run ?? ''));
    expect(step?.run).toMatch(/--preserve-env=[^\s]*\bCI\b/);
  });

  test('builds both image targets for real (the only place images are built)', () => {
    const images = job(ci, 'images');
    const targets = images.strategy?.matrix?.['target'] ?? [];
    const dockerfile = parseDockerfile(readRepoFile('Dockerfile'));
    for (const t of targets) expect(dockerfile.stages.map((s) => s.name)).toContain(t);
    expect([...targets].sort()).toEqual(['agent', 'webhook']);
    const build = stepsUsing(images, 'docker/build-push-action')[0];
    expect(build?.with?.['push']).toBe(false);
    expect(build?.with?.['target']).toBe('${{ matrix.target }}');
    // The smoke runs check what the manifests rely on: the version, the webhook's user, the helper.
    const smoke = (images.steps ?? []).map((st) => st.run ?? '').join('\n');
    expect(smoke).toContain('--version');
    expect(smoke).toContain(`-u)" = ${(/^USER (\d+)/m.exec(readRepoFile('Dockerfile')) ?? [])[1]}`);
    expect(smoke).toContain(`test -x ${HELPER_IMAGE_PATH}`);
  });
});

describe('release.yml', () => {
  test('runs only on v* tags', () => {
    expect(Object.keys(release.on)).toEqual(['push']);
    expect(release.on['push']).toEqual({ tags: ['v*'] });
  });

  test('publishes nothing before the version gate and the full test workflow pass', () => {
    const gateAndTests = new Set(['version', 'test']);
    expect(job(release, 'test').uses).toBe('./.github/workflows/ci.yml');
    const publishing = ['images', 'chart', 'npm'];
    const closure = (id: string): Set<string> => {
      const out = new Set<string>();
      const visit = (j: string): void => {
        for (const n of needsOf(job(release, j))) {
          if (!out.has(n)) {
            out.add(n);
            visit(n);
          }
        }
      };
      visit(id);
      return out;
    };
    for (const id of publishing) {
      for (const required of gateAndTests) expect({ id, needs: closure(id).has(required) }).toEqual({ id, needs: true });
    }
    // The chart points at the images, so the images exist before the chart is pushed.
    expect(closure('chart').has('images')).toBe(true);
    expect(closure('npm').has('chart')).toBe(true);
  });

  test('pushes multi-arch images under exactly the names and tags the constructs reference', () => {
    expect(release.env?.['IMAGE_REGISTRY']).toBe(IMAGE_REGISTRY);
    const images = job(release, 'images');
    expect(images.permissions?.['packages']).toBe('write');
    const build = stepsUsing(images, 'docker/build-push-action')[0];
    expect(build).toBeDefined();
    const platforms = String(build?.with?.['platforms']).split(',').map((p) => p.trim());
    expect(platforms.sort()).toEqual(['linux/amd64', 'linux/arm64']);
    expect(build?.with?.['push']).toBe(true);
    expect(stepsUsing(images, 'docker/setup-qemu-action')).toHaveLength(1);
    const pushed = (images.strategy?.matrix?.['target'] ?? []).map((target) =>
      evaluate(String(build?.with?.['tags']), { env: release.env, matrix: { target }, needs: { version: { outputs: { version: VERSION } } } }),
    );
    expect(pushed.sort()).toEqual([AGENT_IMAGE, WEBHOOK_IMAGE].sort());
    const buildArgs = evaluate(String(build?.with?.['build-args']), {
      needs: { version: { outputs: { version: VERSION } } },
      github: { sha: 'abc123' },
    });
    expect(buildArgs.split('\n')).toEqual(expect.arrayContaining([`VERSION=${VERSION}`, 'REVISION=abc123']));
  });

  test('pushes the chart as an OCI artifact to the repository the README installs from', () => {
    const chart = job(release, 'chart');
    expect(chart.permissions?.['packages']).toBe('write');
    const script = (chart.steps ?? []).map((s) => s.run ?? '').join('\n');
    expect(script).toMatch(/helm package charts\/lxcfs-kit\b/);
    expect(script).toMatch(/helm push "\.chart\/lxcfs-kit-\$\{VERSION\}\.tgz" "\$CHART_REPOSITORY"/);
    expect(release.env?.['CHART_REPOSITORY']).toBe(`oci://${IMAGE_REGISTRY}/charts`);
    expect(stepsUsing(chart, 'azure/setup-helm')).toHaveLength(1);
  });

  test('publishes the npm package with provenance (id-token: write)', () => {
    const npm = job(release, 'npm');
    expect(npm.permissions?.['id-token']).toBe('write');
    const setup = stepsUsing(npm, 'actions/setup-node')[0];
    expect(setup?.with?.['registry-url']).toBe('https://registry.npmjs.org');
    const lines = (npm.steps ?? []).flatMap(commandLines);
    expect(lines).toEqual(expect.arrayContaining(['npm ci --no-audit --no-fund', 'npm run build']));
    expect(lines.some((l) => /^npm publish\b.*--provenance\b/.test(l))).toBe(true);
    expect(lines.indexOf('npm run build')).toBeLessThan(lines.findIndex((l) => l.startsWith('npm publish')));
  });

  test('the workflow token is read-only unless a job needs more', () => {
    expect(release.permissions).toEqual({ contents: 'read' });
    expect(ci.permissions).toEqual({ contents: 'read' });
  });
});

describe('both workflows', () => {
  test("pass GitHub's own workflow parser (schema, expressions, contexts, needs, reusable-workflow inputs)", () => {
    const files = ['ci.yml', 'release.yml'].map((f) => path.join('.github', 'workflows', f));
    const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', repoPath('test', 'release', 'lint-workflows.ts'), ...files], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, TS_NODE_PROJECT: repoPath('tsconfig.json') },
      timeout: 60_000,
    });
    const report = JSON.parse(out) as Record<string, string[]>;
    expect(Object.keys(report).sort()).toEqual([...files].sort());
    expect(report).toEqual(Object.fromEntries(files.map((f) => [f, []])));
  });

  test('pin every action to a full version (or commit), never a branch or a major tag', () => {
    const uses = [...allUses(ci), ...allUses(release)];
    expect(uses.length).toBeGreaterThan(5);
    for (const ref of uses.filter((u) => !u.startsWith('./'))) {
      expect({ ref, pinned: /@(v\d+\.\d+\.\d+|[0-9a-f]{40})$/.test(ref) }).toEqual({ ref, pinned: true });
    }
  });

  test('every job only needs jobs that exist', () => {
    for (const wf of [ci, release]) {
      for (const [id, j] of Object.entries(wf.jobs)) {
        for (const n of needsOf(j)) expect({ id, need: n, exists: n in wf.jobs }).toEqual({ id, need: n, exists: true });
      }
    }
  });

  test('use the Node version the images are built on', () => {
    const dockerNode = parseDockerfile(readRepoFile('Dockerfile')).globalArgs['NODE_VERSION'];
    expect(ci.env?.['NODE_VERSION']).toBe(dockerNode);
    expect(release.env?.['NODE_VERSION']).toBe(dockerNode);
  });
});

describe('release version gate (the workflow step, executed)', () => {
  const gateStep = (): Step => {
    const step = (job(release, 'version').steps ?? []).find((s) => s.id === 'check');
    expect(step?.run).toMatch(/release-version\.ts "\$GITHUB_REF_NAME" >> "\$GITHUB_OUTPUT"/);
    return step as Step;
  };

  /** A checkout with consistent version files, in a temporary directory. */
  function fixtureCheckout(version: string, edit: (dir: string) => void = () => undefined): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-release-'));
    fs.mkdirSync(path.join(dir, '.github', 'scripts'), { recursive: true });
    fs.copyFileSync(repoPath('.github', 'scripts', 'release-version.ts'), path.join(dir, '.github', 'scripts', 'release-version.ts'));
    fs.copyFileSync(repoPath('tsconfig.json'), path.join(dir, 'tsconfig.json'));
    fs.symlinkSync(repoPath('node_modules'), path.join(dir, 'node_modules'));
    const pkg = { ...packageJson(), version, repository: { type: 'git', url: 'git+https://github.com/lxcfs-kit/lxcfs-kit.git' } };
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg, null, 2));
    fs.mkdirSync(path.join(dir, 'charts', 'lxcfs-kit'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'charts', 'lxcfs-kit', 'Chart.yaml'), stringify({ apiVersion: 'v2', name: 'lxcfs-kit', version, appVersion: version }));
    fs.writeFileSync(
      path.join(dir, 'charts', 'lxcfs-kit', 'values.yaml'),
      stringify({ agent: { image: { repository: `${IMAGE_REGISTRY}/agent`, tag: '' } }, webhook: { image: { repository: `${IMAGE_REGISTRY}/webhook`, tag: version } } }),
    );
    fs.mkdirSync(path.join(dir, 'dist'));
    fs.writeFileSync(
      path.join(dir, 'dist', 'lxcfs-kit.k8s.yaml'),
      [
        stringify({ apiVersion: 'apps/v1', kind: 'DaemonSet', spec: { template: { spec: { containers: [{ name: 'agent', image: `${IMAGE_REGISTRY}/agent:${version}` }] } } } }),
        stringify({ apiVersion: 'apps/v1', kind: 'Deployment', spec: { template: { spec: { containers: [{ name: 'webhook', image: `${IMAGE_REGISTRY}/webhook:${version}` }] } } } }),
      ].join('---\n'),
    );
    edit(dir);
    return dir;
  }

  function runGate(dir: string, tag: string): { status: number | null; output: string; stderr: string } {
    const outputFile = path.join(dir, 'github-output');
    fs.writeFileSync(outputFile, '');
    const result = spawnSync('bash', ['-e', '-c', gateStep().run as string], {
      cwd: dir,
      env: { ...process.env, GITHUB_REF_NAME: tag, GITHUB_OUTPUT: outputFile, PATH: `${repoPath('node_modules', '.bin')}:${process.env['PATH'] ?? ''}` },
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { status: result.status, output: fs.readFileSync(outputFile, 'utf8'), stderr: result.stderr };
  }

  const cleanup: string[] = [];
  afterAll(() => {
    for (const d of cleanup) fs.rmSync(d, { recursive: true, force: true });
  });

  test('a tag naming package.json\'s version passes and hands the version to later jobs', () => {
    const dir = fixtureCheckout('1.4.2');
    cleanup.push(dir);
    const r = runGate(dir, 'v1.4.2');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.output).toBe('version=1.4.2\n');
  });

  test('a tag that is not package.json\'s version is refused with the fix', () => {
    const dir = fixtureCheckout('1.4.2');
    cleanup.push(dir);
    const r = runGate(dir, 'v1.4.3');
    expect(r.status).toBe(1);
    expect(r.output).toBe('');
    expect(r.stderr).toContain('git tag "v1.4.3" does not match package.json version 1.4.2');
  });

  test('a chart or manifest not regenerated after a version bump is refused', () => {
    const dir = fixtureCheckout('2.0.0', (d) => {
      const chartFile = path.join(d, 'charts', 'lxcfs-kit', 'Chart.yaml');
      fs.writeFileSync(chartFile, fs.readFileSync(chartFile, 'utf8').replace('appVersion: 2.0.0', 'appVersion: 1.9.0'));
      const manifests = path.join(d, 'dist', 'lxcfs-kit.k8s.yaml');
      fs.writeFileSync(manifests, fs.readFileSync(manifests, 'utf8').replace('webhook:2.0.0', 'webhook:1.9.0'));
    });
    cleanup.push(dir);
    const r = runGate(dir, 'v2.0.0');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('Chart.yaml appVersion is 1.9.0, package.json says 2.0.0');
    expect(r.stderr).toContain(`uses image ${IMAGE_REGISTRY}/webhook:1.9.0, expected tag 2.0.0`);
  });

  test('a package.json without "repository" is refused (npm provenance needs it)', () => {
    const dir = fixtureCheckout('1.0.0', (d) => {
      const file = path.join(d, 'package.json');
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
      delete pkg['repository'];
      fs.writeFileSync(file, JSON.stringify(pkg));
    });
    cleanup.push(dir);
    const r = runGate(dir, 'v1.0.0');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('package.json has no "repository"');
  });

  test('the gate script type-checks under the project\'s strict settings', () => {
    const tsc = repoPath('node_modules', 'typescript', 'bin', 'tsc');
    execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--esModuleInterop', '--skipLibCheck', '--types', 'node', '--target', 'ES2022', '--module', 'commonjs', '--moduleResolution', 'node', repoPath('.github', 'scripts', 'release-version.ts')], {
      cwd: ROOT,
      stdio: 'pipe',
    });
  });
});
