// Behaviour users of tini rely on when they swap in ts-init: forwarding
// that the kernel refuses, the parent death signal, the reaping warning
// and where log lines go.

import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';

import {
  describeIf,
  exitStatus,
  FIXTURES,
  INITS,
  killLeftovers,
  killQuietly,
  makeWorkDir,
  namespaceUnavailable,
  programUnavailable,
  readText,
  RunningInit,
  startInit,
  TS_INIT,
  waitFor,
} from './helpers/init';
import { descendantPids, isAlive, readStatus } from './helpers/proc';
import { AS_NOBODY, makeSetuidRoot, sharedPending, TO_ROOT, uidsOf, unprivilegedUnavailable } from './helpers/dropin';

const RECORDER = path.join(FIXTURES, 'dropin-recorder.py');
const PARENT = path.join(FIXTURES, 'dropin-parent.py');
const ORPHAN = path.join(FIXTURES, 'dropin-orphan.py');

const started = new Set<number>();
const parents = new Set<ChildProcess>();

afterEach(() => {
  killLeftovers();
  for (const pid of started) {
    for (const descendant of descendantPids(pid)) killQuietly(descendant, 'SIGKILL');
    killQuietly(pid, 'SIGKILL');
  }
  started.clear();
  for (const parent of parents) killQuietly(parent.pid as number, 'SIGKILL');
  parents.clear();
});

const modes = [
  { name: 'PID 1 of a namespace', namespace: true, flags: [] as string[] },
  { name: 'subreaper outside a namespace', namespace: false, flags: ['-s'] },
];

function signalBit(signal: NodeJS.Signals): bigint {
  return 1n << BigInt(os.constants.signals[signal] - 1);
}

function signalRecords(dir: string): string[] {
  const file = path.join(dir, 'signals');
  return fs.existsSync(file) ? readText(file).split('\n').filter(Boolean) : [];
}

function warningLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => /\bwarn(ing)?\b/i.test(line));
}

function commandOf(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'latin1').trim();
  } catch {
    return undefined;
  }
}

describeIf(namespaceUnavailable() ?? unprivilegedUnavailable() ?? programUnavailable('tini'), 'forwarding refused with EPERM', () => {
  let setuid: { directory: string; rootpriv: string };
  beforeAll(() => {
    setuid = makeSetuidRoot();
  });
  afterAll(() => fs.rmSync(setuid.directory, { recursive: true, force: true }));

  /**
   * Runs the init as uid 65534, PID 1 of a namespace, over `sleep` that the
   * setuid copy has made root in every id, so the init may not signal it.
   */
  async function startOverRootChild(init: readonly string[]): Promise<{ run: RunningInit; child: number }> {
    const run = await startInit([...AS_NOBODY, ...init], ['--', setuid.rootpriv, ...TO_ROOT, 'sleep', '60']);
    let child: number | undefined;
    await waitFor(() => {
      child = descendantPids(run.pid).find((pid) => commandOf(pid) === 'sleep' && uidsOf(pid)?.[0] === 0);
      return child !== undefined;
    }, 'the child to run sleep as root');
    return { run, child: child as number };
  }

  async function waitUntilTaken(run: RunningInit, signal: NodeJS.Signals): Promise<void> {
    await waitFor(() => ((sharedPending(run.pid) ?? 0n) & signalBit(signal)) === 0n, `the init to take ${signal}`);
  }

  test('ts-init survives refused forwards', async () => {
    const { run, child } = await startOverRootChild(INITS.tsInit);
    expect(uidsOf(run.pid)?.[0]).toBe(65534);

    run.signal('SIGWINCH');
    await waitUntilTaken(run, 'SIGWINCH');
    run.signal('SIGUSR2');
    await waitUntilTaken(run, 'SIGUSR2');

    expect(isAlive(run.pid)).toBe(true);
    expect(isAlive(child)).toBe(true);
    // Still in charge: it reaps the child and reports its status.
    process.kill(child, 'SIGKILL');
    expect(await exitStatus(run)).toBe(137);
  });

  test('tini exits on refused forward', async () => {
    const { run } = await startOverRootChild(INITS.tini);

    run.signal('SIGWINCH');
    expect(await exitStatus(run)).toBe(1);
  });
});

