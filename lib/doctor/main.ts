/** `lxcfs-kit doctor`: checks an install end to end with the operator's kubeconfig and says what to fix. */
import { PROJECT_NAME, SYSTEM_NAMESPACES } from '../contract';
import { parseFlags, usageText } from '../flags';
import { diagnose, Finding } from './checks';
import { kubeconfigReader } from './cluster';
import { gather } from './gather';

export const DOCTOR_FLAGS = {
  namespace: { kind: 'string', default: PROJECT_NAME, help: 'namespace of the install' },
  name: { kind: 'string', default: PROJECT_NAME, help: 'name of the install (prefix of its objects; the Helm release name when it contains lxcfs-kit, else <release>-lxcfs-kit)' },
  kubeconfig: { kind: 'string', default: '', help: 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config)' },
  context: { kind: 'string', default: '', help: 'kubeconfig context (default: the current one)' },
  output: { kind: 'string', default: 'text', choices: ['text', 'json'], help: 'report format' },
} as const;

const SUMMARY = 'Checks an install: agents ready where opted-in pods run, the webhook configuration and its CA, Pod Security of opted-in namespaces, opted-in pods without lxcfs, stale or given-up mounts per node. Exits 1 when something is wrong.';

const MARK: Record<Finding['severity'], string> = { ok: 'ok  ', warning: 'WARN', error: 'FAIL' };

export function renderText(findings: readonly Finding[], namespace: string, name: string): string {
  const lines = [`lxcfs-kit doctor: install "${name}" in namespace "${namespace}"`, ''];
  for (const f of findings) {
    lines.push(`${MARK[f.severity]} [${f.check}] ${f.subject}: ${f.message}`);
    if (f.fix) lines.push(`       fix: ${f.fix}`);
  }
  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.filter((f) => f.severity === 'warning').length;
  lines.push('', errors === 0 ? `No problems found${warnings ? ` (${warnings} checks could not run)` : ''}.` : `${errors} problems found${warnings ? `, ${warnings} checks could not run` : ''}.`);
  return `${lines.join('\n')}\n`;
}

export async function runDoctor(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usageText('doctor', SUMMARY, DOCTOR_FLAGS)}\n`);
    return 0;
  }
  const flags = parseFlags(DOCTOR_FLAGS, argv);
  const api = await kubeconfigReader({ kubeconfig: flags.kubeconfig, context: flags.context });
  const snapshot = await gather(api, flags.name, flags.namespace, SYSTEM_NAMESPACES);
  const findings = diagnose(snapshot);
  const ok = !findings.some((f) => f.severity === 'error');
  if (flags.output === 'json') process.stdout.write(`${JSON.stringify({ ok, namespace: flags.namespace, name: flags.name, findings }, null, 2)}\n`);
  else process.stdout.write(renderText(findings, flags.namespace, flags.name));
  return ok ? 0 : 1;
}
