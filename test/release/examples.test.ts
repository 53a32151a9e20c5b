/**
 * docs/examples holds the README's quickstart examples as files a user can
 * copy; they must stay identical to the README (which the other release tests
 * compile, synthesize and render) and depend on this version of lxcfs-kit.
 */
import { VERSION } from '../../lib/contract';
import { fencedBlocks, packageJson, docSection, readRepoFile } from './repo';

const blocks = fencedBlocks(docSection('overview'));

function block(predicate: (lang: string, body: string) => boolean): string {
  const found = blocks.filter((b) => predicate(b.lang, b.body));
  expect(found).toHaveLength(1);
  return (found[0] as { body: string }).body;
}

describe('docs/examples', () => {
  test('cdk8s-app/main.ts is the README cdk8s example', () => {
    expect(readRepoFile('docs', 'examples', 'cdk8s-app', 'main.ts')).toBe(block((lang, body) => lang === 'ts' && body.includes("from 'lxcfs-kit'")));
  });

  test('argocd/*.yaml are the README Argo CD Application and repository entry', () => {
    expect(readRepoFile('docs', 'examples', 'argocd', 'application.yaml')).toBe(block((lang, body) => lang === 'yaml' && /^kind: Application$/m.test(body)));
    expect(readRepoFile('docs', 'examples', 'argocd', 'repository.yaml')).toBe(block((lang, body) => lang === 'yaml' && /^kind: Secret$/m.test(body)));
  });

  test('the cdk8s app depends on this version of lxcfs-kit and on its peer dependencies', () => {
    const example = JSON.parse(readRepoFile('docs', 'examples', 'cdk8s-app', 'package.json')) as { dependencies: Record<string, string> };
    expect(example.dependencies['lxcfs-kit']).toBe(`^${VERSION}`);
    for (const [name, range] of Object.entries(packageJson().peerDependencies ?? {})) {
      expect({ name, range: example.dependencies[name] }).toEqual({ name, range });
    }
    expect(readRepoFile('docs', 'examples', 'cdk8s-app', 'cdk8s.yaml')).toMatch(/^app: npx ts-node main\.ts$/m);
  });
});
