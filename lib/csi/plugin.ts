/**
 * The agent's CSI node plugin for the injected ephemeral inline volume: the Identity and
 * Node services on `<kubelet dir>/plugins/<driver>/csi.sock`, and the kubelet's
 * plugin-registration service on `<kubelet dir>/plugins_registry/<driver>-reg.sock`, which
 * the kubelet's plugin watcher discovers by itself (so no registrar sidecar is needed).
 */
import * as fs from 'fs';
import * as path from 'path';
import { CSI_DRIVER_NAME, VERSION } from '../contract';
import { GrpcServer, serveUnary } from './grpc';
import {
  decodeEmpty,
  decodeNodePublishVolumeRequest,
  decodeNodeUnpublishVolumeRequest,
  decodeRegistrationStatus,
  EMPTY,
  encodeGetPluginInfoResponse,
  encodeNodeGetInfoResponse,
  encodePluginInfo,
  encodeProbeResponse,
} from './messages';
import { Mounter, VolumePublisher } from './publish';
import type { LineLog } from '../log';

/** The CSI versions the plugin speaks, as the kubelet's registration handler expects them. */
export const SUPPORTED_CSI_VERSIONS: readonly string[] = ['1.0.0'];

export interface CsiPluginConfig {
  /** The kubelet's root directory as the agent sees it (the same path as on the host). */
  readonly kubeletDir: string;
  /** The Kubernetes node name; NodeGetInfo answers it as the node ID. */
  readonly nodeId: string;
  readonly lxcfsPath: string;
  readonly mounter: Mounter;
  readonly log: LineLog;
  /** @default CSI_DRIVER_NAME */
  readonly driverName?: string;
}

export interface CsiSockets {
  readonly endpoint: string;
  readonly registration: string;
}

export function csiSockets(kubeletDir: string, driverName: string = CSI_DRIVER_NAME): CsiSockets {
  return {
    endpoint: path.join(kubeletDir, 'plugins', driverName, 'csi.sock'),
    registration: path.join(kubeletDir, 'plugins_registry', `${driverName}-reg.sock`),
  };
}

export interface CsiPlugin {
  readonly sockets: CsiSockets;
  readonly publisher: VolumePublisher;
  close(): Promise<void>;
}

export async function startCsiPlugin(config: CsiPluginConfig): Promise<CsiPlugin> {
  const driver = config.driverName ?? CSI_DRIVER_NAME;
  const sockets = csiSockets(config.kubeletDir, driver);
  const publisher = new VolumePublisher({ lxcfsPath: config.lxcfsPath, podsDir: path.join(config.kubeletDir, 'pods'), mounter: config.mounter, log: config.log });
  const onError = (err: Error): void => config.log(`csi: ${err.message}`, undefined, 'error');

  const csiHandlers = new Map<string, (req: Buffer) => Promise<Buffer> | Buffer>([
    ['/csi.v1.Identity/GetPluginInfo', (req) => (decodeEmpty(req), encodeGetPluginInfoResponse(driver, VERSION))],
    // No CONTROLLER_SERVICE capability: a node-only plugin.
    ['/csi.v1.Identity/GetPluginCapabilities', (req) => (decodeEmpty(req), EMPTY)],
    ['/csi.v1.Identity/Probe', async (req) => (decodeEmpty(req), encodeProbeResponse(await publisher.lxcfsServes()))],
    // No STAGE_UNSTAGE_VOLUME: the kubelet goes straight to NodePublishVolume.
    ['/csi.v1.Node/NodeGetCapabilities', (req) => (decodeEmpty(req), EMPTY)],
    ['/csi.v1.Node/NodeGetInfo', (req) => (decodeEmpty(req), encodeNodeGetInfoResponse(config.nodeId))],
    ['/csi.v1.Node/NodePublishVolume', async (req) => (await publisher.publish(decodeNodePublishVolumeRequest(req)), EMPTY)],
    ['/csi.v1.Node/NodeUnpublishVolume', async (req) => (await publisher.unpublish(decodeNodeUnpublishVolumeRequest(req)), EMPTY)],
  ]);
  const registrationHandlers = new Map<string, (req: Buffer) => Buffer>([
    ['/pluginregistration.Registration/GetInfo', (req) => (decodeEmpty(req), encodePluginInfo({ type: 'CSIPlugin', name: driver, endpoint: sockets.endpoint, supportedVersions: SUPPORTED_CSI_VERSIONS }))],
    [
      '/pluginregistration.Registration/NotifyRegistrationStatus',
      (req) => {
        const status = decodeRegistrationStatus(req);
        if (status.pluginRegistered) config.log(`csi: the kubelet registered driver ${driver}`);
        else config.log(`csi: the kubelet refused driver ${driver}: ${status.error.slice(0, 300)}`, undefined, 'error');
        return EMPTY;
      },
    ],
  ]);

  fs.mkdirSync(path.dirname(sockets.endpoint), { recursive: true, mode: 0o750 });
  fs.mkdirSync(path.dirname(sockets.registration), { recursive: true, mode: 0o750 });
  // The endpoint first: the kubelet dials it as soon as it sees the registration socket.
  const servers: GrpcServer[] = [];
  servers.push(await serveUnary(sockets.endpoint, csiHandlers, onError));
  try {
    servers.push(await serveUnary(sockets.registration, registrationHandlers, onError));
  } catch (err) {
    await servers[0].close();
    throw err;
  }
  config.log(`csi: driver ${driver} serves ${sockets.endpoint}; registration at ${sockets.registration}`);
  return {
    sockets,
    publisher,
    close: async () => {
      // Registration first, so the kubelet stops sending new calls before the endpoint goes.
      for (const s of [...servers].reverse()) await s.close();
    },
  };
}
