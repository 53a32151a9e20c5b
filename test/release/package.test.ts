/**
 * The npm package as a cdk8s user gets it: packed from a copy of the checkout's
 * tracked files (what a fresh clone holds, without build output; the `prepack`
 * script must build it), installed into docs/examples/cdk8s-app in a temporary
 * folder next to its own dependencies, compiled with strict TypeScript (the
 * package's declarations included), run to synthesize, and its installed
 * dependency tree weighed against a budget.
 *
 * npm talks to the registry here (`--prefer-offline`: the local cache first).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';
import { walkImports } from './import-graph';
import { appPackageJson, packageJson, PackageJson, readRepoFile, repoPath, ROOT } from './repo';

/** What `npm install lxcfs-kit` may add to a cdk8s app that already has cdk8s and constructs. */
const BUDGET = { packages: 3, bytes: 1024 * 1024 };

const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'];

function npm(cwd: string, ...args: string[]): string {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
}

function installedVersion(name: string): string {
  return (JSON.parse(readRepoFile('node_modules', name, 'package.json')) as { version: string }).version;
}

/** Bytes of the files of one installed package, its own nested node_modules excluded. */
function packageBytes(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += packageBytes(full);
    else if (entry.isFile()) total += fs.statSync(full).size;
  }
  return total;
}

/** Installed packages (node_modules/… keys of npm's hidden lockfile) and their sizes. */
function installedTree(appDir: string): Map<string, number> {
  const lock = JSON.parse(fs.readFileSync(path.join(appDir, 'node_modules', '.package-lock.json'), 'utf8')) as { packages: Record<string, { link?: boolean }> };
  const tree = new Map<string, number>();
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (!key.startsWith('node_modules/') || entry.link === true) continue;
    tree.set(key, packageBytes(path.join(appDir, key)));
  }
  return tree;
}

/** Every relative require/import and declaration reference in the package resolves to a shipped file. */
function danglingRelativeImports(packageDir: string, files: readonly string[]): string[] {
  const shipped = new Set(files);
  const missing: string[] = [];
  for (const file of files.filter((f) => /\.(js|d\.ts)$/.test(f))) {
    const text = fs.readFileSync(path.join(packageDir, file), 'utf8');
    for (const m of text.matchAll(/(?:require\(|from\s+|import\()\s*["'](\.{1,2}\/[^"']*)["']/g)) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1]));
      const candidates = [target, `${target}.js`, `${target}.d.ts`, `${target}/index.js`, `${target}/index.d.ts`];
      if (!candidates.some((c) => shipped.has(c))) missing.push(`${file}: ${m[1]}`);
    }
  }
  return missing;
}

function listFiles(dir: string, prefix = ''): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? listFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
  );
}

