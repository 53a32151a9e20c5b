/**
 * Validates GitHub Actions workflow files with GitHub's own parser
 * (@actions/workflow-parser, the one behind the Actions language service):
 * schema, expressions, contexts allowed where they are used, `needs`, and the
 * inputs of reusable workflows called from this repository.
 *
 * The parser is ESM-only, so jest cannot load it in-process; the release tests
 * run this file as a subprocess: `node -r ts-node/register/transpile-only
 * lint-workflows.ts <workflow>...`. It prints `{ "<file>": ["<error>", ...] }`.
 */
import * as fs from 'fs';
import { register } from 'module';
import * as path from 'path';
import type * as WorkflowParser from '@actions/workflow-parser';

async function lint(file: string, parser: typeof WorkflowParser): Promise<string[]> {
  const root = path.resolve(path.dirname(file), '..', '..');
  const parsed = parser.parseWorkflow({ name: path.basename(file), content: fs.readFileSync(file, 'utf8') }, new parser.NoOperationTraceWriter());
  const errors = parsed.context.errors.getErrors().map((e) => e.message);
  if (parsed.value === undefined) return errors.length > 0 ? errors : ['the file does not parse as a workflow'];
  const template = await parser.convertWorkflowTemplate(
    parsed.context,
    parsed.value,
    {
      // Local reusable workflows (`uses: ./.github/workflows/x.yml`) are read from this checkout.
      getFileContent: (ref) => {
        if (!('path' in ref) || 'repository' in ref) return Promise.reject(new Error(`remote reusable workflows are not fetched: ${JSON.stringify(ref)}`));
        return Promise.resolve({ name: ref.path, content: fs.readFileSync(path.join(root, ref.path), 'utf8') });
      },
    },
    { fetchReusableWorkflowDepth: 1 },
  );
  return [...errors, ...(template.errors ?? []).map((e) => e.Message)].filter((m, i, all) => all.indexOf(m) === i);
}

async function main(files: readonly string[]): Promise<void> {
  // The package exports only an `import` condition, and TypeScript's CommonJS output turns
  // `import()` into `require()`: keep a real dynamic import.
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- a constant module loader, not code from data (see above)
  const importModule = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<unknown>;
  // It also imports its JSON schemas without `with { type: 'json' }` (it is written for bundlers);
  // a loader hook adds the attribute so that Node loads them.
  register(
    `data:text/javascript,${encodeURIComponent(
      "export async function load(url, context, next) { return next(url, url.endsWith('.json') ? { ...context, importAttributes: { ...context.importAttributes, type: 'json' } } : context); }",
    )}`,
  );
  const parser = (await importModule('@actions/workflow-parser')) as typeof WorkflowParser;
  const report: Record<string, string[]> = {};
  for (const f of files) report[f] = await lint(path.resolve(f), parser);
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
