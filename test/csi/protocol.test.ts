/**
 * The plugin's hand-written protobuf codec and gRPC framing against independent
 * implementations (protobufjs compiling the .proto subset written from the CSI spec and the
 * kubelet's registration API; grpc-js as the client), and against hostile bytes: any input
 * decodes or fails with ProtoError, and the server answers every request and lives on.
 */
import * as fc from 'fast-check';
import * as fs from 'fs';
import * as http2 from 'http2';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as protobuf from 'protobufjs';
import {
  decodeNodePublishVolumeRequest,
  decodeNodeUnpublishVolumeRequest,
  decodeRegistrationStatus,
  encodeGetPluginInfoResponse,
  encodeNodeGetInfoResponse,
  encodePluginInfo,
  encodeProbeResponse,
} from '../../lib/csi/messages';
import { GrpcError, GrpcServer, serveUnary, Status } from '../../lib/csi/grpc';
import { ProtoError, readFields } from '../../lib/csi/proto';
import { callPlugin, CallError } from './kubelet-client';

const root = new protobuf.Root();
root.loadSync([path.join(__dirname, 'proto/csi-node.proto'), path.join(__dirname, 'proto/registration.proto')], { keepCase: true });
const type = (name: string): protobuf.Type => root.lookupType(name);
const decodeWith = (name: string, buf: Buffer): Record<string, unknown> =>
  type(name).toObject(type(name).decode(buf), { longs: String, defaults: true, arrays: true, objects: true });
const encodeWith = (name: string, obj: object): Buffer => Buffer.from(type(name).encode(type(name).fromObject(obj)).finish());

const text = fc.string({ unit: 'grapheme', maxLength: 60 });
const stringMap = fc.dictionary(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), { maxKeys: 4 });

describe('messages agree with protobufjs compiling the .proto subset', () => {
  test('responses the plugin encodes decode to the same fields', () => {
    fc.assert(
      fc.property(text, text, text, fc.array(text, { maxLength: 4 }), fc.boolean(), (a, b, c, versions, ready) => {
        expect(decodeWith('pluginregistration.PluginInfo', encodePluginInfo({ type: a, name: b, endpoint: c, supportedVersions: versions }))).toEqual({
          type: a,
          name: b,
          endpoint: c,
          supported_versions: versions,
        });
        expect(decodeWith('csi.v1.GetPluginInfoResponse', encodeGetPluginInfoResponse(a, b))).toEqual({ name: a, vendor_version: b, manifest: {} });
        expect(decodeWith('csi.v1.NodeGetInfoResponse', encodeNodeGetInfoResponse(c))).toMatchObject({ node_id: c, max_volumes_per_node: '0' });
        expect(decodeWith('csi.v1.ProbeResponse', encodeProbeResponse(ready))).toEqual({ ready: { value: ready } });
      }),
      { numRuns: 2000 },
    );
  });

  test('requests protobufjs encodes decode to the same fields', () => {
    const capability = fc.constantFrom<object | undefined>(undefined, { mount: {} }, { mount: { fs_type: 'x', mount_flags: ['ro'] } }, { block: {} }, { access_mode: { mode: 'SINGLE_NODE_WRITER' } });
    fc.assert(
      fc.property(text, text, text, fc.boolean(), capability, stringMap, stringMap, (volumeId, target, staging, readonly, cap, context, secrets) => {
        const req = { volume_id: volumeId, target_path: target, staging_target_path: staging, readonly, volume_capability: cap, volume_context: context, secrets };
        const decoded = decodeNodePublishVolumeRequest(encodeWith('csi.v1.NodePublishVolumeRequest', req));
        expect(decoded.volumeId).toBe(volumeId);
        expect(decoded.targetPath).toBe(target);
        expect(decoded.stagingTargetPath).toBe(staging);
        expect(decoded.readonly).toBe(readonly);
        expect(decoded.accessType).toBe(cap === undefined ? 'none' : 'block' in cap ? 'block' : 'mount' in cap ? 'mount' : 'none');
        expect(Object.fromEntries(decoded.volumeContext)).toEqual(context);
        const un = decodeNodeUnpublishVolumeRequest(encodeWith('csi.v1.NodeUnpublishVolumeRequest', { volume_id: volumeId, target_path: target }));
        expect(un).toEqual({ volumeId, targetPath: target });
        const status = decodeRegistrationStatus(encodeWith('pluginregistration.RegistrationStatus', { plugin_registered: readonly, error: staging }));
        expect(status).toEqual({ pluginRegistered: readonly, error: staging });
      }),
      { numRuns: 2000 },
    );
  });

  test('unknown fields of every wire type are skipped (newer COs may send more)', () => {
    // field 20 varint, field 21 fixed64, field 22 bytes, field 23 fixed32, then target_path.
    const extra = Buffer.from([0xa0, 0x01, 0x7f, 0xa9, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0xb2, 0x01, 2, 0x61, 0x62, 0xbd, 0x01, 1, 2, 3, 4]);
    const known = encodeWith('csi.v1.NodeUnpublishVolumeRequest', { volume_id: 'v', target_path: '/t' });
    expect(decodeNodeUnpublishVolumeRequest(Buffer.concat([extra, known]))).toEqual({ volumeId: 'v', targetPath: '/t' });
  });
});

