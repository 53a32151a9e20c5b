/**
 * The protocol messages the plugin serves, with the field numbers of the CSI
 * specification (csi.v1, spec v1.x `csi.proto`) and of the kubelet's plugin-registration
 * API (`pluginregistration` v1 `api.proto`). Only the direction the plugin needs:
 * requests are decoded, responses encoded. test/csi/proto/*.proto hold the same subset
 * as .proto text, which the tests compile with an independent protobuf implementation.
 */
import { boolField, Fields, messageField, ProtoWriter, readFields, stringField, stringMap } from './proto';

// ---- pluginregistration (kubelet plugin watcher) ---------------------------------------------

/** `PluginInfo`: what GetInfo answers. */
export interface PluginInfo {
  readonly type: string;
  readonly name: string;
  readonly endpoint: string;
  readonly supportedVersions: readonly string[];
}

export function encodePluginInfo(info: PluginInfo): Buffer {
  return new ProtoWriter().string(1, info.type).string(2, info.name).string(3, info.endpoint).strings(4, info.supportedVersions).finish();
}

/** `RegistrationStatus`: the kubelet's verdict on our registration. */
export interface RegistrationStatus {
  readonly pluginRegistered: boolean;
  readonly error: string;
}

export function decodeRegistrationStatus(buf: Buffer): RegistrationStatus {
  const f = readFields(buf);
  return { pluginRegistered: boolField(f, 1), error: stringField(f, 2) };
}

// ---- csi.v1 Identity ---------------------------------------------------------------------------

export function encodeGetPluginInfoResponse(name: string, vendorVersion: string): Buffer {
  return new ProtoWriter().string(1, name).string(2, vendorVersion).finish();
}

/** `ProbeResponse { google.protobuf.BoolValue ready = 1; }` */
export function encodeProbeResponse(ready: boolean): Buffer {
  return new ProtoWriter().message(1, new ProtoWriter().bool(1, ready)).finish();
}

// ---- csi.v1 Node -------------------------------------------------------------------------------

export function encodeNodeGetInfoResponse(nodeId: string): Buffer {
  return new ProtoWriter().string(1, nodeId).finish();
}

/** The fields of `NodePublishVolumeRequest` the plugin acts on (secrets are never decoded). */
export interface NodePublishVolumeRequest {
  readonly volumeId: string;
  readonly targetPath: string;
  readonly stagingTargetPath: string;
  readonly readonly: boolean;
  /** Absent when the CO sent no capability; `block` is refused (the volume is a directory tree). */
  readonly accessType: 'mount' | 'block' | 'none';
  readonly volumeContext: ReadonlyMap<string, string>;
}

export function decodeNodePublishVolumeRequest(buf: Buffer): NodePublishVolumeRequest {
  const f = readFields(buf);
  return {
    volumeId: stringField(f, 1),
    stagingTargetPath: stringField(f, 3),
    targetPath: stringField(f, 4),
    accessType: accessTypeOf(messageField(f, 5)),
    readonly: boolField(f, 6),
    volumeContext: stringMap(f, 8),
  };
}

/** `VolumeCapability { oneof access_type { BlockVolume block = 1; MountVolume mount = 2; } ... }` */
function accessTypeOf(capability: Fields | undefined): NodePublishVolumeRequest['accessType'] {
  if (capability === undefined) return 'none';
  // A capability that names block at all is refused, whatever else it carries.
  if (capability.has(1)) return 'block';
  if (capability.has(2)) return 'mount';
  return 'none';
}

export interface NodeUnpublishVolumeRequest {
  readonly volumeId: string;
  readonly targetPath: string;
}

export function decodeNodeUnpublishVolumeRequest(buf: Buffer): NodeUnpublishVolumeRequest {
  const f = readFields(buf);
  return { volumeId: stringField(f, 1), targetPath: stringField(f, 2) };
}

/** Every empty request message (`InfoRequest`, `ProbeRequest`, ...): still checked to be valid protobuf. */
export function decodeEmpty(buf: Buffer): void {
  readFields(buf);
}

/** An empty response message. */
export const EMPTY = Buffer.alloc(0);
