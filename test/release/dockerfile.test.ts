/**
 * The image recipe, checked statically: these machines have no Docker engine,
 * so the CI workflow is where the images are really built. What can run here
 * does run here: the native helper is compiled with the Dockerfile's own
 * command, and the TypeScript build's output path is computed by the compiler.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { validate, ValidationSeverity } from 'dockerfile-utils';
import * as ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import {
  AGENT_HEALTH_PORT,
  AGENT_NODE_FLAGS,
  HELPER_IMAGE_PATH,
  WEBHOOK_HTTPS_PORT,
  WEBHOOK_METRICS_PORT,
} from '../../lib/contract';
import {
  ancestry,
  contextIncludes,
  copyParts,
  effective,
  execForm,
  labels,
  parseDockerfile,
  Stage,
  stage,
  substitute,
} from './dockerfile-model';
import { walkImports } from './import-graph';
import { appPackageJson, packageJson, readRepoFile, repoPath, ROOT } from './repo';

const dockerfile = parseDockerfile(readRepoFile('Dockerfile'));
const dockerignore = readRepoFile('.dockerignore');
const TARGETS = ['agent', 'webhook'] as const;

interface LockedPackage {
  readonly hasInstallScript?: boolean;
  readonly cpu?: readonly string[];
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly optionalDependencies?: Readonly<Record<string, string>>;
  readonly peerDependencies?: Readonly<Record<string, string>>;
}

/** package-lock keys (`node_modules/a/node_modules/b`) reachable from the given ones, resolved as Node does. */
function lockClosure(packages: Readonly<Record<string, LockedPackage>>, start: readonly string[]): string[] {
  const seen = new Set<string>();
  const queue = start.filter((k) => packages[k] !== undefined);
  while (queue.length > 0) {
    const key = queue.pop() as string;
    if (seen.has(key)) continue;
    seen.add(key);
    const p = packages[key];
    for (const dep of Object.keys({ ...p.dependencies, ...p.optionalDependencies, ...p.peerDependencies })) {
      let base = key;
      for (;;) {
        const candidate = `${base}/node_modules/${dep}`;
        if (packages[candidate] !== undefined) {
          queue.push(candidate);
          break;
        }
        const cut = base.lastIndexOf('/node_modules/');
        if (cut < 0) {
          if (packages[`node_modules/${dep}`] !== undefined) queue.push(`node_modules/${dep}`);
          break;
        }
        base = base.slice(0, cut);
      }
    }
  }
  return [...seen];
}

function runs(s: Stage): string[] {
  return s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
}

