/**
 * Writes a merged object tree as a Helm template: YAML with `{{- if }}` lines
 * for conditional keys, items and branches, then turns every placeholder into
 * its Go-template expression.
 */
import { toYaml } from './yaml';
import { Json, JsonObject } from '../constructs';
import { ComboSet, MergedNode } from './merge';
import { Placeholders } from './template-props';

export interface EmitContext {
  readonly placeholders: Placeholders;
  condition(when: ComboSet, ctx: ComboSet): string;
}

const isMap = (v: Json): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const pad = (n: number) => ' '.repeat(n);

/** A YAML scalar (or `{}`/`[]`) on one line. */
export function scalar(v: Json): string {
  if (isMap(v) && Object.keys(v).length === 0) return '{}';
  if (Array.isArray(v) && v.length === 0) return '[]';
  // Values may hold Go-template text of their own (Prometheus alert annotations, Grafana legends):
  // Helm must print it, not run it.
  return toYaml(v).trimEnd().replace(/\{\{/g, '{{ "{{" }}');
}
// Array.isArray alone narrows a readonly Json[] to any[].
const isList = (v: Json): v is readonly Json[] => Array.isArray(v);
const isScalarLike = (v: Json) => !(isMap(v) && Object.keys(v).length > 0) && !(Array.isArray(v) && v.length > 0);

export class TemplateEmitter {
  constructor(private readonly ec: EmitContext) {}

  /** The lines of a top-level object (a map) before placeholder replacement. */
  object(node: MergedNode, ctx: ComboSet): string[] {
    return this.value(node, 0, ctx);
  }

  /** Lines that render `node` as a block value at `indent` (map body, list body, or a scalar line). */
  value(node: MergedNode, indent: number, ctx: ComboSet): string[] {
    switch (node.t) {
      case 'lit':
        if (isScalarLike(node.value)) return [`${pad(indent)}${scalar(node.value)}`];
        if (isList(node.value)) return this.list(node.value.map((v) => ({ ctx, node: lit(v) })), indent);
        return this.map(Object.entries<Json>(node.value as JsonObject).map(([key, v]) => ({ key, ctx, node: lit(v) })), indent, ctx);
      case 'map':
        return this.map(node.entries, indent, ctx);
      case 'list':
        return this.list(node.items, indent, ctx);
      case 'branch':
        return node.arms.flatMap((arm, i) => [
          `${pad(indent)}{{- ${i === 0 ? `if ${this.ec.condition(arm.when, ctx)}` : i === node.arms.length - 1 ? 'else' : `else if ${this.ec.condition(arm.when, ctx)}`} }}`,
          ...this.value(arm.node, indent, arm.when),
          ...(i === node.arms.length - 1 ? [`${pad(indent)}{{- end }}`] : []),
        ]);
    }
  }

  private map(entries: ReadonlyArray<{ key: string; when?: ComboSet; ctx: ComboSet; node: MergedNode }>, indent: number, ctx: ComboSet): string[] {
    return entries.flatMap((e) => this.guard(e.when, ctx, indent, this.entry(e.key, e.node, indent, e.ctx)));
  }

  private list(items: ReadonlyArray<{ when?: ComboSet; ctx: ComboSet; node: MergedNode }>, indent: number, ctx?: ComboSet): string[] {
    return items.flatMap((item) => this.guard(item.when, ctx ?? item.ctx, indent, this.item(item.node, indent, item.ctx)));
  }

  private guard(when: ComboSet | undefined, ctx: ComboSet, indent: number, lines: string[]): string[] {
    if (!when) return lines;
    return [`${pad(indent)}{{- if ${this.ec.condition(when, ctx)} }}`, ...lines, `${pad(indent)}{{- end }}`];
  }

  private entry(key: string, node: MergedNode, indent: number, ctx: ComboSet): string[] {
    const k = `${pad(indent)}${scalar(key)}:`;
    if (node.t === 'lit' && isScalarLike(node.value)) return [`${k} ${scalar(node.value)}`];
    if (node.t === 'branch' && node.arms.every((a) => a.node.t === 'lit' && isScalarLike(a.node.value))) {
      const parts = node.arms.map((arm, i) => {
        const head = i === 0 ? `{{ if ${this.ec.condition(arm.when, ctx)} }}` : i === node.arms.length - 1 ? '{{ else }}' : `{{ else if ${this.ec.condition(arm.when, ctx)} }}`;
        return head + scalar((arm.node as { value: Json }).value);
      });
      return [`${k} ${parts.join('')}{{ end }}`];
    }
    return [k, ...this.value(node, indent + 2, ctx)];
  }

  private item(node: MergedNode, indent: number, ctx: ComboSet): string[] {
    if (node.t === 'lit' && isScalarLike(node.value)) return [`${pad(indent)}- ${scalar(node.value)}`];
    const body = this.value(node, indent + 2, ctx);
    const first = body[0];
    const inner = pad(indent + 2);
    // `- key: value` when the first line is a plain entry; a bare `-` line otherwise
    // (a template line or an expanding placeholder cannot share the dash's line).
    if (first.startsWith(inner) && !/^\s/.test(first.slice(inner.length)) && !first.includes('{{') && !this.expands(first)) {
      return [`${pad(indent)}- ${first.slice(inner.length)}`, ...body.slice(1)];
    }
    return [`${pad(indent)}-`, ...body];
  }

  /** Whether a line holds a placeholder that expands to several lines. */
  private expands(line: string): boolean {
    const m = /(__TPL_\d+__)/.exec(line);
    if (!m) return false;
    const kind = this.ec.placeholders.entries.get(m[1])?.kind;
    return kind === 'block' || kind === 'raw' || kind === 'mergeKeys' || kind === 'splice' || kind === 'spliceBlock';
  }
}

function lit(value: Json): MergedNode {
  return { t: 'lit', value };
}

/** Replaces every placeholder in the emitted lines with its Go-template form. */
export function resolvePlaceholders(lines: readonly string[], placeholders: Placeholders, emitter: TemplateEmitter): string[] {
  const out: string[] = [];
  const entry = (id: string) => {
    const e = placeholders.entries.get(id);
    if (!e) throw new Error(`unknown placeholder ${id}`);
    return e;
  };
  for (const line of lines) {
    const keyed = /^(\s*)([^\s-][^:]*): (__TPL_\d+__)$/.exec(line);
    if (keyed && ['block', 'raw'].includes(entry(keyed[3]).kind)) {
      const [, sp, key, id] = keyed;
      const e = entry(id);
      const indent = sp.length;
      if (e.kind === 'raw') {
        out.push(`${sp}${key}:`, ...(e.lines?.(indent) ?? []));
      } else if (e.fallback !== undefined) {
        const fallback = emitter.value({ t: 'lit', value: e.fallback }, indent + 2, []);
        out.push(
          `${sp}${key}:`,
          `${sp}{{- with ${e.expr} }}`,
          `${sp}  {{- toYaml . | nindent ${indent + 2} }}`,
          `${sp}{{- else }}`,
          ...resolvePlaceholders(fallback, placeholders, emitter),
          `${sp}{{- end }}`,
        );
      } else {
        out.push(`${sp}{{- with ${e.expr} }}`, `${sp}${key}:`, `${sp}  {{- toYaml . | nindent ${indent + 2} }}`, `${sp}{{- end }}`);
      }
      continue;
    }
    const merged = /^(\s*)(__TPL_\d+__): .*$/.exec(line);
    if (merged && entry(merged[2]).kind === 'mergeKeys') {
      const [, sp, id] = merged;
      out.push(`${sp}{{- with ${entry(id).expr} }}`, `${sp}{{- toYaml . | nindent ${sp.length} }}`, `${sp}{{- end }}`);
      continue;
    }
    const spliced = /^(\s*)- (__TPL_\d+__)$/.exec(line);
    if (spliced && entry(spliced[2]).kind === 'splice') {
      const [, sp, id] = spliced;
      out.push(`${sp}{{- range ${entry(id).expr} }}`, `${sp}- {{ . | quote }}`, `${sp}{{- end }}`);
      continue;
    }
    if (spliced && entry(spliced[2]).kind === 'spliceBlock') {
      const [, sp, id] = spliced;
      out.push(`${sp}{{- with ${entry(id).expr} }}`, `${sp}{{- toYaml . | nindent ${sp.length} }}`, `${sp}{{- end }}`);
      continue;
    }
    const whole = /^(\s*(?:- )?(?:[^\s-][^:]*: )?)(__TPL_\d+__)$/.exec(line);
    if (whole) {
      const e = entry(whole[2]);
      out.push(`${whole[1]}{{ ${e.expr}${e.kind === 'string' ? ' | quote' : ''} }}`);
      continue;
    }
    out.push(
      line.replace(/__TPL_\d+__/g, (id) => {
        const e = entry(id);
        if (e.kind !== 'string') throw new Error(`placeholder ${id} (${e.kind}) cannot be part of a longer value: ${line}`);
        return `{{ ${e.expr} }}`;
      }),
    );
  }
  return out;
}
