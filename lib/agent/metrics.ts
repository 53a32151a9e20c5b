/** The agent's Prometheus metrics, on a registry of its own (never the global one). */
import { Counter, Gauge, Registry } from 'prom-client';

export class AgentMetrics {
  readonly registry = new Registry();
  readonly lxcfsRestarts = new Counter({ name: 'lxcfs_kit_agent_lxcfs_restarts_total', help: 'lxcfs processes restarted after they exited', registers: [this.registry] });
  readonly mountsHealed = new Counter({ name: 'lxcfs_kit_agent_mounts_healed_total', help: 'stale or superseded lxcfs mounts re-attached to this agent\'s lxcfs', registers: [this.registry] });
  readonly healFailures = new Counter({ name: 'lxcfs_kit_agent_heal_failures_total', help: 'lxcfs mounts that could not be re-attached', registers: [this.registry] });
  readonly reconciles = new Counter({ name: 'lxcfs_kit_agent_reconciles_total', help: 'reconcile passes over all mount namespaces', registers: [this.registry] });
  readonly lastReconcileSeconds = new Gauge({ name: 'lxcfs_kit_agent_last_reconcile_duration_seconds', help: 'duration of the last reconcile pass', registers: [this.registry] });
  readonly namespacesScanned = new Gauge({ name: 'lxcfs_kit_agent_namespaces_scanned', help: 'mount namespaces scanned in the last reconcile pass', registers: [this.registry] });
  readonly healingSupported = new Gauge({ name: 'lxcfs_kit_agent_healing_supported', help: '1 when the kernel has open_tree/move_mount (Linux 5.2+), so stale mounts can be re-attached', registers: [this.registry] });
  readonly lxcfsUp = new Gauge({ name: 'lxcfs_kit_agent_lxcfs_up', help: '1 while this agent\'s lxcfs serves files', registers: [this.registry] });
  readonly serving = new Gauge({ name: 'lxcfs_kit_agent_serving', help: '1 while this agent\'s lxcfs is the one mounted at the lxcfs path (0 after a successor took over)', registers: [this.registry] });
}
