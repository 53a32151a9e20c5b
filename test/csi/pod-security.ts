/**
 * The Pod Security Standards' `restricted` profile (which includes `baseline`), as documented
 * for Pod Security Admission, written as a checker over a pod spec. The tests use it to show a
 * csi-mode patch keeps a compliant pod compliant. No API server here: this is the documented
 * rule list, not the admission plugin.
 */
type Obj = Record<string, unknown>;

const RESTRICTED_VOLUME_TYPES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);
const BASELINE_CAPABILITIES = new Set(['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']);
const SAFE_SYSCTLS = new Set(['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes']);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);

/** A string field, or '' when absent or of another type (which no allowed value is). */
const text = (v: unknown): string => (typeof v === 'string' ? v : '');
const obj = (v: unknown): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Every violated rule, as `rule: where`; empty when the pod meets `restricted`. */
export function restrictedViolations(pod: unknown): string[] {
  const out: string[] = [];
  const meta = obj(obj(pod).metadata);
  const spec = obj(obj(pod).spec);
  const podSc = obj(spec.securityContext);
  const containers = [
    ...arr(spec.containers).map((c, i) => [`containers[${i}]`, obj(c)] as const),
    ...arr(spec.initContainers).map((c, i) => [`initContainers[${i}]`, obj(c)] as const),
    ...arr(spec.ephemeralContainers).map((c, i) => [`ephemeralContainers[${i}]`, obj(c)] as const),
  ];

  // baseline
  if (obj(podSc.windowsOptions).hostProcess === true) out.push('hostProcess: pod');
  for (const f of ['hostNetwork', 'hostPID', 'hostIPC']) if (spec[f] === true) out.push(`host namespaces: ${f}`);
  for (const [i, v] of arr(spec.volumes).entries()) {
    const types = Object.keys(obj(v)).filter((k) => k !== 'name');
    if ('hostPath' in obj(v)) out.push(`hostPath volumes: volumes[${i}]`);
    for (const t of types) if (!RESTRICTED_VOLUME_TYPES.has(t)) out.push(`volume types: volumes[${i}].${t}`);
  }
  for (const s of arr(podSc.sysctls)) if (!SAFE_SYSCTLS.has(String(obj(s).name))) out.push(`sysctls: ${String(obj(s).name)}`);
  for (const [k, v] of Object.entries(obj(meta.annotations))) {
    if (k.startsWith('container.apparmor.security.beta.kubernetes.io/') && v !== 'runtime/default' && !String(v).startsWith('localhost/')) out.push(`AppArmor: ${k}`);
  }
  const checkSeLinux = (sc: Obj, where: string): void => {
    const se = obj(sc.seLinuxOptions);
    if (!SELINUX_TYPES.has(text(se.type))) out.push(`SELinux type: ${where}`);
    if (se.user !== undefined || se.role !== undefined) out.push(`SELinux user/role: ${where}`);
  };
  checkSeLinux(podSc, 'pod');

  // restricted: pod-level defaults that containers may set instead
  const podNonRoot = podSc.runAsNonRoot === true;
  const podSeccomp = text(obj(podSc.seccompProfile).type);
  if (podSc.runAsUser === 0) out.push('runAsUser 0: pod');
  if (podSeccomp === 'Unconfined') out.push('seccomp Unconfined: pod');

  for (const [where, c] of containers) {
    const sc = obj(c.securityContext);
    if (obj(sc.windowsOptions).hostProcess === true) out.push(`hostProcess: ${where}`);
    if (sc.privileged === true) out.push(`privileged: ${where}`);
    for (const p of arr(c.ports)) if (Number(obj(p).hostPort ?? 0) !== 0) out.push(`host ports: ${where}`);
    if (sc.procMount !== undefined && sc.procMount !== 'Default') out.push(`procMount: ${where}`);
    checkSeLinux(sc, where);
    const caps = obj(sc.capabilities);
    for (const a of arr(caps.add)) {
      if (!BASELINE_CAPABILITIES.has(String(a))) out.push(`capabilities (baseline): ${where} adds ${String(a)}`);
      if (a !== 'NET_BIND_SERVICE') out.push(`capabilities (restricted): ${where} adds ${String(a)}`);
    }
    if (!arr(caps.drop).includes('ALL')) out.push(`capabilities: ${where} does not drop ALL`);
    if (sc.allowPrivilegeEscalation !== false) out.push(`privilege escalation: ${where}`);
    if (!(sc.runAsNonRoot === true || (podNonRoot && sc.runAsNonRoot !== false))) out.push(`running as non-root: ${where}`);
    if (sc.runAsUser === 0) out.push(`runAsUser 0: ${where}`);
    const seccomp = text(obj(sc.seccompProfile).type);
    if (seccomp === 'Unconfined') out.push(`seccomp Unconfined: ${where}`);
    if (!['RuntimeDefault', 'Localhost'].includes(seccomp) && !(seccomp === '' && ['RuntimeDefault', 'Localhost'].includes(podSeccomp))) out.push(`seccomp: ${where}`);
  }
  return out;
}
