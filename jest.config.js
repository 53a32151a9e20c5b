/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  // Two cores: the end-to-end suites start real lxcfs and runc, so keep
  // concurrency at the machine's size.
  maxWorkers: 2,
  testTimeout: 120000,
  verbose: true,
};
