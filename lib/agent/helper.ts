/**
 * Runs the native mount helper (native/lxcfs-kit-remount.c) for a batch of
 * requests and collects its answers. A request can block in the kernel on a
 * FUSE daemon that never answers (a container's hung mount, or a hung lxcfs):
 * the helper answers each request as it finishes, and when no answer comes
 * within the deadline it is killed, the request it was on is reported `hung`,
 * and the rest of the batch runs in a fresh helper. The agent's event loop never
 * waits on a FUSE path itself.
 */
import { ChildProcessWithoutNullStreams, spawn, spawnSync } from 'child_process';
import { AnswerResult, decodeAnswers, EncodedRequests, encodeRequests, HelperAnswer, HelperRequest, skipRecords } from './protocol';

export type OutcomeResult = AnswerResult | 'hung' | 'lost';

export interface HelperOutcome {
  readonly request: HelperRequest;
  /** `hung`: no answer within the deadline (helper killed); `lost`: the helper died first. */
  readonly result: OutcomeResult;
  readonly how: string;
  readonly errno: number;
  readonly message: string;
}

/** An outcome without its request (runEncoded: the caller knows what it sent). */
export type HelperResult = Omit<HelperOutcome, 'request'>;

/** How long one request may take before the helper is considered stuck on it. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 2000;
/**
 * Helpers a pass runs side by side. Not tied to the number of cores: a re-attach mostly waits in
 * the kernel (an RCU grace period per detached mount), so helpers overlap their waits. Measured on
 * 2 cores: 1,600 mounts took 110-150 ms with one helper, 70-90 with four, 72-76 with eight, 85-100
 * with sixteen; 8,000 mounts took 500-600 ms with one, 350-450 with four, 295-360 with eight.
 */
export const MAX_PARALLEL_HELPERS = 8;

export class MountHelper {
  /** Started helpers waiting for their requests (the helper reads all of them before acting). */
  private readonly standby: ChildProcessWithoutNullStreams[] = [];
  private closed = false;

  /**
   * @param standbyCount helpers kept started ahead of need (see refill()): a spawn blocks the
   * event loop until the child runs (10-15 ms each on a loaded machine), which a restart's
   * re-attach, waited on by every container, should not pay. Call close() when done.
   */
  constructor(
    readonly path: string,
    readonly requestTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
    private readonly standbyCount = 0,
  ) {
  }

  /** Ends the helpers on standby (each exits on the end of its input, having done nothing). */
  close(): void {
    this.closed = true;
    for (const child of this.standby.splice(0)) child.stdin.end();
  }

  /** Whether the kernel has open_tree/move_mount (5.2) and mount IDs in statx (5.8); the reason when not. Touches no FUSE path. */
  probe(): { supported: boolean; reason: string } {
    const r = spawnSync(this.path, ['probe'], { encoding: 'utf8' });
    if (r.error) return { supported: false, reason: `cannot run the mount helper ${this.path}: ${r.error.message}` };
    if (r.status === 0) return { supported: true, reason: '' };
    return { supported: false, reason: (r.stdout || r.stderr || `exit ${String(r.status)}`).trim() };
  }

  /** One outcome per request, in request order. Requests for one namespace should be adjacent (one setns). */
  async run(requests: readonly HelperRequest[]): Promise<HelperOutcome[]> {
    const results = await this.runEncoded({ bytes: encodeRequests(requests), count: requests.length });
    return results.map((r, i) => ({ request: requests[i], ...r }));
  }

  /** As run(), for requests already checked and encoded (the index's, built before they are needed). */
  async runEncoded(batch: EncodedRequests): Promise<HelperResult[]> {
    const out: HelperResult[] = [];
    let { bytes, count } = batch;
    while (count > 0) {
      const { answers, stuck } = await this.runOnce(bytes, count);
      for (let i = 0; i < count && i < answers.length; i++) {
        const a = answers[i];
        out.push({ result: a.result, how: a.how, errno: a.errno, message: a.message });
      }
      if (answers.length >= count) break;
      out.push({
        result: stuck ? 'hung' : 'lost',
        how: stuck ? 'timeout' : 'helper-exited',
        errno: 0,
        message: stuck ? `no answer within ${this.requestTimeoutMs} ms (a FUSE mount on the path does not answer)` : 'the mount helper exited before answering',
      });
      bytes = skipRecords(bytes, answers.length + 1);
      count -= answers.length + 1;
    }
    return out;
  }

  private take(): ChildProcessWithoutNullStreams {
    for (let child = this.standby.shift(); child !== undefined; child = this.standby.shift()) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) return child;
    }
    return this.start();
  }

  private start(): ChildProcessWithoutNullStreams {
    const child = spawn(this.path, ['attach'], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.on('error', () => undefined);
    return child;
  }

  /**
   * Starts the missing standby helpers. The owner calls this when it is idle (after a pass): a
   * spawn forks the agent (its page tables are copied), CPU that a pass in progress, with every
   * container waiting on it, should have.
   */
  refill(): void {
    while (!this.closed && this.standby.length < this.standbyCount) {
      const child = this.start();
      // One that fails to start or dies waiting is dropped (take() skips it too).
      const drop = (): void => {
        const at = this.standby.indexOf(child);
        if (at >= 0) this.standby.splice(at, 1);
      };
      child.on('error', drop);
      child.on('exit', drop);
      this.standby.push(child);
    }
  }

  /** Answers in order until the helper finishes, dies, or stalls on one request (`stuck`). */
  private runOnce(input: Buffer, count: number): Promise<{ answers: HelperAnswer[]; stuck: boolean }> {
    return new Promise((resolve, reject) => {
      const child = this.take();
      const answers: HelperAnswer[] = [];
      let pending: Buffer = Buffer.alloc(0);
      let stderr = '';
      let settled = false;
      const finish = (stuck: boolean): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ answers, stuck });
      };
      // One timer, restarted by each answer (refresh() allocates nothing; a pass gets thousands).
      const timer = setTimeout(() => {
        // The helper may sit in an uninterruptible FUSE wait: kill it and never wait for its exit.
        child.kill('SIGKILL');
        child.stdout.destroy();
        child.stderr.destroy();
        finish(true);
      }, this.requestTimeoutMs);
      child.stdout.on('data', (d: Buffer) => {
        if (settled) return;
        pending = pending.length === 0 ? d : Buffer.concat([pending, d]);
        let decoded;
        try {
          decoded = decodeAnswers(pending);
        } catch (err) {
          child.kill('SIGKILL');
          settled = true;
          clearTimeout(timer);
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        pending = pending.subarray(decoded.consumed);
        for (const a of decoded.answers) {
          if (a.index !== answers.length) {
            child.kill('SIGKILL');
            settled = true;
            clearTimeout(timer);
            reject(new Error(`the mount helper answered request ${a.index} where ${answers.length} was expected`));
            return;
          }
          answers.push(a);
        }
        timer.refresh();
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d.slice(0, 4096)));
      child.on('error', (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code) => {
        if (!settled && answers.length < count && code !== 0 && stderr.trim() !== '') {
          settled = true;
          clearTimeout(timer);
          reject(new Error(`mount helper exited with ${String(code)} after ${answers.length} of ${count} requests: ${stderr.trim()}`));
          return;
        }
        finish(false);
      });
      child.stdin.end(input);
    });
  }
}

