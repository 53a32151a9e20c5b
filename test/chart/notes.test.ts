/**
 * The chart's NOTES.txt and README tell an operator how to label namespaces for Pod Security
 * (per injection mode) and how to verify the install with two kubectl commands. The check pod
 * command is run through real kubectl 1.32 (`--dry-run=client`) against a FAKE API server that
 * only answers discovery (no real API server on these machines): the pod it would create is
 * opted in and has the limits the expected output assumes.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { AddressInfo } from 'net';
import { INJECT_ENABLED, INJECT_LABEL } from '../../lib/contract';
import { POD_SECURITY_BY_MODE, verifyCommands } from '../../lib/generator/chart-files';
import { CHART, helms, kubectl132, runHelm, valuesFile } from './helm';

const helm4 = helms()[1];

function notes(values: object): string {
  const r = runHelm(helm4, ['install', 'edge', CHART, '--namespace', 'tools', '--dry-run=client', '-f', valuesFile(values)]);
  expect(r.status).toBe(0);
  return r.stdout.slice(r.stdout.indexOf('NOTES:'));
}

test.each(['hostPath', 'csi', 'podSecurity'] as const)('NOTES for injection mode %s: Pod Security advice of that mode only, and the two verification commands', (mode) => {
  const text = notes({ injection: { mode } });
  expect(text).toContain('kubectl label namespace tools pod-security.kubernetes.io/enforce=privileged');
  for (const [m, advice] of Object.entries(POD_SECURITY_BY_MODE)) expect(text.includes(advice)).toBe(m === mode);
  for (const command of verifyCommands('tools', 'edge')) expect(text).toContain(command);
});

test('the chart README has the Pod Security advice of every mode and the verification commands', () => {
  const readme = fs.readFileSync(path.join(CHART, 'README.md'), 'utf8');
  for (const advice of Object.values(POD_SECURITY_BY_MODE)) expect(readme).toContain(advice);
  for (const command of verifyCommands('lxcfs-kit', 'lxcfs-kit')) expect(readme).toContain(command);
});

/** Answers the discovery kubectl needs to build a Pod, nothing else. */
async function discoveryOnly(): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer((req, res) => {
    const send = (body: object) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url?.startsWith('/api/v1')) return send({ kind: 'APIResourceList', groupVersion: 'v1', resources: [{ name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['create', 'get'] }] });
    if (req.url?.startsWith('/apis')) return send({ kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
    if (req.url?.startsWith('/api')) return send({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** The words of a shell command line (single quotes only, as the command uses). */
function shellWords(line: string): string[] {
  return [...line.matchAll(/(?:'[^']*'|[^\s'])+/g)].map((m) => m[0].replace(/'([^']*)'/g, '$1'));
}

test('the check pod command (real kubectl 1.32, FAKE discovery-only API server): an opted-in pod with 0.5 CPU and 256Mi limits that prints the processor count and MemTotal', async () => {
  const { server, url } = await discoveryOnly();
  try {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-kubectl-'));
    const kubeconfig = path.join(dir, 'config');
    fs.writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${url}"}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\ncurrent-context: c\n`);
    // --rm -i attach to a running pod; a dry run only prints the object.
    const words = shellWords(verifyCommands('tools', 'edge')[1]).slice(1).filter((w) => w !== '--rm' && w !== '-i');
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(kubectl132(), ['--kubeconfig', kubeconfig, ...words.slice(0, words.indexOf('--')), '--dry-run=client', '-o', 'json', ...words.slice(words.indexOf('--'))], {
        env: { PATH: process.env.PATH ?? '', HOME: dir },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
    expect({ code: out.code, stderr: out.stderr }).toEqual({ code: 0, stderr: '' });
    const pod = JSON.parse(out.stdout) as { metadata: { labels: Record<string, string>; namespace: string }; spec: { containers: Array<{ command?: string[]; args?: string[]; resources: object }> } };
    expect(pod.metadata.labels[INJECT_LABEL]).toBe(INJECT_ENABLED);
    expect(pod.spec.containers).toHaveLength(1);
    const [c] = pod.spec.containers;
    expect(c.resources).toEqual({ limits: { cpu: '500m', memory: '256Mi' } });
    expect([...(c.command ?? []), ...(c.args ?? [])]).toEqual(['sh', '-c', 'grep -c ^processor /proc/cpuinfo; grep MemTotal /proc/meminfo']);
  } finally {
    server.close();
  }
});
