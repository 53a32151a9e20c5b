/**
 * YAML output that Helm, kubectl and Kubernetes read back unchanged: they parse
 * YAML 1.1, where a plain `off`, `on`, `yes` or `no` is a boolean, so strings
 * like repairMode "off" must be quoted.
 */
import * as YAML from 'yaml';

export function toYaml(value: unknown): string {
  return YAML.stringify(value, { version: '1.1', lineWidth: 0 });
}
