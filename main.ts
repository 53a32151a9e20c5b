/**
 * `npm run synth`: regenerates dist/lxcfs-kit.k8s.yaml and charts/lxcfs-kit/ from
 * the constructs. An optional argument writes into another root (the up-to-date
 * test synthesizes into a temporary folder and compares).
 */
import * as path from 'path';
import { writeGeneratedFiles } from './lib/generator';
import { LxcfsKitConfigError } from './lib/constructs';

try {
  const root = path.resolve(process.argv[2] ?? __dirname);
  const written = writeGeneratedFiles(root);
  console.log(`wrote ${written.length} files under ${root}`);
} catch (err) {
  if (err instanceof LxcfsKitConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