function stageArgs(s: Stage): Record<string, string> {
  const values: Record<string, string> = { ...dockerfile.globalArgs };
  for (const i of s.instructions.filter((x) => x.keyword === 'ARG')) {
    const eq = i.args.indexOf('=');
    if (eq >= 0) values[i.args.slice(0, eq).trim()] = i.args.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return values;
}

describe('Dockerfile (static checks; no Docker engine on these machines)', () => {
  test('passes the Dockerfile validator of the VS Code Docker language service (every rule an error)', () => {
    const strict = ValidationSeverity.ERROR;
    const lint = (text: string): string[] =>
      validate(text, {
        deprecatedMaintainer: strict,
        directiveCasing: strict,
        emptyContinuationLine: strict,
        instructionCasing: strict,
        instructionCmdMultiple: strict,
        instructionEntrypointMultiple: strict,
        instructionHealthcheckMultiple: strict,
        instructionJSONInSingleQuotes: strict,
        instructionWorkdirRelative: strict,
      }).map((d) => `line ${d.range.start.line + 1}: ${typeof d.message === 'string' ? d.message : d.message.value}`);
    expect(lint(readRepoFile('Dockerfile'))).toEqual([]);
    // The validator does find mistakes of the kind a hand edit makes.
    expect(lint('FROM node:20.20.2-bookworm-slim AS x\nCOPY --frm=y /a /b\nWORKDIR app\nEXPOSE http\n').length).toBeGreaterThanOrEqual(3);
  });

  test('has the two targets the workflows build: agent and webhook', () => {
    const names = dockerfile.stages.map((s) => s.name);
    for (const target of TARGETS) expect(names).toContain(target);
  });

  test('every base image is pinned to an explicit version tag, never latest or untagged', () => {
    const stageNames = new Set(dockerfile.stages.map((s) => s.name));
    const external = dockerfile.stages.filter((s) => !stageNames.has(s.base));
    expect(external.length).toBeGreaterThan(0);
    for (const s of external) {
      const ref = s.base;
      expect(ref).not.toMatch(/\$/); // every ARG in FROM resolved to a default
      const digest = ref.includes('@sha256:');
      const tag = /:([^/@]+)$/.exec(ref.split('@')[0])?.[1];
      expect({ ref, tagged: digest || tag !== undefined }).toEqual({ ref, tagged: true });
      if (tag !== undefined) {
        expect(tag).not.toBe('latest');
        // A version, not a moving name such as "slim" or "bookworm" alone.
        expect({ ref, versioned: /\d+\.\d+/.test(tag) }).toEqual({ ref, versioned: true });
      }
    }
  });

  test('stages that compile native code use the same base image as the runtime stages (same glibc)', () => {
    const runtimeBase = ancestry(dockerfile, 'agent').slice(-1)[0];
    for (const name of ['lxcfs-build', 'helper-build']) {
      expect(stage(dockerfile, name).base).toBe(runtimeBase.base);
    }
  });

  test('lxcfs is 6.0.x LTS, 6.0.6 or later, built from the upstream release tarball with meson and fuse3', () => {
    const version = dockerfile.globalArgs['LXCFS_VERSION'] ?? '';
    const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(version);
    expect(m).not.toBeNull();
    const [major, minor, patch] = (m as RegExpExecArray).slice(1).map(Number);
    expect([major, minor]).toEqual([6, 0]); // 7.x drops cgroup v1 and hybrid hosts
    expect(patch).toBeGreaterThanOrEqual(6); // 6.0.6 fixes the cgroup-v2 CPU count in /proc/stat

    const build = stage(dockerfile, 'lxcfs-build');
    const script = runs(build).map((r) => substitute(r, stageArgs(build))).join('\n');
    expect(script).toContain(`https://linuxcontainers.org/downloads/lxcfs/lxcfs-${version}.tar.gz`);
    expect(script).toMatch(/libfuse3-dev/);
    expect(script).toMatch(/meson setup/);
    expect(script).toMatch(/meson install/);
    // The download is checked when a digest is pinned, and its digest is printed when not.
    expect(script).toMatch(/sha256sum -c/);
  });

  test('webhook: non-root numeric user, only Node, the build output and production dependencies', () => {
    const user = effective(dockerfile, 'webhook', 'USER');
    expect(user).toBeDefined();
    const [uid, gid] = (user?.args ?? '').split(':');
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThan(0);
    if (gid !== undefined) expect(Number(gid)).toBeGreaterThan(0);

    const chain = ancestry(dockerfile, 'webhook');
    const copiedFrom = chain.flatMap((s) =>
      s.instructions.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD').map((i) => copyParts(i.args).flags['from']),
    );
    expect(copiedFrom).toEqual(['node-build']);
    // No packages installed on top of the Node base: no lxcfs, no fuse, no compiler.
    expect(chain.flatMap(runs).join('\n')).not.toMatch(/apt-get install/);
    // npm prune --omit=dev happens in the stage the webhook copies from.
    expect(runs(stage(dockerfile, 'node-build')).join('\n')).toMatch(/npm prune --omit=dev/);
  });

  test('the generated webhook Deployment runs as the image\'s user (runAsNonRoot can verify it)', () => {
    const [uid] = (effective(dockerfile, 'webhook', 'USER')?.args ?? '').split(':');
    const deployment = parseAllDocuments(readRepoFile('dist', 'lxcfs-kit.k8s.yaml'))
      .map((d) => d.toJS() as { kind?: string; spec?: { template?: { spec?: { securityContext?: { runAsUser?: number; runAsNonRoot?: boolean } } } } })
      .find((o) => o?.kind === 'Deployment');
    const podSecurity = deployment?.spec?.template?.spec?.securityContext;
    expect(podSecurity?.runAsNonRoot).toBe(true);
    expect(String(podSecurity?.runAsUser)).toBe(uid);
  });

  test('agent: lxcfs, the fuse3 runtime and the helper at the path the agent expects', () => {
    const agent = stage(dockerfile, 'agent');
    const copies = agent.instructions.filter((i) => i.keyword === 'COPY').map((i) => copyParts(i.args));
    const fromStages = copies.map((c) => c.flags['from']);
    expect(fromStages).toEqual(expect.arrayContaining(['lxcfs-build', 'helper-build', 'node-build']));
    const helperCopy = copies.find((c) => c.flags['from'] === 'helper-build');
    expect(helperCopy?.destination).toBe(HELPER_IMAGE_PATH);
    expect(runs(agent).join('\n')).toMatch(/apt-get install[^\n]*libfuse3-3/);
    // Nothing in the recipe writes to the host: no VOLUME that would shadow a host path.
    expect(ancestry(dockerfile, 'agent').flatMap((s) => s.instructions).filter((i) => i.keyword === 'VOLUME')).toEqual([]);
  });

  test('entrypoint runs app/package.json\'s main (the image\'s /app/package.json), and each target defaults to its own CLI command', () => {
    const main = appPackageJson().main;
    expect(main).toBeDefined();
    for (const target of TARGETS) {
      const entrypoint = execForm(effective(dockerfile, target, 'ENTRYPOINT')?.args ?? 'null');
      // Node refuses V8's --optimize-for-size in NODE_OPTIONS: the agent image gives it on node's command line.
      expect(entrypoint).toEqual(['node', ...(target === 'agent' ? AGENT_NODE_FLAGS : []), path.posix.join('/app', main as string)]);
      expect(execForm(effective(dockerfile, target, 'CMD')?.args ?? 'null')).toEqual([target]);
    }
    // The image's package.json is the app workspace's, copied where its relative paths hold.
    expect(runs(stage(dockerfile, 'node-build')).join('\n')).toMatch(/cp app\/package\.json \/app\/package\.json/);
  });

  test('the TypeScript build writes the CLI where the entrypoint looks for it', () => {
    const configFile = repoPath('tsconfig.build.json');
    const parsed = ts.getParsedCommandLineOfConfigFile(configFile, {}, {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    });
    expect(parsed).toBeDefined();
    const outputs = ts.getOutputFileNames(parsed as ts.ParsedCommandLine, repoPath('lib', 'cli.ts'), false);
    const js = outputs.find((o) => o.endsWith('.js'));
    expect(path.relative(ROOT, js as string)).toBe(appPackageJson().main);
  });

  test('the build output starts the way the image entrypoint starts it (--version, both commands\' --help)', () => {
    // Same compiler settings as `npm run build`, into a scratch folder inside the checkout so
    // node_modules resolves as it does under /app in the image.
    const outDir = repoPath('.work', `build-${process.pid}`);
    try {
      const tsc = repoPath('node_modules', 'typescript', 'bin', 'tsc');
      execFileSync(process.execPath, [tsc, '-p', repoPath('tsconfig.build.json'), '--outDir', outDir, '--sourceMap', 'false', '--declaration', 'false'], { cwd: ROOT, stdio: 'pipe' });
      const cli = path.join(outDir, path.relative('build', appPackageJson().main as string));
      const run = (...args: string[]): string => execFileSync(process.execPath, [cli, ...args], { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' });
      expect(run('--version').trim()).toBe(packageJson().version);
      for (const target of TARGETS) expect(run(target, '--help')).toMatch(new RegExp(`--[a-z]`));
    } finally {
      fs.rmSync(outDir, { recursive: true, force: true });
    }
  });

  test('exposed ports are the contract ports', () => {
    const exposed = (target: string): number[] =>
      stage(dockerfile, target)
        .instructions.filter((i) => i.keyword === 'EXPOSE')
        .flatMap((i) => i.args.split(/\s+/).map((p) => Number(p.split('/')[0])));
    expect(exposed('webhook').sort()).toEqual([WEBHOOK_HTTPS_PORT, WEBHOOK_METRICS_PORT].sort());
    expect(exposed('agent')).toEqual([AGENT_HEALTH_PORT]);
  });

  test('both targets carry OCI labels, with the version and revision from build args', () => {
    for (const target of TARGETS) {
      const s = stage(dockerfile, target);
      const all = Object.assign({}, ...s.instructions.filter((i) => i.keyword === 'LABEL').map((i) => labels(i.args))) as Record<string, string>;
      for (const key of ['title', 'description', 'source', 'licenses', 'version', 'revision']) {
        expect(all[`org.opencontainers.image.${key}`]).toBeTruthy();
      }
      expect(all['org.opencontainers.image.version']).toBe('${VERSION}');
      expect(all['org.opencontainers.image.revision']).toBe('${REVISION}');
      expect(s.instructions.some((i) => i.keyword === 'ARG' && i.args.startsWith('VERSION'))).toBe(true);
    }
  });

  test('every file copied from the build context exists and is not excluded by .dockerignore', () => {
    const sources = dockerfile.stages
      .flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')
      .map((i) => copyParts(i.args))
      .filter((c) => c.flags['from'] === undefined)
      .flatMap((c) => c.sources);
    expect(sources.length).toBeGreaterThan(0);
    for (const src of sources) {
      const rel = src.replace(/\/$/, '');
      expect({ src, exists: fs.existsSync(repoPath(rel)) }).toEqual({ src, exists: true });
      expect({ src, inContext: contextIncludes(dockerignore, rel) }).toEqual({ src, inContext: true });
    }
  });

  test('.dockerignore keeps host build output, dependencies, history and tests out of the context', () => {
    for (const p of ['node_modules', 'node_modules/yaml/package.json', 'build/lib/cli.js', '.git', 'test/release/dockerfile.test.ts', 'dist', 'charts', '.work']) {
      expect({ p, inContext: contextIncludes(dockerignore, p) }).toEqual({ p, inContext: false });
    }
    for (const p of ['package.json', 'package-lock.json', 'app/package.json', 'lib/cli.ts', 'lib/agent/main.ts']) {
      expect({ p, inContext: contextIncludes(dockerignore, p) }).toEqual({ p, inContext: true });
    }
  });

  test('the CLI loads only the app workspace\'s dependencies (the image prunes devDependencies; the library has none)', () => {
    const production = new Set(Object.keys(appPackageJson().dependencies ?? {}));
    const walk = walkImports([repoPath('lib', 'cli.ts')]);
    expect(walk.unresolved).toEqual([]);
    expect(walk.files.length).toBeGreaterThan(1);
    const devOnly = [...walk.packages.entries()]
      .filter(([name]) => !production.has(name))
      .map(([name, files]) => `${name} (imported by ${files.map((f) => path.relative(ROOT, f)).join(', ')})`);
    expect(devOnly).toEqual([]);
    // And nothing the images install goes unused.
    expect([...production].filter((name) => !walk.packages.has(name))).toEqual([]);
  });

  test('nothing the CLI loads needs an install script or a native build (node-build runs on the build platform with --ignore-scripts)', () => {
    const nodeBuild = stage(dockerfile, 'node-build');
    expect(nodeBuild.platform).toBe('$BUILDPLATFORM');
    expect(runs(nodeBuild).join('\n')).toMatch(/npm ci [^\n]*--ignore-scripts/);
    const lock = JSON.parse(readRepoFile('package-lock.json')) as { packages: Record<string, LockedPackage> };
    const roots = [...walkImports([repoPath('lib', 'cli.ts')]).packages.keys()];
    const closure = lockClosure(lock.packages, roots.map((r) => `node_modules/${r}`));
    expect(closure.length).toBeGreaterThanOrEqual(roots.length);
    const offenders = closure.filter((key) => lock.packages[key]?.hasInstallScript === true || lock.packages[key]?.cpu !== undefined);
    expect(offenders).toEqual([]);
  });

  test('the native helper compiles with the exact command of the helper-build stage', () => {
    const helper = stage(dockerfile, 'helper-build');
    const copy = helper.instructions.filter((i) => i.keyword === 'COPY').map((i) => copyParts(i.args))[0];
    expect(copy?.sources).toEqual(['lib/agent/native/']);
    const sourceDir = repoPath('lib', 'agent', 'native');
    const cFiles = fs.existsSync(sourceDir) ? fs.readdirSync(sourceDir).filter((f) => f.endsWith('.c')) : [];
    expect({ sourceDir, cFiles: cFiles.length > 0 }).toEqual({ sourceDir, cFiles: true });

    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-helper-'));
    try {
      const dest = path.join(work, (copy?.destination ?? '').replace(/\/$/, ''));
      fs.mkdirSync(dest, { recursive: true });
      for (const f of fs.readdirSync(sourceDir)) fs.copyFileSync(path.join(sourceDir, f), path.join(dest, f));
      const compile = runs(helper).find((r) => /\bcc\b/.test(r));
      expect(compile).toBeDefined();
      const script = (compile as string).replace(/(^|[\s=])\/out\b/g, `$1${work}/out`);
      execFileSync('sh', ['-ec', script], { cwd: work, stdio: 'pipe' });
      const binary = path.join(work, 'out', path.basename(HELPER_IMAGE_PATH));
      expect(fs.statSync(binary).mode & 0o111).not.toBe(0);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
