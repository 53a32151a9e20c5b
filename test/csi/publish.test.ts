/**
 * NodePublishVolume's target check with hostile paths (no root, no lxcfs: a recording
 * mounter stands in for the native helper): only a normalized path strictly below the
 * pods directory, reached without symbolic links, ever gets to a mount step.
 */
import * as fc from 'fast-check';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GrpcError, Status } from '../../lib/csi/grpc';
import { NodePublishVolumeRequest } from '../../lib/csi/messages';
import { Mounter, OwnMount, VolumePublisher } from '../../lib/csi/publish';

describe('VolumePublisher target paths (recording mounter; no root)', () => {
  let dir: string;
  let podsDir: string;
  const calls: string[] = [];
  const mounter: Mounter = {
    mountReadOnly: (_s, t) => {
      calls.push(`mount ${t}`);
      return Promise.resolve();
    },
    detach: (t) => {
      calls.push(`detach ${t}`);
      return Promise.resolve();
    },
    ownMounts: (): OwnMount[] => [],
  };
  let publisher: VolumePublisher;

  beforeAll(() => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'lxcfs-kit-publish-')));
    podsDir = path.join(dir, 'pods');
    fs.mkdirSync(path.join(podsDir, 'uid', 'volumes', 'kubernetes.io~csi', 'lxcfs-kit-lxcfs'), { recursive: true });
    fs.symlinkSync('/', path.join(podsDir, 'uid', 'volumes', 'link'));
    publisher = new VolumePublisher({ lxcfsPath: path.join(dir, 'lxcfs'), podsDir, mounter, log: () => undefined });
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const request = (targetPath: string, volumeId = 'csi-1'): NodePublishVolumeRequest => ({
    volumeId,
    targetPath,
    stagingTargetPath: '',
    readonly: true,
    accessType: 'mount',
    volumeContext: new Map(),
  });
  const codeOf = async (p: () => Promise<void>): Promise<number> => {
    try {
      await p();
      return Status.OK;
    } catch (err) {
      if (err instanceof GrpcError) return err.code;
      throw err;
    }
  };

  test('adversarial target paths never reach a mount or detach step (20,000 cases)', async () => {
    const segment = fc.oneof(fc.constantFrom('..', '.', '', 'pods', 'link', 'uid', 'volumes', 'kubernetes.io~csi', 'mount', '\0', ' ', '\n', '%2e%2e'), fc.string({ maxLength: 6 }));
    const hostile = fc.oneof(
      fc.array(segment, { maxLength: 6 }).map((s) => `${podsDir}/${s.join('/')}`),
      fc.array(segment, { maxLength: 6 }).map((s) => s.join('/')),
      fc.constantFrom(podsDir, `${podsDir}/`, `${podsDir}x/a`, dir, '/', '', `${podsDir}/uid/volumes/link/etc`, `${podsDir}//uid/x`, `${podsDir}/uid/../../etc`),
    );
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(hostile, async (target) => {
        calls.length = 0;
        const normalizedBelow = path.posix.normalize(target) === target && target.startsWith(`${podsDir}/`) && !target.includes('\0') && !target.endsWith('/');
        const viaLink = target.includes('/link/');
        const code = await codeOf(() => publisher.unpublish({ volumeId: 'v', targetPath: target }));
        if (!normalizedBelow || viaLink) {
          expect([Status.INVALID_ARGUMENT, Status.NOT_FOUND]).toContain(code);
          expect(calls).toEqual([]);
          refused++;
        }
      }),
      { numRuns: 20000 },
    );
    expect(refused).toBeGreaterThan(10000);
  }, 120000);

  test('publish refuses block access, a missing volume id, and answers UNAVAILABLE while lxcfs does not serve', async () => {
    const target = path.join(podsDir, 'uid', 'volumes', 'kubernetes.io~csi', 'lxcfs-kit-lxcfs', 'mount');
    // The fuzz above may have unpublished (removed) empty fixture directories.
    fs.mkdirSync(path.dirname(target), { recursive: true });
    calls.length = 0;
    expect(await codeOf(() => publisher.publish({ ...request(target), accessType: 'block' }))).toBe(Status.INVALID_ARGUMENT);
    expect(await codeOf(() => publisher.publish(request(target, '')))).toBe(Status.INVALID_ARGUMENT);
    // The lxcfs path holds no lxcfs mount here.
    expect(await codeOf(() => publisher.publish(request(target)))).toBe(Status.UNAVAILABLE);
    expect(calls).toEqual([]);
    expect(fs.existsSync(target)).toBe(false);
  });
});
