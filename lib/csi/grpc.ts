/**
 * A unary-only gRPC server over HTTP/2 cleartext on a Unix socket (the transport the
 * kubelet uses for CSI and plugin registration): length-prefixed messages, status in
 * trailers. node:http2 alone costs the agent a few MiB of RSS, a gRPC library several
 * times that; unary calls are all the CSI node service and registration need.
 */
import * as fs from 'fs';
import * as http2 from 'http2';
import { ProtoError } from './proto';

/** gRPC status codes used by the plugin (grpc/doc/statuscodes.md). */
export const Status = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  FAILED_PRECONDITION: 9,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;
export type StatusCode = (typeof Status)[keyof typeof Status];

/** An answer other than OK, with a message for the caller (the kubelet shows it in pod events). */
export class GrpcError extends Error {
  constructor(
    readonly code: StatusCode,
    message: string,
  ) {
    super(message);
  }
}

/** `/package.Service/Method` → handler of the serialized request, resolving to the serialized response. */
export type UnaryHandlers = ReadonlyMap<string, (request: Buffer) => Promise<Buffer> | Buffer>;

/** Requests of the plugin's protocols are a few hundred bytes; anything near this is not a kubelet. */
const MAX_REQUEST_BYTES = 64 * 1024;

export interface GrpcServer {
  readonly socketPath: string;
  /** Stops accepting, ends open sessions, and removes the socket file if it is still ours. */
  close(): Promise<void>;
}

/**
 * Listens on `socketPath`, replacing a socket file left there (by a crashed agent, or by the
 * agent this one takes over from: the kubelet dials the path per call, so new calls come here).
 */
export async function serveUnary(socketPath: string, handlers: UnaryHandlers, onError: (err: Error) => void): Promise<GrpcServer> {
  checkReplaceable(socketPath);
  const server = http2.createServer({ maxSessionMemory: 4 });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    s.on('error', () => undefined);
  });
  server.on('stream', (stream, headers) => handleStream(stream, headers, handlers, onError));
  server.on('sessionError', () => undefined);
  // Bound under a private name, then renamed into place: the switch from a predecessor's socket
  // is atomic, and closing the server (libuv unlinks the path it bound) cannot remove a
  // successor's socket.
  const bound = `${socketPath}.${process.pid}`;
  fs.rmSync(bound, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(bound, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', onError);
  fs.chmodSync(bound, 0o600);
  fs.renameSync(bound, socketPath);
  // Inode numbers are reused at once on tmpfs: the change time tells our file from a successor's.
  const identity = socketIdentity(socketPath);
  return {
    socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        try {
          if (socketIdentity(socketPath) === identity) fs.rmSync(socketPath, { force: true });
        } catch {
          // already gone
        }
        server.close(() => resolve());
        for (const s of sessions) s.close();
      }),
  };
}

/** grpc-message: UTF-8, with every byte outside printable ASCII, and `%` itself, percent-encoded (gRPC over HTTP/2 spec). */
function percentEncode(message: string): string {
  let out = '';
  for (const b of Buffer.from(message, 'utf8')) out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

function socketIdentity(socketPath: string): string {
  const st = fs.statSync(socketPath, { bigint: true });
  return `${st.dev}:${st.ino}:${st.ctimeNs}`;
}

/** A socket file there (a predecessor's, or a crashed agent's) is replaced; anything else is not ours to remove. */
function checkReplaceable(socketPath: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(socketPath);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${socketPath} exists and is not a socket; remove it or choose another kubelet directory`);
}

function handleStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, handlers: UnaryHandlers, onError: (err: Error) => void): void {
  stream.on('error', () => undefined);
  const answer = (code: StatusCode, message: string, body?: Buffer): void => {
    if (stream.destroyed || stream.closed) return;
    const grpcMessage = percentEncode(message.slice(0, 1024));
    if (body === undefined) {
      // Trailers-only response: status in the one HEADERS frame.
      stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto', 'grpc-status': String(code), 'grpc-message': grpcMessage }, { endStream: true });
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto' }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(code), 'grpc-message': grpcMessage }));
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    stream.end(frame);
  };
  const contentType = String(headers['content-type'] ?? '');
  if (headers[':method'] !== 'POST' || !contentType.startsWith('application/grpc')) {
    if (!stream.destroyed) stream.respond({ ':status': 415 }, { endStream: true });
    return;
  }
  const handler = handlers.get(String(headers[':path'] ?? ''));
  const chunks: Buffer[] = [];
  let size = 0;
  let tooBig = false;
  stream.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_REQUEST_BYTES + 5) tooBig = true;
    else chunks.push(chunk);
  });
  stream.on('end', () => {
    if (tooBig) return answer(Status.RESOURCE_EXHAUSTED, `request larger than ${MAX_REQUEST_BYTES} bytes`);
    if (handler === undefined) return answer(Status.UNIMPLEMENTED, `unknown method ${String(headers[':path']).slice(0, 200)}`);
    const body = Buffer.concat(chunks);
    // Unary: exactly one length-prefixed, uncompressed message.
    if (body.length < 5) return answer(Status.INVALID_ARGUMENT, 'request carries no message');
    if (body[0] !== 0) return answer(Status.UNIMPLEMENTED, 'compressed messages are not supported');
    const len = body.readUInt32BE(1);
    if (len !== body.length - 5) return answer(Status.INVALID_ARGUMENT, 'request must carry exactly one message');
    Promise.resolve()
      .then(() => handler(body.subarray(5)))
      .then(
        (response) => answer(Status.OK, '', response),
        (err: unknown) => {
          if (err instanceof GrpcError) return answer(err.code, err.message);
          if (err instanceof ProtoError) return answer(Status.INVALID_ARGUMENT, `malformed message: ${err.message}`);
          onError(err as Error);
          answer(Status.INTERNAL, (err as Error).message ?? 'internal error');
        },
      );
  });
}
