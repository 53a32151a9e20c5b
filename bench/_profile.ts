import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Candidate, replaceRequest } from '../lib/agent/heal-plan';
import { LXCFS_FSTYPE, topMounts } from '../lib/agent/mountinfo';
import { encodeRequests, HelperRequest, namespaceInode } from '../lib/agent/protocol';
import { mountNamespaceOf, scanNamespaces } from '../lib/agent/scan';
import { E2EEnv } from '../test/e2e/support/env';
import { mapLimit } from '../test/e2e/support/runc';

async function main(): Promise<void> {
  const env = new E2EEnv('prof');
  try {
    const agent = env.startAgent({ extraArgs: ['--reconcile-interval=30', '--heal-scope=state-dir'] });
    const st = await agent.waitReady();
    const n = Number(process.env.N ?? 100);
    const containers = await mapLimit(Array.from({ length: n }, (_, i) => `p-${i}`), 4, (id) => env.runc.run(id, 'exec sleep 100000'));
    let mountDir = '';
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const f = line.split(' ');
      if (f[2] === st.lxcfsDevice && f[4]?.startsWith(path.join(env.stateDir, 'instances'))) mountDir = f[4];
    }
    for (let round = 0; round < 3; round++) {
      const wanted = new Set(containers.map((c) => mountNamespaceOf(c.initPid)));
      const reqs: HelperRequest[] = [];
      const t0 = process.hrtime.bigint();
      const scan = scanNamespaces();
      const t1 = process.hrtime.bigint();
      for (const ns of scan.withLxcfs) {
        if (!wanted.has(ns.namespace)) continue;
        for (const m of topMounts(ns.mounts)) if (m.fsType === LXCFS_FSTYPE) reqs.push(replaceRequest({ ns, mount: m, key: '' } as Candidate, namespaceInode(ns.namespace) as bigint, mountDir));
      }
      console.log('scan ms', Number(t1 - t0) / 1e6, 'namespaces', scan.namespacesScanned, 'reqs', reqs.length);
      fs.writeFileSync('/tmp/rbench/reqs', encodeRequests(reqs));
      for (const k of [1, 2, 4, 8]) {
        const size = Math.ceil(reqs.length / k / 8) * 8;
        for (let i = 0; i < k; i++) fs.writeFileSync(`/tmp/rbench/reqs${i}`, encodeRequests(reqs.slice(i * size, (i + 1) * size)));
        const tk = process.hrtime.bigint();
        spawnSync('sh', ['-c', Array.from({ length: k }, (_, i) => `${env.helper} attach < /tmp/rbench/reqs${i} > /tmp/rbench/out${i} &`).join(' ') + ' wait']);
        console.log(`${k} helpers ms`, Number(process.hrtime.bigint() - tk) / 1e6);
      }
      const cmd = process.env.PROF_CMD ?? 'strace -c -f';
      const t2 = process.hrtime.bigint();
      const r = spawnSync('sh', ['-c', `${cmd} ${env.helper} attach < /tmp/rbench/reqs > /tmp/rbench/out`], { encoding: 'utf8' });
      console.log('helper ms', Number(process.hrtime.bigint() - t2) / 1e6);
      if (round === 0 || process.env.ALL) console.log(r.stderr.split('\n').slice(0, 30).join('\n'));
      execFileSync('sh', ['-c', 'tr "\\0" " " < /tmp/rbench/out | head -c 300; echo']);
    }
  } finally {
    await env.cleanup();
  }
}
void main();