describe('npm package: packed from a fresh checkout, installed into a cdk8s app (npm registry, local cache first)', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-package-'));
  const clone = path.join(work, 'clone');
  const appDir = path.join(work, 'app');
  const unpacked = path.join(work, 'unpacked');
  let tarball = '';
  let shipped: string[] = [];

  beforeAll(() => {
    // The files a clone of this commit holds: tracked or new, minus what .gitignore excludes.
    const tracked = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
      .split('\0')
      .filter((f) => f !== '' && fs.existsSync(path.join(ROOT, f)));
    for (const f of tracked) {
      fs.mkdirSync(path.dirname(path.join(clone, f)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, f), path.join(clone, f));
    }
    // As after `npm ci` in the clone (the build needs the development dependencies).
    fs.symlinkSync(repoPath('node_modules'), path.join(clone, 'node_modules'));
    const packed = JSON.parse(npm(clone, 'pack', '--json', '--pack-destination', work, '--loglevel=error')) as { filename: string }[];
    tarball = path.join(work, (packed[0]).filename);
    fs.mkdirSync(unpacked);
    execFileSync('tar', ['-xzf', tarball, '-C', unpacked]);
    shipped = listFiles(path.join(unpacked, 'package'));
  }, 300000);

  afterAll(() => {
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('the tarball is complete: entry points, declarations, LICENSE, README; no source maps without their sources', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(unpacked, 'package', 'package.json'), 'utf8')) as PackageJson;
    console.log(`packed ${path.basename(tarball)}: ${fs.statSync(tarball).size} bytes, ${shipped.length} files`);
    for (const entry of [pkg.main, pkg.types, 'LICENSE', 'README.md']) {
      expect({ entry, shipped: entry !== undefined && shipped.includes(entry) }).toEqual({ entry, shipped: true });
    }
    expect(fs.readFileSync(path.join(unpacked, 'package', 'LICENSE'), 'utf8')).toMatch(/Apache License\s+Version 2\.0/);
    expect(pkg.license).toBe('Apache-2.0');
    expect(danglingRelativeImports(path.join(unpacked, 'package'), shipped)).toEqual([]);
    // A map is only worth shipping with the sources it points at.
    for (const map of shipped.filter((f) => f.endsWith('.map'))) {
      const sources = (JSON.parse(fs.readFileSync(path.join(unpacked, 'package', map), 'utf8')) as { sources: string[] }).sources;
      for (const s of sources) expect({ map, s, shipped: shipped.includes(path.posix.normalize(path.posix.join(path.posix.dirname(map), s))) }).toEqual({ map, s, shipped: true });
    }
    // And no compiled file points at a map that is not there.
    for (const file of shipped.filter((f) => /\.(js|d\.ts)$/.test(f))) {
      const url = /\/\/# sourceMappingURL=(\S+)/.exec(fs.readFileSync(path.join(unpacked, 'package', file), 'utf8'))?.[1];
      if (url !== undefined) expect({ file, url, shipped: shipped.includes(path.posix.join(path.posix.dirname(file), url)) }).toEqual({ file, url, shipped: true });
    }
    // Only the library: none of the binaries (they live in the images).
    expect(shipped.filter((f) => /\/(cli|webhook\/main|agent\/main|doctor\/main)\.js$/.test(f))).toEqual([]);
  });

  test('the library declares no runtime dependencies beyond its cdk8s peers; the binaries\' live in app/package.json at the same version', () => {
    const pkg = packageJson();
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(Object.keys(pkg.peerDependencies ?? {}).sort()).toEqual(['cdk8s', 'constructs']);
    // What the package's entry point loads: its peers and nothing else.
    const walk = walkImports([repoPath('lib', 'index.ts')]);
    expect(walk.unresolved).toEqual([]);
    expect([...walk.packages.keys()].filter((name) => !(name in (pkg.peerDependencies ?? {})))).toEqual([]);
    const app = appPackageJson();
    expect(app.private).toBe(true);
    expect(app.version).toBe(pkg.version);
    expect(Object.keys(app.dependencies ?? {}).length).toBeGreaterThan(0);
  });

  test('installs into a fresh cdk8s app within the dependency budget, compiles with strict TypeScript and synthesizes', () => {
    const example = repoPath('docs', 'examples', 'cdk8s-app');
    fs.mkdirSync(appDir);
    fs.copyFileSync(path.join(example, 'main.ts'), path.join(appDir, 'main.ts'));
    // The app before lxcfs-kit: its peers and the compiler, at the versions this checkout uses (so the cache has them).
    const versions = Object.fromEntries(['cdk8s', 'constructs', 'typescript', '@types/node'].map((n) => [n, installedVersion(n)]));
    fs.writeFileSync(
      path.join(appDir, 'package.json'),
      JSON.stringify({ name: 'app', version: '1.0.0', private: true, dependencies: { cdk8s: versions['cdk8s'], constructs: versions['constructs'] }, devDependencies: { typescript: versions['typescript'], '@types/node': versions['@types/node'] } }, null, 2),
    );
    npm(appDir, 'install', ...NPM_FLAGS);
    const before = installedTree(appDir);

    npm(appDir, 'install', ...NPM_FLAGS, tarball);
    const after = installedTree(appDir);
    const added = [...after.keys()].filter((k) => !before.has(k));
    const addedBytes = added.reduce((sum, k) => sum + (after.get(k) as number), 0);
    console.log(`npm install lxcfs-kit added ${added.length} package(s), ${addedBytes} bytes: ${added.join(', ')} (budget: ${BUDGET.packages} packages, ${BUDGET.bytes} bytes)`);
    expect(added).toContain('node_modules/lxcfs-kit');
    expect(added.length).toBeLessThanOrEqual(BUDGET.packages);
    expect(addedBytes).toBeLessThanOrEqual(BUDGET.bytes);

    // Strict, and the library's declarations checked too (skipLibCheck off).
    fs.writeFileSync(
      path.join(appDir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022', module: 'commonjs', moduleResolution: 'node', strict: true, noImplicitReturns: true, noUnusedLocals: true,
          esModuleInterop: true, skipLibCheck: false, types: ['node'], outDir: 'build',
        },
        include: ['main.ts'],
      }),
    );
    const tsc = path.join(appDir, 'node_modules', 'typescript', 'bin', 'tsc');
    const diagnostics = (() => {
      try {
        execFileSync(process.execPath, [tsc, '-p', appDir], { cwd: appDir, encoding: 'utf8', stdio: 'pipe' });
        return [];
      } catch (err) {
        return String((err as { stdout?: string }).stdout ?? err).split('\n').filter((l) => l.trim() !== '');
      }
    })();
    expect(diagnostics).toEqual([]);

    execFileSync(process.execPath, [path.join(appDir, 'build', 'main.js')], { cwd: appDir, stdio: 'pipe' });
    const out = fs.readdirSync(path.join(appDir, 'dist')).filter((f) => f.endsWith('.yaml'));
    expect(out).toEqual(['platform.k8s.yaml']);
    const kinds = parseAllDocuments(fs.readFileSync(path.join(appDir, 'dist', 'platform.k8s.yaml'), 'utf8')).map((d) => (d.toJS() as { kind: string }).kind);
    expect(kinds).toEqual(expect.arrayContaining(['Namespace', 'DaemonSet', 'Deployment', 'MutatingWebhookConfiguration', 'ServiceAccount']));
  }, 300000);
});