describe('hostile bytes', () => {
  const decoders = [decodeNodePublishVolumeRequest, decodeNodeUnpublishVolumeRequest, decodeRegistrationStatus, readFields];

  test('any input decodes or fails with ProtoError, never anything else (50,000 cases)', () => {
    let rejected = 0;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.constantFrom(...decoders), (bytes, decode) => {
        try {
          decode(Buffer.from(bytes));
        } catch (err) {
          if (!(err instanceof ProtoError)) throw err;
          rejected++;
        }
      }),
      { numRuns: 50000 },
    );
    // The generator does reach the error paths.
    expect(rejected).toBeGreaterThan(1000);
  });

  test('lengths beyond the buffer, overlong varints, group wire types and field 0 are refused', () => {
    for (const bytes of [
      [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], // string claims 4 GiB
      [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // 11-byte varint
      [0x0b], // start group
      [0x00, 0x01], // field 0
      [0x12, 0x05, 0x0a], // nested message truncated
    ]) {
      expect(() => decodeNodePublishVolumeRequest(Buffer.from(bytes))).toThrow(ProtoError);
    }
    // A string where a nested message belongs, and a varint where a string belongs.
    expect(() => decodeNodePublishVolumeRequest(Buffer.from([0x2a, 0x01, 0xff]))).toThrow(ProtoError);
    expect(() => decodeNodeUnpublishVolumeRequest(Buffer.from([0x08, 0x01]))).toThrow(ProtoError);
  });
});

