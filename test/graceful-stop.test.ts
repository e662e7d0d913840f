// Graceful stop: SIGTERM to the init reaches the main child's process group,
// and the init keeps running until every SIGTERM handler has finished, even
// after the main child has exited. Each process of the tree is a
// stop-member.sh whose handler writes NAME.done, containing "done" when its
// cleanup ran to the end and "cut" when something killed the cleanup.

import fs from 'node:fs';
import path from 'node:path';

import { afterEach, expect, test } from 'vitest';

import { describeIf, exists, exitStatus, INITS, makeWorkDir, namespaceUnavailable, programUnavailable, RunningInit, sleep, startInit, TS_INIT, waitFor } from './helpers/init';
import { hostPidOf, isAlive, readStatus } from './helpers/proc';
import { cleanUpAfterTest, fixture, readMarker, sessionOf, startTracked } from './helpers/reap-stop';

afterEach(cleanUpAfterTest);

interface Member {
  name: string;
  /** Seconds the SIGTERM handler spends on cleanup, in a sleep child, before writing "done". */
  cleanup: number;
  /** Status the handler exits with. */
  status: number;
  /** Started in a new session, out of the main child's process group. */
  setsid?: boolean;
}

interface Tree {
  init: RunningInit;
  dir: string;
}

/** Starts the tree described by members, each the child of the one before, and waits until every trap is set. */
async function startTree(init: readonly string[], flags: string[], namespace: boolean, members: Member[]): Promise<Tree> {
  const dir = makeWorkDir();
  const specs = members.map((member) => [member.name, member.cleanup, member.status, ...(member.setsid ? ['setsid'] : [])].join(':'));
  const run = await startTracked(init, [...flags, '--', fixture('stop-member.sh'), dir, ...specs], { namespace });

  const ready = members.map((member) => path.join(dir, `${member.name}.ready`));
  await waitFor(() => ready.every(exists), 'every member to set its SIGTERM trap');
  return { init: run, dir };
}

/** Sends SIGTERM to the init and resolves with its exit status. */
async function stopTree(tree: Tree): Promise<number> {
  tree.init.signal('SIGTERM');
  return exitStatus(tree.init);
}

function marker(tree: Tree, file: string): string | undefined {
  return readMarker(path.join(tree.dir, file));
}

/** Host pid of a member, from the pid it wrote to NAME.ready. */
function memberPid(tree: Tree, name: string): number | undefined {
  return hostPidOf(tree.init.pid, Number(marker(tree, `${name}.ready`)));
}

/** Names of the members whose handler never wrote NAME.done. */
function unfinished(tree: Tree, names: string[]): string[] {
  return names.filter((name) => marker(tree, `${name}.done`) === undefined);
}

// The main child takes the shortest cleanup, so an init that stops
// waiting once the main child has exited cuts the others short.
const threeLevels: Member[] = [
  { name: 'parent', cleanup: 0.2, status: 3 },
  { name: 'child', cleanup: 0.4, status: 0 },
  { name: 'grandchild', cleanup: 0.6, status: 0 },
];

// The main child exits at once and leaves its descendants a second of cleanup.
const slowDescendants: Member[] = [
  { name: 'main', cleanup: 0, status: 0 },
  { name: 'child', cleanup: 1, status: 0 },
  { name: 'grandchild', cleanup: 1, status: 0 },
];

const escapedGrandchild: Member[] = [
  { name: 'main', cleanup: 0, status: 0 },
  { name: 'child', cleanup: 1, status: 0 },
  { name: 'grandchild', cleanup: 1, status: 0, setsid: true },
];

const modes = [
  { name: 'PID 1 of a namespace', namespace: true, flags: [] as string[] },
  { name: 'subreaper outside a namespace', namespace: false, flags: ['-s'] },
];

