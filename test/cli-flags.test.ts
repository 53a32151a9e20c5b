import { AGENT_FLAGS, agentArgs } from '../lib/agent/flags';
import { parseFlags, UsageError } from '../lib/flags';
import { lxcfsFileMounts, volumeNameFor } from '../lib/injection';
import { DEFAULT_LXCFS_FILES } from '../lib/contract';
import { WEBHOOK_FLAGS, webhookArgs } from '../lib/webhook/flags';

describe('flag declarations shared by the CLI and the manifests', () => {
  test('args rendered for a manifest parse back to the same values', () => {
    const args = agentArgs({ 'lxcfs-path': '/run/lxcfs', 'lxcfs-arg': ['-l'], 'health-port': 9999 });
    expect(args).toEqual(['agent', '--lxcfs-path=/run/lxcfs', '--lxcfs-arg=-l', '--health-port=9999']);
    const parsed = parseFlags(AGENT_FLAGS, args.slice(1));
    expect(parsed['lxcfs-path']).toBe('/run/lxcfs');
    expect(parsed['lxcfs-arg']).toEqual(['-l']);
    expect(parsed['health-port']).toBe(9999);
    expect(parsed['reconcile-interval']).toBe(AGENT_FLAGS['reconcile-interval'].default);
  });

  test('booleans render and parse in both directions', () => {
    const args = webhookArgs({ 'legacy-namespace-label': true, 'repair-mode': 'evict' });
    expect(args).toEqual(['webhook', '--legacy-namespace-label', '--repair-mode=evict']);
    expect(parseFlags(WEBHOOK_FLAGS, args.slice(1))['legacy-namespace-label']).toBe(true);
    expect(parseFlags(WEBHOOK_FLAGS, ['--no-legacy-namespace-label'])['legacy-namespace-label']).toBe(false);
  });

  test('bad values are usage errors that name the flag', () => {
    expect(() => parseFlags(WEBHOOK_FLAGS, ['--port=http'])).toThrow(new UsageError('--port must be a whole number from 0 to 65535, got "http"'));
    expect(() => parseFlags(WEBHOOK_FLAGS, ['--repair-mode=delete'])).toThrow(/one of off, report, evict/);
    expect(() => parseFlags(WEBHOOK_FLAGS, ['--nope'])).toThrow(UsageError);
  });
});

describe('injection contract data', () => {
  test('every default file becomes a File hostPath under the lxcfs path', () => {
    const mounts = lxcfsFileMounts('/var/lib/lxcfs/', DEFAULT_LXCFS_FILES);
    expect(mounts.map((m) => m.hostPath)).toContain('/var/lib/lxcfs/sys/devices/system/cpu/online');
    expect(new Set(mounts.map((m) => m.volumeName)).size).toBe(DEFAULT_LXCFS_FILES.length);
    expect(mounts.every((m) => m.hostPathType === 'File' && m.volumeName.startsWith('lxcfs-kit-'))).toBe(true);
    expect(volumeNameFor('/proc/meminfo')).toBe('lxcfs-kit-proc-meminfo');
  });

  test('configurations that cannot work are rejected with a way out', () => {
    expect(() => lxcfsFileMounts('var/lib/lxcfs', ['/proc/meminfo'])).toThrow(/absolute host path/);
    expect(() => lxcfsFileMounts('/var/lib/lxcfs', [])).toThrow(/empty/);
    expect(() => lxcfsFileMounts('/var/lib/lxcfs', ['/etc/passwd'])).toThrow(/under \/proc or \/sys/);
  });
});
