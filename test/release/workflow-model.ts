/** Reading GitHub Actions workflow files for the release tests. */
import { parse } from 'yaml';
import { readRepoFile } from './repo';

export interface Step {
  readonly name?: string;
  readonly id?: string;
  readonly uses?: string;
  readonly run?: string;
  readonly with?: Readonly<Record<string, unknown>>;
  readonly env?: Readonly<Record<string, string>>;
}

export interface Job {
  readonly name?: string;
  readonly needs?: string | readonly string[];
  readonly uses?: string;
  readonly permissions?: Readonly<Record<string, string>>;
  readonly strategy?: { readonly matrix?: Readonly<Record<string, readonly unknown[]>> };
  readonly env?: Readonly<Record<string, string>>;
  readonly outputs?: Readonly<Record<string, string>>;
  readonly steps?: readonly Step[];
}

export interface Workflow {
  readonly name: string;
  readonly on: Readonly<Record<string, unknown>>;
  readonly permissions?: Readonly<Record<string, string>> | string;
  readonly env?: Readonly<Record<string, string>>;
  readonly jobs: Readonly<Record<string, Job>>;
}

export function readWorkflow(file: string): Workflow {
  const parsed = parse(readRepoFile('.github', 'workflows', file)) as Workflow;
  if (parsed === null || typeof parsed !== 'object' || typeof parsed.jobs !== 'object') {
    throw new Error(`${file} is not a workflow with jobs`);
  }
  return parsed;
}

export function needsOf(job: Job): string[] {
  if (job.needs === undefined) return [];
  return typeof job.needs === 'string' ? [job.needs] : [...job.needs];
}

export function job(workflow: Workflow, id: string): Job {
  const found = workflow.jobs[id];
  if (!found) throw new Error(`workflow ${workflow.name} has no job ${id}; jobs: ${Object.keys(workflow.jobs).join(', ')}`);
  return found;
}

/** The steps of a job with a given `uses` action (any version). */
export function stepsUsing(j: Job, action: string): Step[] {
  return (j.steps ?? []).filter((s) => s.uses !== undefined && s.uses.split('@')[0] === action);
}

/**
 * Evaluates the `${{ a.b.c }}` expressions of a string against a context; an
 * expression that names something the context lacks is an error, so a typo in
 * a workflow fails the test instead of becoming an empty string.
 */
export function evaluate(text: string, context: Readonly<Record<string, unknown>>): string {
  return text.replace(/\$\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g, (_m, expr: string) => {
    let value: unknown = context;
    for (const part of expr.split('.')) {
      if (value === null || typeof value !== 'object' || !(part in value)) {
        throw new Error(`expression \${{ ${expr} }} has no value in the test context`);
      }
      value = (value as Record<string, unknown>)[part];
    }
    return String(value);
  });
}

/** Every `uses:` reference of a workflow: job-level (reusable workflows) and step-level. */
export function allUses(workflow: Workflow): string[] {
  return Object.values(workflow.jobs).flatMap((j) => [
    ...(j.uses !== undefined ? [j.uses] : []),
    ...(j.steps ?? []).flatMap((s) => (s.uses !== undefined ? [s.uses] : [])),
  ]);
}
