/**
 * Certificate files mode (cert-manager, or a Secret mounted by the operator):
 * read the pair, then poll it and hand every new valid pair to the server.
 * Polling by content, not fs.watch: mounted Secrets change by swapping a
 * `..data` symlink, which inotify on the file path does not report reliably.
 */
import * as fs from 'fs';
import { errorText, Logger } from '../log';
import { assertKeyMatches, KeyPairPem } from './tls';

export function readPair(certFile: string, keyFile: string): KeyPairPem {
  const certPem = readText(certFile, '--tls-cert-file');
  const keyPem = readText(keyFile, '--tls-key-file');
  assertKeyMatches(certPem, keyPem);
  return { certPem, keyPem };
}

function readText(file: string, flag: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? errorText(err)}`);
  }
}

export class CertFileWatcher {
  private timer?: NodeJS.Timeout;
  private lastError = '';

  constructor(
    private readonly certFile: string,
    private readonly keyFile: string,
    private current: KeyPairPem,
    private readonly onChange: (pair: KeyPairPem) => void,
    private readonly log: Logger,
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One poll; a half-written or mismatched pair is logged and retried on the next poll. */
  check(): void {
    let pair: KeyPairPem;
    try {
      pair = readPair(this.certFile, this.keyFile);
    } catch (err) {
      const text = errorText(err);
      if (text !== this.lastError) this.log.warn('certificate files unusable; keeping the current certificate', { error: text });
      this.lastError = text;
      return;
    }
    this.lastError = '';
    if (pair.certPem === this.current.certPem && pair.keyPem === this.current.keyPem) return;
    try {
      this.onChange(pair);
      this.current = pair;
    } catch (err) {
      this.log.warn('new certificate files rejected; keeping the current certificate', { error: errorText(err) });
    }
  }
}
