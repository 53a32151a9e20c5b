/**
 * Self-managed certificates: a CA and a serving certificate kept in one Secret,
 * shared by every replica, and the CA published as the caBundle of the webhook
 * configuration.
 *
 * - Creation is race-free across replicas: whoever creates the Secret first
 *   wins (409 for the others, who then load the winner's).
 * - Renewal is an optimistic update (resourceVersion); the loser of a race
 *   re-reads and serves the winner's certificate.
 * - A new CA is first added to the caBundle next to the old one; the serving
 *   certificate moves to the new CA only once the bundle carrying it is
 *   published, so the API server never sees a certificate it cannot verify.
 * - The caBundle is re-patched whenever a sync or upgrade replaced the
 *   configuration without it; only `webhooks[i].clientConfig.caBundle` is
 *   touched, each guarded by a `test` of the webhook's name.
 */
import * as crypto from 'crypto';
import { COMPONENT_LABEL, PART_OF_LABEL, PROJECT_NAME, WEBHOOK_COMPONENT } from '../contract';
import { ConflictError, KubeApi, SecretState } from './kube-api';
import { errorText, Logger } from '../log';
import { WebhookMetrics } from './metrics';
import { assertKeyMatches, bundleTrusts, certFacts, createCa, issueServingCert, KeyPairPem, renewalTime, serviceDnsNames, splitPemBundle } from './tls';

