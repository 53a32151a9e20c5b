/** The handover rules between an old and a new agent (lib/agent/handover.ts), without root or processes. */
import * as fc from 'fast-check';
import { decideServing, decideStop, OwnAgent, successorWait } from '../../lib/agent/handover';
import { ServingRecord } from '../../lib/agent/state';

const own: OwnAgent = { pid: 200, instance: 'new', startedAt: 2_000 };
const record = (over: Partial<ServingRecord>): ServingRecord => ({
  pid: 100,
  instance: 'old',
  device: '0:51',
  source: 'lxcfs-kit-old',
  lxcfsPath: '/var/lib/lxcfs',
  since: 'then',
  attached: true,
  ...over,
});
const alive = (pids: number[]) => (pid: number) => pids.includes(pid);

describe('decideServing (reconcile, under the node lock)', () => {
  test('nobody serves: claim, with nothing to take over', () => {
    expect(decideServing(undefined, own, false, alive([]))).toEqual({ kind: 'claim' });
    expect(decideServing(undefined, own, true, alive([]))).toEqual({ kind: 'claim' });
  });

  test('our own record: serve', () => {
    expect(decideServing(record({ pid: own.pid, instance: own.instance }), own, false, alive([own.pid]))).toEqual({ kind: 'serve' });
  });

  test('a live predecessor on our first pass: claim and take over its lxcfs device', () => {
    expect(decideServing(record({}), own, true, alive([100]))).toEqual({
      kind: 'claim',
      takeover: { pid: 100, device: '0:51', source: 'lxcfs-kit-old' },
    });
  });

  test('a live agent replaced our record after our first pass: we are superseded', () => {
    expect(decideServing(record({ pid: 300, instance: 'newer' }), own, false, alive([300]))).toEqual({ kind: 'superseded', by: 300 });
  });

  test('a dead agent\'s record is claimed without a takeover (its lxcfs died with it)', () => {
    expect(decideServing(record({}), own, false, alive([]))).toEqual({ kind: 'claim' });
    expect(decideServing(record({}), own, true, alive([]))).toEqual({ kind: 'claim' });
  });

  test('a record of an earlier lxcfs of this same process is never a predecessor', () => {
    const earlier = record({ pid: own.pid, instance: 'ours-before-restart' });
    expect(decideServing(earlier, own, false, alive([own.pid]))).toEqual({ kind: 'claim' });
    expect(decideServing(earlier, own, true, alive([own.pid]))).toEqual({ kind: 'claim' });
  });

  test('for any record: a takeover only ever names a live other agent, and we never yield to ourselves or the dead', () => {
    fc.assert(
      fc.property(
        fc.option(fc.record({ pid: fc.constantFrom(100, own.pid, 300), instance: fc.constantFrom('old', own.instance, 'newer'), attached: fc.boolean() }), { nil: undefined }),
        fc.boolean(),
        fc.subarray([100, own.pid, 300]),
        (over, claim, live) => {
          const serving = over === undefined ? undefined : record(over);
          const d = decideServing(serving, own, claim, alive(live));
          if (d.kind === 'superseded') {
            expect(claim).toBe(false);
            expect(d.by).not.toBe(own.pid);
            expect(live).toContain(d.by);
          }
          if (d.kind === 'claim' && d.takeover) {
            expect(claim).toBe(true);
            expect(d.takeover.pid).not.toBe(own.pid);
            expect(live).toContain(d.takeover.pid);
          }
          if (serving?.instance === own.instance) expect(d.kind).toBe('serve');
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('successorWait (told to stop while serving)', () => {
  test('nobody serves, or nobody newer is starting: stop', () => {
    expect(successorWait(undefined, own, [], alive([]))).toEqual({ kind: 'stop' });
    const ours = record({ pid: own.pid, instance: own.instance });
    expect(successorWait(ours, own, [], alive([]))).toEqual({ kind: 'stop' });
    // An older agent still registered is on its way out, not a successor.
    expect(successorWait(ours, own, [{ pid: 100, startedAt: 1_000 }], alive([100]))).toEqual({ kind: 'stop' });
  });

  test('a newer agent is starting and has not taken over: keep serving for it', () => {
    const ours = record({ pid: own.pid, instance: own.instance });
    expect(successorWait(ours, own, [{ pid: 300, startedAt: 3_000 }, { pid: 100, startedAt: 1_000 }], alive([100, 300]))).toEqual({
      kind: 'wait-successor',
      successors: [300],
    });
  });

  test('a successor took the record: wait until it has every mount, or until it died', () => {
    const taken = record({ pid: 300, instance: 'newer', attached: false });
    expect(successorWait(taken, own, [], alive([300]))).toEqual({ kind: 'wait-attached' });
    expect(successorWait(taken, own, [], alive([]))).toEqual({ kind: 'stop' });
    expect(successorWait({ ...taken, attached: true }, own, [], alive([300]))).toEqual({ kind: 'stop' });
  });
});

describe('decideStop (shutdown, under the node lock)', () => {
  test('ours: detach the host path; another agent\'s: hand over; none: we never served', () => {
    expect(decideStop(record({ instance: own.instance }), own)).toEqual({ kind: 'detach' });
    expect(decideStop(record({ pid: 300, instance: 'newer' }), own)).toEqual({ kind: 'handed-over', to: 300 });
    expect(decideStop(undefined, own)).toEqual({ kind: 'never-served' });
  });
});
