// Reaping: orphans are re-parented to ts-init, as PID 1 of a namespace or as
// a subreaper with -s, and ts-init reaps them as soon as they exit.

import path from 'node:path';

import { afterEach, describe, expect, test } from 'vitest';

import { describeIf, exists, exitStatus, makeWorkDir, namespaceUnavailable, programUnavailable, RunningInit, TS_INIT, waitFor } from './helpers/init';
import { hostPidOf, isAlive, readStatus } from './helpers/proc';
import { childPids, cleanUpAfterTest, fixture, killAfterTest, readMarker, startTracked, touch, zombiesBelow } from './helpers/reap-stop';

afterEach(cleanUpAfterTest);

const ORPHANS = 200;

const modes = [
  { name: 'PID 1 of a namespace', namespace: true, flags: [] as string[] },
  { name: 'subreaper outside a namespace', namespace: false, flags: ['-s'] },
];

for (const mode of modes) {
  describeIf(namespaceUnavailable() ?? programUnavailable('python3'), `reaping as ${mode.name}`, () => {
    test(`${ORPHANS} simultaneous orphan exits reaped`, async () => {
      const dir = makeWorkDir();
      const init = await startTracked([TS_INIT], [...mode.flags, '--', fixture('reap-orphans.py'), dir, String(ORPHANS), '3'], { namespace: mode.namespace });
      await waitFor(() => exists(path.join(dir, 'orphaned')), 'the orphans to be left behind', 30_000);

      const main = hostPidOf(init.pid, Number(readMarker(path.join(dir, 'orphaned'))));
      expect(main).toBeDefined();
      const orphans = childPids(init.pid).filter((pid) => pid !== main);
      expect(orphans).toHaveLength(ORPHANS);

      touch(path.join(dir, 'go'));
      await waitFor(() => orphans.every((pid) => !isAlive(pid)), 'every orphan to exit', 20_000);
      await waitFor(() => zombiesBelow(init.pid).length === 0, 'no zombie left within a second', 1000);

      touch(path.join(dir, 'finish'));
      expect(await exitStatus(init)).toBe(3);
    });
  });
}

interface OrphanRun {
  init: RunningInit;
  dir: string;
  /** Host pid of the orphan reap-orphan.sh left behind. */
  orphan: number;
}

describe('reaping outside a namespace', () => {
  /** Starts reap-orphan.sh under ts-init as a plain process and waits for its orphan. */
  async function startWithOrphan(flags: string[]): Promise<OrphanRun> {
    const dir = makeWorkDir();
    const init = await startTracked([TS_INIT], [...flags, '--', fixture('reap-orphan.sh'), dir, '4'], { namespace: false });
    await waitFor(() => exists(path.join(dir, 'orphaned')), 'the orphan to be left behind');

    const orphan = Number(readMarker(path.join(dir, 'orphan.pid')));
    killAfterTest(orphan, dir);
    return { init, dir, orphan };
  }

  /** Lets the orphan and the main child exit, and resolves with ts-init's exit status. */
  async function finish(run: OrphanRun): Promise<number> {
    touch(path.join(run.dir, 'go'));
    touch(path.join(run.dir, 'finish'));
    return exitStatus(run.init);
  }

  test('missing -s prints subreaper warning', async () => {
    const run = await startWithOrphan([]);
    expect(await finish(run)).toBe(4);
    expect(run.init.stderr()).toContain('subreaper');
  });

  test('missing -s leaves orphan elsewhere', async () => {
    const run = await startWithOrphan([]);
    expect(isAlive(run.orphan)).toBe(true);
    expect(readStatus(run.orphan)?.ppid).not.toBe(run.init.pid);
    expect(await finish(run)).toBe(4);
  });

  test('-s makes ts-init the parent', async () => {
    const run = await startWithOrphan(['-s']);
    expect(readStatus(run.orphan)?.ppid).toBe(run.init.pid);
    expect(await finish(run)).toBe(4);
  });
});

// reap-holder.py as PID 1 waits for its own child only, as an init that
// never reaps would; an orphan that reaches it stays a zombie.
describeIf(namespaceUnavailable() ?? programUnavailable('python3'), 'reaping under a PID 1 that never reaps', () => {
  async function startUnderHolder(flags: string[]) {
    const dir = makeWorkDir();
    const holder = await startTracked([fixture('reap-holder.py')], [TS_INIT, ...flags, '--', fixture('reap-orphan.sh'), dir, '5']);
    await waitFor(() => exists(path.join(dir, 'orphaned')), 'the orphan to be left behind');

    const tsInit = childPids(holder.pid)[0];
    const orphan = hostPidOf(holder.pid, Number(readMarker(path.join(dir, 'orphan.pid')))) as number;
    return { holder, dir, tsInit, orphan };
  }

  test('ts-init -s reaps below PID 1', async () => {
    const { holder, dir, tsInit, orphan } = await startUnderHolder(['-s']);
    expect(readStatus(tsInit)?.ppid).toBe(holder.pid);
    expect(readStatus(orphan)?.ppid).toBe(tsInit);

    touch(path.join(dir, 'go'));
    await waitFor(() => !isAlive(orphan), 'the orphan to exit');
    await waitFor(() => zombiesBelow(holder.pid).length === 0, 'no zombie left in the namespace');

    touch(path.join(dir, 'finish'));
    expect(await exitStatus(holder)).toBe(5);
  });

  test('without -s orphan stays zombie', async () => {
    const { holder, dir, orphan } = await startUnderHolder([]);
    expect(readStatus(orphan)?.ppid).toBe(holder.pid);

    touch(path.join(dir, 'go'));
    await waitFor(() => readStatus(orphan)?.state === 'Z', 'the orphan to become a zombie');
    expect(zombiesBelow(holder.pid)).toEqual([orphan]);

    touch(path.join(dir, 'finish'));
    expect(await exitStatus(holder)).toBe(5);
  });
});