export const SECRET_KEYS = { caBundle: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key' } as const;

export interface SelfCertOptions {
  readonly kube: KubeApi;
  readonly namespace: string;
  readonly secretName: string;
  readonly serviceName: string;
  readonly webhookConfiguration: string;
  readonly certLifetimeMs: number;
  readonly caLifetimeMs: number;
  readonly logger: Logger;
  readonly metrics: WebhookMetrics;
  /** Called with every serving pair that differs from the last one. */
  readonly onServingPair: (pair: KeyPairPem) => void;
  readonly now?: () => number;
}

/** The Secret's content, checked. */
interface Material {
  readonly caBundle: string; // current CA first, then older CAs still valid
  readonly caKey: string;
  readonly serving: KeyPairPem;
}

const LABELS = { [PART_OF_LABEL]: PROJECT_NAME, [COMPONENT_LABEL]: WEBHOOK_COMPONENT };

export class SelfCertManager {
  private servingPem = '';
  private knownCas: string[] = [];
  /** What the last look at the webhook configuration found; 'unknown' until one succeeded. */
  private configState: 'unknown' | 'absent' | 'published' = 'unknown';
  private missingConfigLogged = false;
  private readonly dnsNames: string[];
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly o: SelfCertOptions) {
    this.dnsNames = serviceDnsNames(o.serviceName, o.namespace);
    this.log = o.logger.child({ subsystem: 'certificates' });
    this.now = o.now ?? Date.now;
  }

  /** True when the webhook configuration, at the last look, carried this process's CA bundle. */
  isPublished(): boolean {
    return this.configState === 'published';
  }

  /**
   * Whether this replica may receive admissions: the API server verifies it with the published
   * bundle, or there is no configuration yet to call it at all. Not waiting for publication in
   * the latter case is what lets a GitOps sync that applies the configuration only after the
   * Deployment is healthy (Argo CD waves) complete; the watch publishes as soon as it appears.
   */
  readyToServe(): boolean {
    return this.servingPem !== '' && (this.configState === 'published' || this.configState === 'absent');
  }

  /** One reconciliation: load or create, publish, rotate when due, hand the serving pair over. */
  async sync(): Promise<KeyPairPem> {
    let state = await this.loadOrCreate();
    let material = this.check(state);
    const currentCaPublished = await this.publish(material.caBundle, material.serving.certPem);
    const next = this.rotation(material, currentCaPublished);
    if (next) {
      try {
        state = await this.o.kube.replaceSecret(this.o.namespace, this.o.secretName, toData(next.material), LABELS, state.resourceVersion);
        this.log.info('certificates rotated', { what: next.what });
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        this.log.info('another replica rotated the certificates first; using theirs');
        state = (await this.o.kube.getSecret(this.o.namespace, this.o.secretName)) ?? state;
      }
      material = this.check(state);
      await this.publish(material.caBundle, material.serving.certPem);
    }
    this.deliver(material);
    return material.serving;
  }

  private deliver(m: Material): void {
    this.knownCas = splitPemBundle(m.caBundle);
    const caFacts = certFacts(m.caBundle);
    this.o.metrics.certExpiry.set({ cert: 'ca' }, caFacts.notAfter.getTime() / 1000);
    if (m.serving.certPem !== this.servingPem) {
      this.o.onServingPair(m.serving);
      this.servingPem = m.serving.certPem;
    }
  }

  /** Reads the Secret; creates it (or repairs unusable content) when needed. */
  private async loadOrCreate(): Promise<SecretState> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const existing = await this.o.kube.getSecret(this.o.namespace, this.o.secretName);
      if (!existing) {
        // Someone deleted the Secret (or this is the first start): keep trusting the CAs this
        // replica knew, so replicas still serving the old certificate are not cut off.
        const fresh = this.freshMaterial(this.knownCas);
        try {
          const created = await this.o.kube.createSecret(this.o.namespace, this.o.secretName, toData(fresh), LABELS);
          this.log.info('created CA and serving certificate', { secret: this.o.secretName });
          return created;
        } catch (err) {
          if (err instanceof ConflictError) continue; // another replica won the race: load theirs
          throw err;
        }
      }
      const problem = this.problem(existing);
      if (!problem) return existing;
      this.log.warn('certificate Secret unusable; replacing its content', { secret: this.o.secretName, problem });
      const repaired = this.repairedMaterial(existing);
      try {
        return await this.o.kube.replaceSecret(this.o.namespace, this.o.secretName, toData(repaired), LABELS, existing.resourceVersion);
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    throw new Error(`Secret ${this.o.namespace}/${this.o.secretName} keeps changing under us; will retry`);
  }

  private check(state: SecretState): Material {
    const problem = this.problem(state);
    if (problem) throw new Error(`Secret ${this.o.secretName} unusable: ${problem}`);
    return fromData(state.data);
  }

  /** Why the Secret cannot be served as is (undefined when it can). */
  private problem(state: SecretState): string | undefined {
    const d = state.data;
    for (const k of Object.values(SECRET_KEYS)) if (!d[k]) return `missing ${k}`;
    try {
      const cas = splitPemBundle(d[SECRET_KEYS.caBundle]);
      if (cas.length === 0) return `${SECRET_KEYS.caBundle} holds no certificate`;
      // A leaf certificate there would "sign" serving certificates no TLS client accepts.
      if (!new crypto.X509Certificate(cas[0]).ca) return `${SECRET_KEYS.caBundle} is not a CA certificate`;
      assertKeyMatches(cas[0], d[SECRET_KEYS.caKey]);
      assertKeyMatches(d[SECRET_KEYS.cert], d[SECRET_KEYS.key]);
      const serving = new crypto.X509Certificate(d[SECRET_KEYS.cert]);
      if (!cas.some((ca) => serving.verify(new crypto.X509Certificate(ca).publicKey))) return 'serving certificate not signed by a CA of the bundle';
      const names = certFacts(d[SECRET_KEYS.cert]).dnsNames;
      const missing = this.dnsNames.filter((n) => !names.includes(n));
      if (missing.length > 0) return `serving certificate lacks ${missing.join(', ')}`;
      if (new Date(serving.validTo).getTime() <= this.now()) return 'serving certificate expired';
    } catch (err) {
      return errorText(err);
    }
    return undefined;
  }

  private freshMaterial(olderCas: string[]): Material {
    const ca = createCa(`${PROJECT_NAME}-webhook-ca@${Math.floor(this.now() / 1000)}`, this.o.caLifetimeMs, this.now());
    const serving = issueServingCert(ca, this.dnsNames, this.o.certLifetimeMs, this.now());
    return { caBundle: [ca.certPem, ...this.stillValid(olderCas)].join(''), caKey: ca.keyPem, serving };
  }

  /** Keeps a valid CA when there is one; otherwise starts over (old CAs stay trusted while valid). */
  private repairedMaterial(state: SecretState): Material {
    const d = state.data;
    const cas = splitPemBundle(d[SECRET_KEYS.caBundle] ?? '');
    try {
      assertKeyMatches(cas[0], d[SECRET_KEYS.caKey]);
      if (new crypto.X509Certificate(cas[0]).ca && renewalTime(certFacts(cas[0])) > this.now()) {
        const serving = issueServingCert({ certPem: cas[0], keyPem: d[SECRET_KEYS.caKey] }, this.dnsNames, this.o.certLifetimeMs, this.now());
        return { caBundle: [cas[0], ...this.stillValid(cas.slice(1))].join(''), caKey: d[SECRET_KEYS.caKey], serving };
      }
    } catch {
      // no usable CA: fall through to a fresh one
    }
    return this.freshMaterial(cas);
  }

  /** What to change now, if anything. */
  private rotation(m: Material, currentCaPublished: boolean): { material: Material; what: string } | undefined {
    const now = this.now();
    const cas = splitPemBundle(m.caBundle);
    const currentCa = { certPem: cas[0], keyPem: m.caKey };
    if (renewalTime(certFacts(currentCa.certPem)) <= now) {
      // Phase 1: publish the new CA beside the old one; keep serving the old-CA certificate.
      const ca = createCa(`${PROJECT_NAME}-webhook-ca@${Math.floor(now / 1000)}`, this.o.caLifetimeMs, now);
      return { material: { caBundle: [ca.certPem, ...this.stillValid(cas)].join(''), caKey: ca.keyPem, serving: m.serving }, what: 'ca' };
    }
    const serving = new crypto.X509Certificate(m.serving.certPem);
    const signedByCurrent = serving.verify(new crypto.X509Certificate(currentCa.certPem).publicKey);
    if (!signedByCurrent && currentCaPublished) {
      // Phase 2: the bundle with the new CA is live; move the serving certificate over.
      return { material: { ...m, caBundle: [cas[0], ...this.stillValid(cas.slice(1))].join(''), serving: issueServingCert(currentCa, this.dnsNames, this.o.certLifetimeMs, now) }, what: 'serving (new CA)' };
    }
    // Due but still on the old CA with the new one unpublished: the old certificate has a third of its life left; wait.
    if (signedByCurrent && renewalTime(certFacts(m.serving.certPem)) <= now) {
      return { material: { ...m, serving: issueServingCert(currentCa, this.dnsNames, this.o.certLifetimeMs, now) }, what: 'serving' };
    }
    return undefined;
  }

  private stillValid(cas: string[]): string[] {
    return cas.filter((pem) => {
      try {
        return new crypto.X509Certificate(pem).ca && certFacts(pem).notAfter.getTime() > this.now();
      } catch {
        return false;
      }
    });
  }

  /**
   * Makes every webhook of the configuration carry `bundle`. Returns whether the
   * configuration now trusts the current CA (the first of the bundle).
   */
  private async publish(bundle: string, servingPem: string): Promise<boolean> {
    const name = this.o.webhookConfiguration;
    const want = Buffer.from(bundle, 'utf8').toString('base64');
    const config = await this.o.kube.getWebhookConfiguration(name);
    if (!config || config.webhooks.length === 0) {
      this.configState = 'absent';
      if (!this.missingConfigLogged) this.log.warn('webhook configuration not found; will publish the caBundle once it exists', { webhookConfiguration: name });
      this.missingConfigLogged = true;
      return false;
    }
    this.missingConfigLogged = false;
    const ops: object[] = [];
    config.webhooks.forEach((w, i) => {
      if (w.caBundle === want) return;
      ops.push({ op: 'test', path: `/webhooks/${i}/name`, value: w.name }, { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: want });
    });
    if (ops.length > 0) {
      // Until the patch lands, this replica may be called only if the bundle there already verifies it.
      this.configState = config.webhooks.every((w) => bundleTrusts(w.caBundle, servingPem)) ? 'published' : 'unknown';
      await this.o.kube.patchWebhookConfiguration(name, ops);
      this.log.info('published caBundle', { webhookConfiguration: name, webhooks: ops.length / 2 });
    }
    this.configState = 'published';
    return true;
  }
}

function toData(m: Material): Record<string, string> {
  return { [SECRET_KEYS.caBundle]: m.caBundle, [SECRET_KEYS.caKey]: m.caKey, [SECRET_KEYS.cert]: m.serving.certPem, [SECRET_KEYS.key]: m.serving.keyPem };
}

function fromData(d: Readonly<Record<string, string>>): Material {
  return { caBundle: d[SECRET_KEYS.caBundle], caKey: d[SECRET_KEYS.caKey], serving: { certPem: d[SECRET_KEYS.cert], keyPem: d[SECRET_KEYS.key] } };
}