describe('gRPC framing (no kubelet here: grpc-js and raw HTTP/2 as clients)', () => {
  let dir: string;
  let server: GrpcServer;
  let socket: string;
  const errors: Error[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-grpc-'));
    socket = path.join(dir, 'csi.sock');
    const handlers = new Map<string, (req: Buffer) => Promise<Buffer> | Buffer>([
      ['/csi.v1.Node/NodeGetInfo', () => encodeNodeGetInfoResponse('node-1')],
      [
        '/csi.v1.Node/NodeUnpublishVolume',
        (req) => {
          const r = decodeNodeUnpublishVolumeRequest(req);
          if (r.volumeId === 'busy') throw new GrpcError(Status.UNAVAILABLE, 'lxcfs does not serve yet; retry');
          if (r.volumeId === 'boom') throw new Error('unexpected');
          if (r.volumeId === 'text') throw new GrpcError(Status.FAILED_PRECONDITION, r.targetPath);
          return Buffer.alloc(0);
        },
      ],
    ]);
    server = await serveUnary(socket, handlers, (e) => errors.push(e));
  });

  afterAll(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('status codes and messages reach a grpc-js client; unknown methods are UNIMPLEMENTED', async () => {
    expect(await callPlugin(socket, 'Node', 'NodeGetInfo', {})).toMatchObject({ node_id: 'node-1' });
    expect(await callPlugin(socket, 'Node', 'NodeUnpublishVolume', { volume_id: 'ok', target_path: '/t' })).toEqual({});
    const fail = (req: object, method = 'NodeUnpublishVolume'): Promise<CallError> =>
      callPlugin(socket, 'Node', method, req).then(
        () => ({ code: -1, details: 'succeeded' }),
        (e: CallError) => e,
      );
    expect(await fail({ volume_id: 'busy' })).toEqual({ code: Status.UNAVAILABLE, details: 'lxcfs does not serve yet; retry' });
    // Non-ASCII and % survive the percent-encoding of grpc-message.
    expect(await fail({ volume_id: 'text', target_path: '100% /pods/ü;x' })).toEqual({ code: Status.FAILED_PRECONDITION, details: '100% /pods/ü;x' });
    expect((await fail({ volume_id: 'boom' })).code).toBe(Status.INTERNAL);
    expect(errors.map((e) => e.message)).toEqual(['unexpected']);
    expect((await fail({}, 'NodeGetCapabilities')).code).toBe(Status.UNIMPLEMENTED);
  });

  test('malformed frames get an error status and the server keeps serving (2,000 raw HTTP/2 requests)', async () => {
    const session = http2.connect('http://localhost', { createConnection: () => net.connect(socket) });
    const raw = (headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<{ status: string | undefined; grpc: string | undefined }> =>
      new Promise((resolve) => {
        const req = session.request({ ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers', ...headers });
        let status: string | undefined;
        let grpc: string | undefined;
        req.on('response', (h) => {
          status = String(h[':status']);
          if (h['grpc-status'] !== undefined) grpc = String(h['grpc-status']);
        });
        req.on('trailers', (t: http2.IncomingHttpHeaders) => (grpc = String(t['grpc-status'])));
        req.on('data', () => undefined);
        req.on('close', () => resolve({ status, grpc }));
        req.on('error', () => resolve({ status, grpc }));
        req.end(body);
      });
    const frame = (flag: number, len: number, payload: Buffer): Buffer => {
      const head = Buffer.alloc(5);
      head[0] = flag;
      head.writeUInt32BE(len >>> 0, 1);
      return Buffer.concat([head, payload]);
    };
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('/csi.v1.Node/NodeUnpublishVolume', '/csi.v1.Node/NodeGetInfo', '/x/y', ''),
        fc.uint8Array({ maxLength: 40 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        async (p, payload, shape, len) => {
          const body = shape === 0 ? Buffer.from(payload) : shape === 1 ? frame(0, payload.length, Buffer.from(payload)) : shape === 2 ? frame(1, payload.length, Buffer.from(payload)) : frame(0, len, Buffer.from(payload));
          const r = await raw({ ':path': p || '/' }, body);
          expect(r.status).toBe('200');
          expect(r.grpc).toMatch(/^\d+$/);
        },
      ),
      { numRuns: 2000 },
    );
    // Wrong content type: plain HTTP 415, no gRPC status.
    expect((await raw({ ':path': '/csi.v1.Node/NodeGetInfo', 'content-type': 'text/plain' }, Buffer.alloc(0))).status).toBe('415');
    // Larger than the limit.
    expect((await raw({ ':path': '/csi.v1.Node/NodeGetInfo' }, frame(0, 100000, Buffer.alloc(100000)))).grpc).toBe(String(Status.RESOURCE_EXHAUSTED));
    session.close();
    expect(await callPlugin(socket, 'Node', 'NodeGetInfo', {})).toMatchObject({ node_id: 'node-1' });
    expect(errors.length).toBe(1);
  }, 120000);
});
