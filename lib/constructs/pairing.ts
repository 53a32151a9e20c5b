/**
 * An agent and a webhook used on their own (not through LxcfsKit) must agree on where lxcfs
 * lives and how it reaches pods, or every injected pod waits forever on a hostPath that
 * nothing serves. At synthesis (App.synth runs every construct's validations) a webhook
 * checks the agents of the same install in the same app: same name and namespace.
 *
 * The file set is the webhook's alone: the agent serves and heals every lxcfs file there is,
 * so no agent setting can disagree with it.
 */
import { Construct } from 'constructs';

/** What a webhook needs from the agents of its install. */
export interface AgentSide {
  readonly installName: string;
  readonly installNamespace: string;
  readonly lxcfsPath: string;
  readonly servesCsi: boolean;
}

/** What the webhook of an install injects. */
export interface WebhookSide {
  readonly installName: string;
  readonly installNamespace: string;
  readonly lxcfsPath: string;
  readonly injectionMode: string;
}

const AGENT_SIDE = Symbol.for('lxcfs-kit.agent-side');

/** Marks a construct as an agent of an install, for the webhooks of the same app to find. */
export function markAgentSide(construct: Construct, side: AgentSide): void {
  Object.defineProperty(construct, AGENT_SIDE, { value: side, enumerable: false });
}

function agentSide(construct: Construct): AgentSide | undefined {
  return (construct as unknown as { [AGENT_SIDE]?: AgentSide })[AGENT_SIDE];
}

/** Problems between a webhook and the agents of the same install in its app; none when the app has no such agent. */
export function pairingProblems(webhook: WebhookSide, scope: Construct): string[] {
  const agents = scope.node.root.node
    .findAll()
    .map(agentSide)
    .filter((a): a is AgentSide => a !== undefined && a.installName === webhook.installName && a.installNamespace === webhook.installNamespace);
  const problems: string[] = [];
  for (const agent of agents) {
    if (agent.lxcfsPath !== webhook.lxcfsPath) {
      problems.push(
        `the webhook injects lxcfs files from ${webhook.lxcfsPath} but the agent of the same install mounts lxcfs at ${agent.lxcfsPath}; give both the same lxcfsPath (or use LxcfsKit, which passes one to both)`,
      );
    }
  }
  if (agents.length > 0 && webhook.injectionMode !== 'hostPath' && !agents.some((a) => a.servesCsi)) {
    problems.push(`the webhook injects with mode ${webhook.injectionMode}, which needs the agent's CSI plugin, but the agent of the same install has csi off; set csi: true on the agent`);
  }
  return problems;
}
