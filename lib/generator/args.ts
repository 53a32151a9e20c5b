/**
 * Container args in the chart, rendered from the same flag specs the commands
 * parse (lib/agent/flags.ts, lib/webhook/flags.ts) with the same rule as
 * renderFlags(): a flag appears only when its value differs from the default.
 * Which value feeds each flag is a Go-template expression here (or a fixed
 * value, rendered at generation time) and a prop in the constructs; options
 * passed as they are take both from lib/options.ts, and the chart equivalence
 * tests prove both give the same args.
 */
import { AGENT_FLAGS } from '../agent/flags';
import { AGENT_READY_FILE, DEFAULT_KUBELET_DIR, WEBHOOK_TLS_DIR } from '../contract';
import { FlagSpecs, renderFlags } from '../flags';
import { Command, flagOf, optionsOf } from '../options';
import { WEBHOOK_FLAGS } from '../webhook/flags';
import { FULLNAME, REPAIR_MODE, SECRET_NAME } from './template-props';

/** A Go-template expression, or a value the constructs also fix (not a chart value). */
type FlagSource = string | { readonly fixed: string | number };
type FlagExpressions<S extends FlagSpecs> = Partial<Record<keyof S & string, FlagSource>>;

const isSelf = '(eq $.Values.certificates.source "self")';
const servesCsi = '(ne $.Values.injection.mode "hostPath")';

/** The chart value of each `direct` option that reaches a flag of this command (lib/options.ts). */
function valueExpressions(command: Command): Record<string, FlagSource> {
  return Object.fromEntries(
    optionsOf(command)
      .filter((o) => o.rendering === 'direct' && o.value !== undefined)
      .map((o) => [flagOf(o, command), `$.Values.${o.value}`]),
  );
}

export const AGENT_FLAG_EXPRESSIONS: FlagExpressions<typeof AGENT_FLAGS> = {
  ...valueExpressions('agent'),
  // Not a chart value: the DaemonSet's probes read this file.
  'ready-file': { fixed: AGENT_READY_FILE },
  csi: servesCsi,
  'kubelet-dir': `(ternary $.Values.injection.kubeletDir "${DEFAULT_KUBELET_DIR}" ${servesCsi})`,
  // Kubernetes expands $(NODE_NAME) in args from the container's env (the downward API).
  'node-name': `(ternary "$(NODE_NAME)" "" ${servesCsi})`,
};

export const WEBHOOK_FLAG_EXPRESSIONS: FlagExpressions<typeof WEBHOOK_FLAGS> = {
  ...valueExpressions('webhook'),
  port: '$.Values.webhook.ports.https',
  'metrics-port': '$.Values.webhook.ports.metrics',
  // Overrides the plain value: a bare YAML off (the boolean false) means "off".
  'repair-mode': `(${REPAIR_MODE})`,
  'cert-mode': `(ternary "self" "files" ${isSelf})`,
  'tls-cert-file': `(ternary "" "${WEBHOOK_TLS_DIR}/tls.crt" ${isSelf})`,
  'tls-key-file': `(ternary "" "${WEBHOOK_TLS_DIR}/tls.key" ${isSelf})`,
  'service-name': `(printf "%s-webhook" (${FULLNAME}))`,
  'secret-name': `(${SECRET_NAME})`,
  'webhook-configuration': `(${FULLNAME})`,
  'lease-name': `(printf "%s-webhook-repair" (${FULLNAME}))`,
  'injection-mode': '(ternary "csi" "hostPath" (eq $.Values.injection.mode "csi"))',
  // Modes csi and podSecurity inject namespaces enforcing baseline/restricted, so the reconciler judges their pods.
  'pod-security-enforced-namespaces': '(ternary "skip" "inject" (eq $.Values.injection.mode "hostPath"))',
};

/** The `args:` list lines (at `indent`, the indentation of the `args:` key) for a command. */
export function flagArgLines<S extends FlagSpecs>(command: string, specs: S, expressions: FlagExpressions<S>, indent: number): string[] {
  const sp = ' '.repeat(indent + 2);
  const lines = [`${sp}- ${command}`];
  for (const [name, spec] of Object.entries(specs)) {
    const expr = expressions[name as keyof S & string];
    if (expr === undefined) continue;
    if (typeof expr !== 'string') {
      for (const arg of renderFlags({ [name]: spec }, { [name]: expr.fixed })) lines.push(`${sp}- ${JSON.stringify(arg)}`);
      continue;
    }
    switch (spec.kind) {
      case 'string':
        lines.push(`${sp}{{- if ne ${expr} ${JSON.stringify(spec.default)} }}`, `${sp}- {{ printf "--${name}=%s" ${expr} | quote }}`);
        break;
      case 'integer':
        lines.push(`${sp}{{- if ne (int64 ${expr}) (int64 ${spec.default}) }}`, `${sp}- {{ printf "--${name}=%d" (int64 ${expr}) | quote }}`);
        break;
      case 'boolean':
        lines.push(spec.default ? `${sp}{{- if not ${expr} }}` : `${sp}{{- if ${expr} }}`, `${sp}- ${spec.default ? `--no-${name}` : `--${name}`}`);
        break;
      case 'list':
        lines.push(
          `${sp}{{- if ne (join "," ${expr}) ${JSON.stringify(spec.default.join(','))} }}`,
          `${sp}{{- range ${expr} }}`,
          `${sp}- {{ printf "--${name}=%s" . | quote }}`,
          `${sp}{{- end }}`,
        );
        break;
    }
    lines.push(`${sp}{{- end }}`);
  }
  return lines;
}

/** The `args:` lines of a workload's extraArgs, appended after its flags. */
export function extraArgLines(expr: string, indent: number): string[] {
  const sp = ' '.repeat(indent + 2);
  return [`${sp}{{- range ${expr} }}`, `${sp}- {{ . | quote }}`, `${sp}{{- end }}`];
}
