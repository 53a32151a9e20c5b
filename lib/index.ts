/**
 * The package's public API: what a cdk8s user composes, configures and labels with. Everything
 * else in lib/ is internal (the generator, the binaries and the tests import it by module path)
 * and may change in any release; test/unit/public-api.test.ts pins this list.
 */

// The constructs and their props.
export { LxcfsKit } from './constructs/kit';
export type { LxcfsKitProps } from './constructs/kit';
export { LxcfsAgent } from './constructs/agent';
export type { LxcfsAgentProps } from './constructs/agent';
export { LxcfsWebhook } from './constructs/webhook';
export type { LxcfsWebhookProps } from './constructs/webhook';
export type {
  CertificateSource,
  DashboardOptions,
  FailurePolicy,
  ImagePullPolicy,
  IssuerRef,
  Json,
  JsonObject,
  LxcfsAgentOptions,
  LxcfsCommonProps,
  LxcfsWebhookOptions,
  MonitoringOptions,
  PrometheusRuleOptions,
  RepairMode,
  ResourceRequirements,
  ServiceMonitorOptions,
  Toleration,
} from './constructs/props';
export type { InjectionModeChoice } from './constructs/csi-driver';
export type {
  EnvVar,
  LocalObjectReference,
  LxcfsWebhookPlatformOptions,
  LxcfsWorkloadOptions,
  PodDisruptionBudgetOptions,
  WebhookPorts,
} from './constructs/workload';
// Types of the constructs' public members (made by the constructs above, not by users).
export type { LxcfsCsiDriver } from './constructs/csi-driver';
export type { WebhookConfiguration } from './constructs/webhook-configuration';
export type { AgentFlags } from './agent/flags';
export type { WebhookFlags } from './webhook/flags';

// Props that cannot work are rejected at synth time with this error, saying how to fix them.
export { LxcfsKitConfigError } from './constructs/props';

// Defaults a user may want to name, and the labels and annotations that opt pods in or out.
export { DEFAULT_NAME, DEFAULT_NAMESPACE } from './constructs/props';
export {
  AGENT_IMAGE,
  CSI_DRIVER_NAME,
  DEFAULT_LXCFS_FILES,
  DEFAULT_LXCFS_PATH,
  EXCLUDE_CONTAINERS_ANNOTATION,
  INJECT_DISABLED,
  INJECT_ENABLED,
  INJECT_LABEL,
  INJECTED_ANNOTATION,
  LEGACY_NAMESPACE_LABEL,
  LEGACY_NAMESPACE_VALUE,
  VERSION,
  WEBHOOK_IMAGE,
} from './contract';
