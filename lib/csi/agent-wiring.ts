/** `lxcfs-kit agent --csi`: the CSI plugin started beside the agent, from the agent's flags. */
import * as os from 'os';
import * as path from 'path';
import { UsageError } from '../flags';
import type { AgentConfig } from '../agent/agent';
import type { AgentFlags } from '../agent/flags';
import { helperMounter } from './helper-mounter';
import { CsiPlugin, startCsiPlugin } from './plugin';

export async function startCsi(flags: AgentFlags, config: AgentConfig): Promise<CsiPlugin> {
  const kubeletDir = flags['kubelet-dir'];
  if (!path.isAbsolute(kubeletDir) || path.normalize(kubeletDir) !== kubeletDir.replace(/(.)\/+$/, '$1')) {
    throw new UsageError(`--kubelet-dir must be a normalized absolute path such as /var/lib/kubelet, got "${kubeletDir}"`);
  }
  return startCsiPlugin({
    kubeletDir: kubeletDir.replace(/(.)\/+$/, '$1'),
    nodeId: flags['node-name'] === '' ? os.hostname() : flags['node-name'],
    lxcfsPath: config.lxcfsPath,
    mounter: helperMounter(config.helperPath),
    log: config.log,
  });
}
