/**
 * The names of the webhook's objects, in a module of their own so that the webhook and the
 * constructs it is made of (certificates, configuration, its policy) all read them without
 * importing each other.
 */

/** The names every webhook object derives from the install's name. */
export function webhookNames(name: string) {
  return {
    webhook: `${name}-webhook`,
    service: `${name}-webhook`,
    serviceAccount: `${name}-webhook`,
    /** Serving certificate Secret: created by the webhook (self) or by cert-manager. */
    tlsSecret: `${name}-webhook-tls`,
    certificates: `${name}-webhook-certificates`,
    lease: `${name}-webhook-repair`,
    webhookConfiguration: name,
    configurationAccess: `${name}-webhook-configuration`,
    reconciler: `${name}-webhook-reconciler`,
    evictor: `${name}-webhook-evictor`,
    configurationPolicy: `${name}-webhook-configuration-guard`,
  };
}

export type WebhookNames = ReturnType<typeof webhookNames>;
