/**
 * One project per kind of suite, so `npx jest --selectProjects unit` gives feedback in seconds
 * while `npm test` runs everything. test/release/jest-projects.test.ts proves every test file
 * belongs to exactly one project (a file in none would silently never run).
 */
const shared = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
};

/** Project name → test file globs, relative to the repository. */
const projects = {
  // Pure logic: no root, no child processes, no network.
  unit: ['test/*.test.ts', 'test/constructs/**/*.test.ts', 'test/agent/**/*.test.ts', 'test/unit/**/*.test.ts', 'test/monitoring/*.test.ts'],
  // Generated chart and manifests with the real Helm binaries; release, README and Dockerfile checks.
  chart: ['test/chart/**/*.test.ts', 'test/release/**/*.test.ts'],
  // The webhook as a real HTTPS process (against the fake API server where a cluster is needed).
  webhook: ['test/webhook/**/*.test.ts', 'test/doctor/**/*.test.ts'],
  // Real lxcfs, real runc, real mounts (root); the native helper built and fuzzed with sanitizers.
  e2e: ['test/e2e/**/*.test.ts', 'test/csi/**/*.test.ts', 'test/native/**/*.test.ts', 'test/monitoring/live/**/*.test.ts'],
  // cgroup v2 and other kernels, in QEMU virtual machines.
  vm: ['test/vm/**/*.test.ts'],
};

/** @type {import('jest').Config} */
module.exports = {
  // Two cores: the end-to-end suites start real lxcfs and runc, so keep
  // concurrency at the machine's size.
  maxWorkers: 2,
  testTimeout: 120000,
  verbose: true,
  projects: Object.entries(projects).map(([displayName, globs]) => ({
    ...shared,
    displayName,
    rootDir: __dirname,
    roots: ['<rootDir>/test'],
    testMatch: globs.map((g) => `<rootDir>/${g}`),
  })),
};