describeIf(programUnavailable('python3'), 'parent death signal with -p', () => {
  test('parent death forwards SIGUSR1', async () => {
    const dir = makeWorkDir();
    const parent = spawn('env', ['--default-signal', 'python3', PARENT, TS_INIT, '-s', '-p', 'SIGUSR1', '--', 'python3', RECORDER, dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    parents.add(parent);
    let output = '';
    parent.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitFor(() => /^\d+\n/.test(output), 'the parent to report the init pid');
    const init = Number(output.trim().split('\n')[0]);
    started.add(init);
    await waitFor(() => fs.existsSync(path.join(dir, 'ready')), 'the recorder to start', 20_000);

    const parentPid = readStatus(init)?.ppid as number;
    process.kill(parentPid, 'SIGKILL');
    await waitFor(() => signalRecords(dir).length > 0, 'the recorder to record a signal');
    expect(signalRecords(dir)).toEqual(['SIGUSR1']);

    process.kill(init, 'SIGTERM');
    await waitFor(() => !isAlive(init), 'ts-init to exit after SIGTERM');
  });
});

for (const mode of modes) {
  describeIf(namespaceUnavailable(), `reaping warning as ${mode.name}`, () => {
    test('-w warns about reaped orphan', async () => {
      const dir = makeWorkDir();
      const init = await startInit([TS_INIT], [...mode.flags, '-w', '--', 'python3', ORPHAN, dir], { namespace: mode.namespace });
      expect(await exitStatus(init)).toBe(0);

      const orphan = readText(path.join(dir, 'orphan')).trim();
      const mentions = warningLines(init.stderr()).filter((line) => new RegExp(`\\b${orphan}\\b`).test(line));
      expect(mentions).toHaveLength(1);
    });

    test('no warning without -w', async () => {
      const dir = makeWorkDir();
      const init = await startInit([TS_INIT], [...mode.flags, '--', 'python3', ORPHAN, dir], { namespace: mode.namespace });
      expect(await exitStatus(init)).toBe(0);

      expect(warningLines(init.stderr())).toEqual([]);
    });
  });
}

const WORKLOAD_OUTPUT = 'first line\nsecond line\n';
const WORKLOAD = ['sh', '-c', 'echo first line; echo second line'];

for (const mode of modes) {
  describeIf(namespaceUnavailable(), `logging as ${mode.name}`, () => {
    test('-vvv leaves stdout to workload', async () => {
      const init = await startInit([TS_INIT], [...mode.flags, '-vvv', '--', ...WORKLOAD], { namespace: mode.namespace });
      expect(await exitStatus(init)).toBe(0);

      expect(init.stdout()).toBe(WORKLOAD_OUTPUT);
    });

    test('-vvv lines share one prefix', async () => {
      const init = await startInit([TS_INIT], [...mode.flags, '-vvv', '--', ...WORKLOAD], { namespace: mode.namespace });
      expect(await exitStatus(init)).toBe(0);

      const lines = init.stderr().split('\n').filter(Boolean);
      const prefix = /^\[ts-init \d+\] /.exec(lines[0] ?? '')?.[0];
      expect(prefix).toBeDefined();
      expect(lines.filter((line) => !line.startsWith(prefix as string))).toEqual([]);
    });
  });
}

describeIf(namespaceUnavailable() ?? programUnavailable('tini'), 'logging under tini', () => {
  test('tini -vvv writes to stdout', () => {
    // tini finishes too fast for startInit to catch its pid, so this waits for the whole run.
    const result = spawnSync('env', ['--default-signal', 'unshare', '--pid', '--fork', '--mount-proc', ...INITS.tini, '-vvv', '--', ...WORKLOAD], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(0);

    const extra = result.stdout.split('\n').filter((line) => line !== '' && !WORKLOAD_OUTPUT.includes(`${line}\n`));
    expect(extra.length).toBeGreaterThan(0);
  });
});
