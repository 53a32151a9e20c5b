/**
 * A minimal HTTP/1.1 client for many requests on one kept-alive TLS connection: the fuzz
 * tests send a hundred thousand admissions, and Node's client machinery per request would
 * spend the test's time in the client instead of in the server under test. It understands
 * only what the webhook sends: a status line, headers and a Content-Length body.
 *
 * One request is outstanding at a time, as the API server's Go client does: Node's server
 * stops reading a pipelined stream once its queued answers pass the socket's high-water mark.
 */
import * as tls from 'tls';

export interface PipelinedRequest {
  /** @default '/mutate' */
  readonly path?: string;
  readonly body: Buffer;
}

export interface PipelinedAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export class PipelinedConnection {
  private readonly socket: tls.TLSSocket;
  private buffer: Buffer = Buffer.alloc(0);
  private waiting?: { count: number; answers: PipelinedAnswer[]; resolve: (a: PipelinedAnswer[]) => void; reject: (e: Error) => void };
  private failure?: Error;
  private readonly ready: Promise<void>;

  constructor(port: number, ca: string) {
    this.socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('secureConnect', () => resolve());
      this.socket.once('error', reject);
    });
    this.socket.on('data', (d: Buffer) => {
      this.buffer = this.buffer.length === 0 ? d : Buffer.concat([this.buffer, d]);
      this.drain();
    });
    const fail = (err: Error): void => {
      this.failure ??= err;
      this.waiting?.reject(err);
      this.waiting = undefined;
    };
    this.socket.on('error', fail);
    this.socket.on('close', () => fail(new Error('connection closed by the server')));
  }

  /** Sends the requests one after the other and resolves with their answers, in order. */
  async exchange(requests: readonly PipelinedRequest[]): Promise<PipelinedAnswer[]> {
    const answers: PipelinedAnswer[] = [];
    for (const r of requests) answers.push((await this.send([r]))[0]);
    return answers;
  }

  private async send(requests: readonly PipelinedRequest[]): Promise<PipelinedAnswer[]> {
    await this.ready;
    if (this.failure) throw this.failure;
    const parts: Buffer[] = [];
    for (const r of requests) {
      parts.push(Buffer.from(`POST ${r.path ?? '/mutate'} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${r.body.length}\r\n\r\n`), r.body);
    }
    const done = new Promise<PipelinedAnswer[]>((resolve, reject) => (this.waiting = { count: requests.length, answers: [], resolve, reject }));
    this.socket.write(Buffer.concat(parts));
    return done;
  }

  close(): void {
    this.socket.destroy();
  }

  private drain(): void {
    const w = this.waiting;
    while (w && w.answers.length < w.count) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(head[0]);
      const headers: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      const length = Number(headers['content-length']);
      if (!status || !Number.isInteger(length)) {
        w.reject(new Error(`malformed answer head: ${JSON.stringify(head.join(' | ').slice(0, 200))}`));
        this.waiting = undefined;
        return;
      }
      if (this.buffer.length < end + 4 + length) return;
      const body = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
      this.buffer = this.buffer.subarray(end + 4 + length);
      w.answers.push({ status: Number(status[1]), headers, body });
    }
    if (w && w.answers.length === w.count) {
      this.waiting = undefined;
      w.resolve(w.answers);
    }
  }
}
