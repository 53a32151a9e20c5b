// The codebase checks itself: type-aware typescript-eslint rules plus import rules, run by
// `npm run lint` and by `npm test` (test/release/lint.test.ts), which must report zero findings.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importPlugin from 'eslint-plugin-import';
import path from 'node:path';

export default tseslint.config(
  {
    ignores: ['build/**', 'dist/**', 'charts/**', 'node_modules/**', 'cdk.out/**', 'test/vm/assets/**', 'coverage/**',
      // A separate package that depends on the published lxcfs-kit (not installed here);
      // test/release/readme-example.test.ts compiles its code against lib/.
      'docs/examples/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
  {
    files: ['**/*.ts'],
    plugins: { import: importPlugin },
    settings: {
      // Only our TypeScript is parsed for exports and cycles: parsing node_modules' JavaScript
      // (cdk8s-plus, the Kubernetes client) cost most of a lint run and cannot close a cycle of ours.
      'import/extensions': ['.ts'],
      'import/ignore': ['node_modules'],
      'import/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import/resolver': { node: { extensions: ['.ts', '.js', '.json'] } },
      // One lint run never sees a file change: keep parsed modules for the whole run (the default
      // 30 s expiry made import/no-cycle re-parse the repository over and over on a loaded machine).
      'import/cache': { lifetime: Infinity },
    },
    rules: {
      // The published library (lib/index.ts and what it loads) may import only the root
      // package.json's dependencies and its cdk8s peers; tests, benches, the synth entry point
      // and the generator (build tooling run by `npm run synth`) also its devDependencies.
      'import/no-extraneous-dependencies': [
        'error',
        {
          devDependencies: ['test/**', 'bench/**', 'main.ts', '.github/**', 'lib/generator/**'],
          peerDependencies: true,
          optionalDependencies: false,
        },
      ],
      'import/no-cycle': ['error', { ignoreExternal: true }],
      'import/no-unresolved': 'error',
    },
  },
  {
    // Tests and benches also run the binaries' code, whose dependencies app/package.json lists.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      'import/no-extraneous-dependencies': ['error', { devDependencies: true, packageDir: [import.meta.dirname, path.join(import.meta.dirname, 'app')] }],
    },
  },
  {
    // The binaries (lib/cli.ts and the webhook, agent, CSI plugin and doctor they run) ship in the
    // images, which install app/package.json's dependencies: those, and nothing from devDependencies.
    files: ['lib/cli.ts', 'lib/agent/**/*.ts', 'lib/csi/**/*.ts', 'lib/doctor/**/*.ts', 'lib/webhook/**/*.ts'],
    rules: {
      'import/no-extraneous-dependencies': [
        'error',
        { devDependencies: false, peerDependencies: false, optionalDependencies: false, packageDir: path.join(import.meta.dirname, 'app') },
      ],
    },
  },
  {
    // Plain JavaScript configuration files are not part of the TypeScript project.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { module: 'readonly', require: 'readonly', __dirname: 'readonly', process: 'readonly', console: 'readonly' } },
  },
);
