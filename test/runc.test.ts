// ts-init as the PID 1 of a real OCI container: runc starts it in fresh
// namespaces on a read-only root, `runc kill` delivers the stop signal from
// outside the container, and `runc run` reports the container's status.

import fs from 'node:fs';
import path from 'node:path';

import { afterEach, expect, test } from 'vitest';

import { describeIf, exists, FIXTURES, INITS, makeWorkDir, namespaceUnavailable, programUnavailable, ROOT, TS_INIT } from './helpers/init';
import { cleanUpRunc, containerExitStatus, containerPid, createBundle, killContainer, RuncContainer, startContainer, waitInContainer } from './helpers/runc';

const workDirs: string[] = [];

afterEach(async () => {
  try {
    await cleanUpRunc();
  } finally {
    for (const dir of workDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  }
});

function newWorkDir(): string {
  const dir = makeWorkDir();
  workDirs.push(dir);
  return dir;
}

function runInContainer(args: string[], writable: string[] = []): RuncContainer {
  return startContainer(createBundle({ args, writable }));
}

/**
 * Starts `INIT... sh runc-start.sh WORK`: a shell that runs a program
 * without exec, which in turn has a child of its own. Resolves once the
 * program and the grandchild have their SIGTERM handlers in place.
 */
async function startWrapped(init: readonly string[]): Promise<{ work: string; container: RuncContainer }> {
  const work = newWorkDir();
  const container = runInContainer([...init, '--', 'sh', path.join(FIXTURES, 'runc-start.sh'), work], [work]);
  await waitInContainer(
    container,
    () => exists(path.join(work, 'app-ready')) && exists(path.join(work, 'grandchild-ready')),
    'the program and the grandchild to be ready',
  );
  return { work, container };
}

describeIf(programUnavailable('runc') ?? namespaceUnavailable(), 'ts-init under runc', () => {
  test('ts-init is container PID 1', async () => {
    const work = newWorkDir();
    const ready = path.join(work, 'ready');
    const container = runInContainer([TS_INIT, '--', 'sh', '-c', `touch ${ready}; exec sleep 60`], [work]);
    await waitInContainer(container, () => exists(ready), 'the ready marker');

    const cmdline = fs.readFileSync(`/proc/${containerPid(container)}/cmdline`, 'utf8').split('\0');
    const script = cmdline.find((arg) => arg.endsWith('/dist/main.js'));
    expect(script).toBeDefined();
    expect(path.resolve(script as string)).toBe(path.join(ROOT, 'dist', 'main.js'));
  });

  test('runc kill reaches wrapped program', async () => {
    const { work, container } = await startWrapped(INITS.tsInit);
    killContainer(container, 'TERM');

    // The wrapper shell dies of the signal, so 143 is the container's
    // status. The program and the grandchild stop in their own time.
    expect(await containerExitStatus(container)).toBe(143);
    expect(exists(path.join(work, 'app-term'))).toBe(true);
    expect(exists(path.join(work, 'grandchild-done'))).toBe(true);
  });

  test.each([
    { status: 0, script: 'exit 0' },
    { status: 7, script: 'exit 7' },
    { status: 137, script: 'kill -KILL $$; sleep 5' },
  ])('runc run status $status', async ({ status, script }) => {
    const container = runInContainer([TS_INIT, '--', 'sh', '-c', script]);
    expect(await containerExitStatus(container)).toBe(status);
  });

  test('status 143 from untrapped SIGTERM', async () => {
    const work = newWorkDir();
    const ready = path.join(work, 'ready');
    const container = runInContainer([TS_INIT, '--', 'sh', '-c', `touch ${ready}; exec sleep 60`], [work]);
    await waitInContainer(container, () => exists(ready), 'the ready marker');

    killContainer(container, 'TERM');
    expect(await containerExitStatus(container)).toBe(143);
  });
});

const comparisonUnavailable = programUnavailable('runc') ?? namespaceUnavailable() ?? programUnavailable('tini') ?? programUnavailable('dumb-init');

describeIf(comparisonUnavailable, 'other inits under runc', () => {
  // Both exit as soon as their main child does. The kernel then SIGKILLs
  // the rest of the container before the grandchild's handler finishes.
  test.each([
    { name: 'tini', init: INITS.tini },
    { name: 'dumb-init', init: INITS.dumbInit },
  ])('$name cuts grandchild shutdown short', async ({ init }) => {
    const { work, container } = await startWrapped(init);
    killContainer(container, 'TERM');

    expect(await containerExitStatus(container)).toBe(143);
    expect(exists(path.join(work, 'grandchild-done'))).toBe(false);
  });
});
