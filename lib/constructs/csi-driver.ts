/**
 * What injection modes `csi` and `podSecurity` add to the install: the cluster's CSIDriver
 * object for the agent's driver, and the agent's view of the kubelet's directories.
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { AGENT_COMPONENT, CSI_DRIVER_NAME } from '../contract';
import { MetadataContext, objectMetadata } from './metadata';
import { isPlaceholder } from './placeholder';

/** `hostPath`: hostPath volumes only; `csi`: the CSI volume everywhere; `podSecurity`: the CSI volume in namespaces whose enforced Pod Security level is baseline or restricted, hostPath elsewhere. */
export type InjectionModeChoice = 'hostPath' | 'csi' | 'podSecurity';
export const INJECTION_MODE_CHOICES: readonly InjectionModeChoice[] = ['hostPath', 'csi', 'podSecurity'];

/** Problems with the injection mode, saying how to fix them (the agent's checks judge the kubelet directory). */
export function injectionModeProblems(mode: string): string[] {
  const problems: string[] = [];
  if (!INJECTION_MODE_CHOICES.includes(mode as InjectionModeChoice) && !isPlaceholder(mode)) {
    problems.push(`injectionMode "${mode}" is not one of ${INJECTION_MODE_CHOICES.join(', ')}; use hostPath, or csi/podSecurity for namespaces that enforce Pod Security baseline or restricted`);
  }
  return problems;
}

/**
 * The CSIDriver: inline ephemeral volumes only, nothing to attach, no pod information
 * needed, and never a chown/chmod of the (read-only, virtual) lxcfs files for fsGroup.
 */
export class LxcfsCsiDriver extends Construct {
  public readonly apiObject: ApiObject;

  constructor(scope: Construct, id: string, ctx: MetadataContext) {
    super(scope, id);
    this.apiObject = new ApiObject(this, 'Resource', {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'CSIDriver',
      metadata: objectMetadata(ctx, CSI_DRIVER_NAME, AGENT_COMPONENT, 'prerequisites', { namespaced: false }),
      spec: {
        attachRequired: false,
        podInfoOnMount: false,
        volumeLifecycleModes: ['Ephemeral'],
        fsGroupPolicy: 'None',
        requiresRepublish: false,
        storageCapacity: false,
      },
    });
  }
}

/** The agent's kubelet-directory mounts for the CSI plugin (`kubeletDir` as on the host). */
export function agentCsiMounts(kubeletDir: string): { volumeMounts: object[]; volumes: object[] } {
  const dir = kubeletDir.replace(/\/+$/, '');
  return {
    volumeMounts: [
      // Bidirectional: a volume published inside the agent's container must appear on the host,
      // where the kubelet makes the pods' subPath mounts from it.
      { name: 'kubelet-pods', mountPath: `${dir}/pods`, mountPropagation: 'Bidirectional' },
      { name: 'csi-socket', mountPath: `${dir}/plugins/${CSI_DRIVER_NAME}` },
      { name: 'kubelet-registration', mountPath: `${dir}/plugins_registry` },
    ],
    volumes: [
      { name: 'kubelet-pods', hostPath: { path: `${dir}/pods`, type: 'Directory' } },
      { name: 'csi-socket', hostPath: { path: `${dir}/plugins/${CSI_DRIVER_NAME}`, type: 'DirectoryOrCreate' } },
      { name: 'kubelet-registration', hostPath: { path: `${dir}/plugins_registry`, type: 'Directory' } },
    ],
  };
}
