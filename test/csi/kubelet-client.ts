/**
 * The kubelet's side of the CSI and plugin-registration protocols, played with an
 * independent gRPC and protobuf implementation (@grpc/grpc-js + @grpc/proto-loader,
 * compiling the .proto subset beside this file), so the plugin's hand-written HTTP/2
 * framing and message codec are checked against someone else's. There is no kubelet here.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as path from 'path';

const definition = protoLoader.loadSync([path.join(__dirname, 'proto/csi-node.proto'), path.join(__dirname, 'proto/registration.proto')], {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
});
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  csi: { v1: { Identity: grpc.ServiceClientConstructor; Node: grpc.ServiceClientConstructor } };
  pluginregistration: { Registration: grpc.ServiceClientConstructor };
};

export type ServiceName = 'Identity' | 'Node' | 'Registration';

export interface CallError {
  readonly code: number;
  readonly details: string;
}

/** One unary call over a Unix socket, the way the kubelet dials a plugin: a fresh connection per call. */
export function callPlugin<T = Record<string, unknown>>(socket: string, service: ServiceName, method: string, request: object, timeoutMs = 20000): Promise<T> {
  const Ctor = service === 'Registration' ? loaded.pluginregistration.Registration : loaded.csi.v1[service];
  const client = new Ctor(`unix://${socket}`, grpc.credentials.createInsecure());
  return new Promise<T>((resolve, reject) => {
    const fn = (client as unknown as Record<string, (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: T) => void) => void>)[method];
    if (typeof fn !== 'function') throw new Error(`no method ${service}.${method}`);
    fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
      client.close();
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- callers inspect the gRPC status (code, details) as plain data
      if (err) reject({ code: err.code, details: err.details } satisfies CallError);
      else resolve(res);
    });
  });
}

/** The kubelet's request for an ephemeral inline volume (no staging, mount access, read-only per the pod). */
export function publishRequest(volumeId: string, targetPath: string): object {
  return {
    volume_id: volumeId,
    target_path: targetPath,
    volume_capability: { mount: {}, access_mode: { mode: 'SINGLE_NODE_WRITER' } },
    readonly: true,
    volume_context: { 'csi.storage.k8s.io/ephemeral': 'true' },
  };
}

export const GRPC_STATUS = grpc.status;
