/**
 * cert-manager objects for the webhook's serving certificate. Without an
 * issuerRef, a self-signed root signs a CA that signs the serving certificate,
 * so rotating the serving certificate never changes the published CA.
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { WEBHOOK_COMPONENT } from '../contract';
import { MetadataContext, objectMetadata } from './metadata';
import { IssuerRef } from './props';
import type { WebhookNames } from './webhook-names';

export interface CertManagerCertificatesProps {
  readonly ctx: MetadataContext;
  readonly names: WebhookNames;
  /**
   * Your Issuer/ClusterIssuer; without it a self-signed CA chain is created.
   * @default a self-signed root Issuer and a CA Issuer in the install's namespace
   */
  readonly issuerRef?: IssuerRef;
}

const CERT_MANAGER_API = 'cert-manager.io/v1';

/** The Certificate whose CA cert-manager's cainjector copies into the webhook configuration. */
export function servingCertificateName(name: string): string {
  return `${name}-webhook`;
}

export class CertManagerCertificates extends Construct {
  constructor(scope: Construct, id: string, props: CertManagerCertificatesProps) {
    super(scope, id);
    const { ctx, names } = props;
    const meta = (name: string) => objectMetadata(ctx, name, WEBHOOK_COMPONENT, 'prerequisites');
    const privateKey = { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' };

    let issuerRef: Record<string, string>;
    if (props.issuerRef) {
      issuerRef = { name: props.issuerRef.name, kind: props.issuerRef.kind ?? 'Issuer', group: props.issuerRef.group ?? 'cert-manager.io' };
    } else {
      const selfSigned = `${ctx.name}-selfsigned`;
      const ca = `${ctx.name}-ca`;
      new ApiObject(this, 'SelfSignedIssuer', { apiVersion: CERT_MANAGER_API, kind: 'Issuer', metadata: meta(selfSigned), spec: { selfSigned: {} } });
      new ApiObject(this, 'CaCertificate', {
        apiVersion: CERT_MANAGER_API,
        kind: 'Certificate',
        metadata: meta(ca),
        spec: {
          isCA: true,
          commonName: ca,
          secretName: ca,
          duration: '87600h',
          privateKey,
          issuerRef: { name: selfSigned, kind: 'Issuer', group: 'cert-manager.io' },
        },
      });
      new ApiObject(this, 'CaIssuer', { apiVersion: CERT_MANAGER_API, kind: 'Issuer', metadata: meta(ca), spec: { ca: { secretName: ca } } });
      issuerRef = { name: ca, kind: 'Issuer', group: 'cert-manager.io' };
    }

    const service = names.service;
    new ApiObject(this, 'ServingCertificate', {
      apiVersion: CERT_MANAGER_API,
      kind: 'Certificate',
      metadata: meta(servingCertificateName(ctx.name)),
      spec: {
        secretName: names.tlsSecret,
        dnsNames: [service, `${service}.${ctx.namespace}`, `${service}.${ctx.namespace}.svc`],
        usages: ['server auth', 'digital signature'],
        duration: '2160h',
        renewBefore: '720h',
        privateKey,
        issuerRef,
      },
    });
  }
}
