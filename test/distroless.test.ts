// ts-init in an image without /bin/sh, where bin/ts-init cannot run: runc
// starts the static launcher from prebuilds/, which has to find Node, keep
// NODE_OPTIONS away from ts-init's own Node and hand it to the workload.

import fs from 'node:fs';
import path from 'node:path';

import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';

import { describeIf, exists, makeWorkDir, namespaceUnavailable, programUnavailable, readText } from './helpers/init';
import { addMountPoint, buildShellFreeImage, IMAGE } from './helpers/distroless';
import { prebuildsUnavailable } from './helpers/package';
import { cleanUpRunc, containerExitStatus, containerPid, createBundle, killContainer, RuncContainer, startContainer, waitInContainer } from './helpers/runc';

const NODE_OPTIONS = `--require ${IMAGE.preload}`;

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

describeIf(
  programUnavailable('runc') ?? namespaceUnavailable() ?? prebuildsUnavailable() ?? programUnavailable('ldd'),
  'ts-init in image without shell',
  () => {
    let root: string;

    beforeAll(() => {
      root = buildShellFreeImage();
    }, 120_000);

    afterAll(() => {
      if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
    });

    /** Runs `launcher -- node workload.js MARKS [CODE]` as the container's PID 1. */
    function startWorkload(marks: string, code?: number): RuncContainer {
      addMountPoint(root, marks);
      const bundle = createBundle({
        rootSource: root,
        args: [IMAGE.launcher, '--', IMAGE.node, IMAGE.workload, marks, ...(code === undefined ? [] : [String(code)])],
        writable: [marks],
        env: [`NODE_OPTIONS=${NODE_OPTIONS}`, `PRELOAD_MARKS=${marks}`],
      });
      return startContainer(bundle);
    }

    /** Starts the workload, waits until it is ready, stops it with `runc kill TERM`. */
    async function runUntilTerm(): Promise<{ marks: string; container: RuncContainer; status: number }> {
      const marks = newWorkDir();
      const container = startWorkload(marks);
      await waitInContainer(container, () => exists(path.join(marks, 'ready')), 'the workload to be ready', 30_000);
      killContainer(container, 'TERM');
      return { marks, container, status: await containerExitStatus(container) };
    }

    function preloadArgvs(marks: string): string[][] {
      return fs
        .readdirSync(marks)
        .filter((name) => name.startsWith('preload-'))
        .map((name) => JSON.parse(readText(path.join(marks, name))) as string[]);
    }

    test('image has no shell', () => {
      expect(exists(path.join(root, 'bin', 'sh'))).toBe(false);
      expect(exists(path.join(root, 'usr', 'bin', 'sh'))).toBe(false);
    });

    test('ts-init runs as container PID 1', async () => {
      const marks = newWorkDir();
      const container = startWorkload(marks);
      await waitInContainer(container, () => exists(path.join(marks, 'ready')), 'the workload to be ready', 30_000);

      const cmdline = readText(`/proc/${containerPid(container)}/cmdline`).split('\0');
      expect(cmdline).toContain(path.join(IMAGE.packageDir, 'dist', 'main.js'));
    });

    test('runc kill TERM reaches workload', async () => {
      const { marks } = await runUntilTerm();
      expect(exists(path.join(marks, 'term'))).toBe(true);
    });

    test('runc run status 0 after TERM', async () => {
      const { status, container } = await runUntilTerm();
      expect(status, container.stderr()).toBe(0);
    });

    test('preload runs in workload only', async () => {
      const { marks } = await runUntilTerm();
      const argvs = preloadArgvs(marks);
      expect(argvs).toHaveLength(1);
      expect(argvs[0]).toContain(IMAGE.workload);
      expect(argvs.flat().filter((arg) => arg.endsWith('dist/main.js'))).toEqual([]);
    });

    test('workload sees NODE_OPTIONS unchanged', async () => {
      const { marks } = await runUntilTerm();
      const seen = JSON.parse(readText(path.join(marks, 'environment.json')));
      expect(seen.NODE_OPTIONS).toBe(NODE_OPTIONS);
      expect(seen.launcherVariables).toEqual([]);
    });

    test('runc run status 7 from workload', async () => {
      const marks = newWorkDir();
      const container = startWorkload(marks, 7);
      expect(await containerExitStatus(container), container.stderr()).toBe(7);
    });
  },
);
