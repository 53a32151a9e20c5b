/**
 * Real X.509 for the self-managed mode: a CA, serving certificates signed by it,
 * and the facts about a PEM pair the server needs (validity, key match).
 * RSA keys come from node:crypto (native, fast); node-forge builds and signs the
 * certificates, which node:crypto cannot do.
 */
import * as crypto from 'crypto';
import type * as Forge from 'node-forge';

/**
 * node-forge is loaded on first use: a webhook serving certificate files never
 * builds a certificate and so never pays for the library's memory.
 */
let forgeLib: typeof Forge | undefined;
function forgeApi(): typeof Forge {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  forgeLib ??= require('node-forge') as typeof Forge;
  return forgeLib;
}

/**
 * What the HTTPS server offers: TLS 1.3 with Node's suites (all forward secret and AEAD by
 * design), and in TLS 1.2 only ECDHE key exchange with AEAD ciphers, so a recorded session
 * cannot be decrypted later with the server's key and no CBC construction is ever used.
 */
export const SERVER_TLS = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'TLS_AES_128_GCM_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  honorCipherOrder: true,
} as const;

/** Certificates start this far in the past so a node whose clock lags still accepts them. */
export const BACKDATE_MS = 5 * 60 * 1000;

export interface KeyPairPem {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface CertFacts {
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subject: string;
  readonly dnsNames: readonly string[];
}

function rsaKeyPem(): string {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function serialNumber(): string {
  const bytes = crypto.randomBytes(16);
  bytes[0] &= 0x7f; // positive, as RFC 5280 requires
  return bytes.toString('hex');
}

function baseCert(keyPem: string, commonName: string, lifetimeMs: number, now: number): { cert: Forge.pki.Certificate; key: Forge.pki.rsa.PrivateKey } {
  const forge = forgeApi();
  const key = forge.pki.privateKeyFromPem(keyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(now - BACKDATE_MS);
  cert.validity.notAfter = new Date(now + lifetimeMs);
  cert.setSubject([{ name: 'commonName', value: commonName }]);
  return { cert, key };
}

/** A self-signed CA that can only sign certificates (pathLen 0). */
export function createCa(commonName: string, lifetimeMs: number, now = Date.now()): KeyPairPem {
  const forge = forgeApi();
  const keyPem = rsaKeyPem();
  const { cert, key } = baseCert(keyPem, commonName, lifetimeMs, now);
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

/** A serving certificate for `dnsNames` (the first is also the common name), signed by `ca`. */
export function issueServingCert(ca: KeyPairPem, dnsNames: readonly string[], lifetimeMs: number, now = Date.now()): KeyPairPem {
  if (dnsNames.length === 0) throw new Error('a serving certificate needs at least one DNS name');
  const forge = forgeApi();
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const keyPem = rsaKeyPem();
  // Never outlive the CA: clients would reject the chain anyway.
  const life = Math.min(lifetimeMs, caCert.validity.notAfter.getTime() - now);
  const { cert } = baseCert(keyPem, dnsNames[0], life, now);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    // type 2 = dNSName, type 7 = iPAddress (for loopback servers addressed by IP).
    { name: 'subjectAltName', altNames: dnsNames.map((value) => (/^\d+\.\d+\.\d+\.\d+$/.test(value) ? { type: 7, ip: value } : { type: 2, value })) },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

/** The names a Service is reached by from the API server. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, `${service}.${namespace}`, service];
}

/** Validity and names of the first certificate in a PEM; throws a clear error on garbage. */
export function certFacts(pem: string): CertFacts {
  let x: crypto.X509Certificate;
  try {
    x = new crypto.X509Certificate(pem);
  } catch (err) {
    throw new Error(`not a PEM certificate: ${(err as Error).message}`);
  }
  const dnsNames = (x.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  return { notBefore: new Date(x.validFrom), notAfter: new Date(x.validTo), subject: x.subject, dnsNames };
}

/** Throws unless `keyPem` is the private key of the certificate in `certPem`. */
export function assertKeyMatches(certPem: string, keyPem: string): void {
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(keyPem);
  } catch (err) {
    throw new Error(`not a PEM private key: ${(err as Error).message}`);
  }
  if (!new crypto.X509Certificate(certPem).checkPrivateKey(key)) throw new Error('the private key does not belong to the certificate');
}

/**
 * When to renew: two thirds into the certificate's intended lifetime (the
 * backdating excluded), so a missed renewal still leaves a third of it to retry.
 */
export function renewalTime(facts: Pick<CertFacts, 'notBefore' | 'notAfter'>): number {
  const start = facts.notBefore.getTime() + BACKDATE_MS;
  const end = facts.notAfter.getTime();
  return start + ((end - start) * 2) / 3;
}

/** Splits a PEM bundle into its certificates. */
export function splitPemBundle(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((s) => `${s}\n`) ?? [];
}

/**
 * Whether a caBundle as stored in a webhook configuration (base64 of PEM CAs) lets a client
 * verify `certPem`: some CA certificate in it signed the certificate. False for garbage.
 */
export function bundleTrusts(caBundleBase64: string | undefined, certPem: string): boolean {
  if (!caBundleBase64) return false;
  try {
    const cert = new crypto.X509Certificate(certPem);
    return splitPemBundle(Buffer.from(caBundleBase64, 'base64').toString('utf8')).some((pem) => {
      const ca = new crypto.X509Certificate(pem);
      return ca.ca && cert.checkIssued(ca) && cert.verify(ca.publicKey);
    });
  } catch {
    return false;
  }
}
