/**
 * The kubelet's part of a pod injected in mode `csi`, as far as the suites need it (there is
 * no kubelet here): the volume's target directory it asks the CSI plugin to publish, the
 * subPath bind mounts it makes from that target for each container (`<pod>/volume-subpaths/
 * <volume>/<container>/<index>`, bound from the file inside the published volume), and the
 * bind mounts the runtime then gets, read-only as the volume mounts say. Built from the
 * webhook's real csi-mode patch of the reference pod.
 */
import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { parse as parseYaml } from 'yaml';
import { applyPatch, Operation } from 'fast-json-patch';
import { CSI_DRIVER_NAME, DEFAULT_LXCFS_FILES, DEFAULT_LXCFS_PATH, INJECT_ENABLED, INJECT_LABEL } from '../../../lib/contract';
import { lxcfsFileMounts } from '../../../lib/injection';
import { PodLike, PodMutator } from '../../../lib/webhook/mutate';
import { RuncMount } from './runc';

interface MutatedPod {
  spec: {
    volumes: { name: string; csi?: { driver: string; readOnly?: boolean }; hostPath?: unknown }[];
    containers: { name: string; volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[] }[];
  };
}

export interface CsiPodVolume {
  readonly podUid: string;
  readonly volumeId: string;
  /** What the kubelet passes as target_path. */
  readonly targetPath: string;
  /** One per container file: the kubelet's subPath mount point and its source inside the target. */
  readonly subPaths: readonly { readonly hostFile: string; readonly source: string; readonly mountPath: string; readonly readOnly: boolean }[];
}

/** The reference pod as the webhook mutates it in csi mode. */
export function csiMutatedReferencePod(): MutatedPod {
  const file = path.resolve(__dirname, '../../fixtures/test-lxcfs-deployment.yaml');
  const deployment = parseYaml(fs.readFileSync(file, 'utf8')) as { spec: { template: PodLike } };
  const pod = JSON.parse(JSON.stringify(deployment.spec.template)) as PodLike;
  pod.metadata = { ...pod.metadata, namespace: 'default', labels: { ...pod.metadata?.labels, [INJECT_LABEL]: INJECT_ENABLED } };
  const mutator = new PodMutator({ mounts: lxcfsFileMounts(DEFAULT_LXCFS_PATH, DEFAULT_LXCFS_FILES), ownNamespace: 'lxcfs-kit', mode: 'csi' });
  const plan = mutator.plan(pod, 'default');
  if (plan.patch.length === 0) throw new Error(`the webhook's csi mutation left the reference pod unchanged (${String(plan.skipped)})`);
  return applyPatch(pod, plan.patch as Operation[], false, false).newDocument as unknown as MutatedPod;
}

/** The kubelet's paths for the reference pod's first container, under a kubelet root directory. */
export function csiPodVolume(kubeletDir: string, podUid: string): CsiPodVolume {
  const pod = csiMutatedReferencePod();
  const csiVolumes = pod.spec.volumes.filter((v) => v.csi !== undefined);
  if (csiVolumes.length !== 1 || pod.spec.volumes.some((v) => v.hostPath !== undefined)) throw new Error('a csi-mode pod must carry exactly one CSI volume and no hostPath');
  const volume = csiVolumes[0];
  if (volume.csi?.driver !== CSI_DRIVER_NAME) throw new Error(`the CSI volume names driver ${String(volume.csi?.driver)}`);
  const podDir = path.join(kubeletDir, 'pods', podUid);
  const targetPath = path.join(podDir, 'volumes', 'kubernetes.io~csi', volume.name, 'mount');
  const container = pod.spec.containers[0];
  const subPaths = (container.volumeMounts ?? [])
    .map((vm, index) => ({ vm, index }))
    .filter(({ vm }) => vm.name === volume.name)
    .map(({ vm, index }) => {
      if (!vm.subPath) throw new Error(`volume mount ${vm.mountPath} of the CSI volume has no subPath`);
      return {
        hostFile: path.join(podDir, 'volume-subpaths', volume.name, container.name, String(index)),
        source: path.join(targetPath, vm.subPath),
        mountPath: vm.mountPath,
        readOnly: vm.readOnly === true,
      };
    });
  // The kubelet names an inline volume's handle after the pod and the volume.
  const volumeId = `csi-${createHash('sha256').update(`${podUid}${volume.name}`).digest('hex')}`;
  return { podUid, volumeId, targetPath, subPaths };
}

/** The kubelet's directories before NodePublishVolume: the target's parent exists, the target not. */
export function prepareVolumeDir(v: CsiPodVolume): void {
  fs.mkdirSync(path.dirname(v.targetPath), { recursive: true });
}

/** The kubelet's subPath handling: an empty file as mount point, bound from the file inside the volume. */
export function bindSubPaths(v: CsiPodVolume): void {
  for (const s of v.subPaths) {
    fs.mkdirSync(path.dirname(s.hostFile), { recursive: true });
    fs.writeFileSync(s.hostFile, '');
    execFileSync('mount', ['--bind', s.source, s.hostFile]);
  }
}

/** Pod teardown: the kubelet removes its subPath mounts before it unpublishes the volume. */
export function unbindSubPaths(v: CsiPodVolume): void {
  for (const s of v.subPaths) {
    execFileSync('umount', [s.hostFile]);
    fs.rmSync(s.hostFile);
  }
}

/** The container runtime's mounts: each subPath mount point bound into the container. */
export function runtimeMounts(v: CsiPodVolume): RuncMount[] {
  return v.subPaths.map((s) => ({ destination: s.mountPath, type: 'bind', source: s.hostFile, options: ['rbind', s.readOnly ? 'ro' : 'rw'] }));
}