for (const mode of modes) {
  describeIf(namespaceUnavailable(), `graceful stop as ${mode.name}`, () => {
    test.each([
      { target: 'default target', flags: [] as string[] },
      { target: 'explicit -g', flags: ['-g'] },
    ])('three levels finish with $target', async ({ flags }) => {
      const tree = await startTree([TS_INIT], [...mode.flags, ...flags], mode.namespace, threeLevels);
      const status = await stopTree(tree);

      expect(status).toBe(3);
      expect(marker(tree, 'parent.done')).toBe('done');
      expect(marker(tree, 'child.done')).toBe('done');
      expect(marker(tree, 'grandchild.done')).toBe('done');
    });

    test('handlers outlive exited main child', async () => {
      const tree = await startTree([TS_INIT], mode.flags, mode.namespace, slowDescendants);
      const status = await stopTree(tree);

      expect(status).toBe(0);
      expect(marker(tree, 'child.done')).toBe('done');
      expect(marker(tree, 'grandchild.done')).toBe('done');
    });

    test('setsid grandchild gets SIGTERM too', async () => {
      const tree = await startTree([TS_INIT], mode.flags, mode.namespace, escapedGrandchild);
      const childSession = sessionOf(memberPid(tree, 'child') as number);
      const grandchildSession = sessionOf(memberPid(tree, 'grandchild') as number);
      expect(grandchildSession).toBeDefined();
      expect(grandchildSession).not.toBe(childSession);

      const status = await stopTree(tree);

      expect(status).toBe(0);
      expect(marker(tree, 'child.done')).toBe('done');
      expect(marker(tree, 'grandchild.done')).toBe('done');
    });
  });
}

// tini and dumb-init exit as soon as the main child does. As PID 1 that ends
// the namespace, and the kernel SIGKILLs whatever is still running there.
const others = [
  { name: 'tini', init: INITS.tini },
  { name: 'dumb-init', init: INITS.dumbInit },
];

for (const other of others) {
  describeIf(namespaceUnavailable() ?? programUnavailable(other.name), `graceful stop under ${other.name}`, () => {
    test(`${other.name} cuts descendant handlers short`, async () => {
      const tree = await startTree(other.init, [], true, slowDescendants);
      await stopTree(tree);

      expect(unfinished(tree, ['child', 'grandchild'])).not.toEqual([]);
    });

    test(`${other.name} never signals setsid grandchild`, async () => {
      const tree = await startTree(other.init, [], true, escapedGrandchild);
      await stopTree(tree);

      expect(marker(tree, 'grandchild.term')).toBeUndefined();
    });
  });
}

// A workload stopped by a forwarded SIGTSTP would keep SIGTERM pending
// forever; ts-init continues it, so the stop request is acted on.
describeIf(namespaceUnavailable() ?? programUnavailable('tini'), 'stop signal to a stopped workload', () => {
  const script = (dir: string) => `trap 'touch ${dir}/term; exit 5' TERM; echo $$ > ${dir}/ready; while :; do sleep 0.1; done`;

  async function stopWhileStopped(init: readonly string[]): Promise<{ dir: string; run: RunningInit }> {
    const dir = makeWorkDir();
    const run = await startInit(init, ['--', 'sh', '-c', script(dir)]);
    await waitFor(() => exists(`${dir}/ready`) && fs.readFileSync(`${dir}/ready`, 'utf8').endsWith('\n'), 'the workload to trap SIGTERM');
    const workload = hostPidOf(run.pid, Number(fs.readFileSync(`${dir}/ready`, 'utf8'))) as number;

    run.signal('SIGTSTP');
    await waitFor(() => readStatus(workload)?.state === 'T', 'the workload to stop');
    run.signal('SIGTERM');
    return { dir, run };
  }

  test('ts-init continues it to exit', async () => {
    const { dir, run } = await stopWhileStopped([TS_INIT]);
    expect(await exitStatus(run)).toBe(5);
    expect(exists(`${dir}/term`)).toBe(true);
  });

  test('tini leaves it stopped', async () => {
    const { dir, run } = await stopWhileStopped(INITS.tini);
    // Proving that something does not happen takes a fixed window.
    await sleep(2000);
    expect(isAlive(run.pid)).toBe(true);
    expect(exists(`${dir}/term`)).toBe(false);
  });
});
