/**
 * Pod Security Admission as lxcfs-kit sees it: which level a namespace enforces, and whether
 * that level admits the hostPath volumes of the default injection. The API server checks Pod
 * Security after mutating admission, so a pod injected in a namespace enforcing `baseline` or
 * `restricted` would be refused; the webhook configuration therefore leaves such namespaces
 * out, the webhook warns their pods' creators and the reconciler reports them. This is the one
 * place that classifies a namespace by its level (an injection mode chosen per namespace by its
 * level belongs here too).
 */

/** The namespace label Pod Security Admission enforces. */
export const POD_SECURITY_ENFORCE_LABEL = 'pod-security.kubernetes.io/enforce';

export type PodSecurityLevel = 'privileged' | 'baseline' | 'restricted';

/** Levels whose policy forbids hostPath volumes. */
export const HOSTPATH_FORBIDDING_LEVELS: readonly PodSecurityLevel[] = ['baseline', 'restricted'];

/**
 * The level a namespace's labels enforce; undefined when unlabelled or unknown (then the
 * cluster-wide default of the API server's AdmissionConfiguration applies, which labels do not show).
 */
export function enforcedLevel(labels: Readonly<Record<string, string>> | undefined): PodSecurityLevel | undefined {
  const v = labels?.[POD_SECURITY_ENFORCE_LABEL];
  return v === 'privileged' || v === 'baseline' || v === 'restricted' ? v : undefined;
}

/** True when the namespace enforces a level that refuses pods with hostPath volumes. */
export function forbidsHostPath(labels: Readonly<Record<string, string>> | undefined): boolean {
  const level = enforcedLevel(labels);
  return level !== undefined && HOSTPATH_FORBIDDING_LEVELS.includes(level);
}

/** Path of the webhook endpoint that only warns (pods of namespaces left out because of their level). */
export const POD_SECURITY_WARNING_PATH = '/warn-pod-security';

/** The admission warning for a pod of such a namespace. */
export function podSecurityWarning(namespace: string): string {
  return `lxcfs-kit did not inject lxcfs: namespace ${namespace} enforces Pod Security "baseline" or "restricted", which forbid the hostPath volumes lxcfs-kit mounts`;
}
