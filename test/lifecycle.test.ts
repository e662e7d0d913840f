// What happens to the processes around the main child: daemons in their own
// session, jobs left behind when it exits, a successor named in a pid file,
// and processes outside ts-init's subtree, which it must never touch.

import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { afterEach, expect, test } from 'vitest';

import {
  describeIf,
  exists,
  exitStatus,
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
import { COUNTER, countMarkers, daemonCommand, daemonIds, staysTrue, markerPath, markerTime, shellScript } from './helpers/lifecycle';
import { descendantPids, hostPidOf, isAlive, readStatus, signalsInMask } from './helpers/proc';

afterEach(killLeftovers);

const SIGTERM = 15;
const needsPython = () => namespaceUnavailable() ?? programUnavailable('python3');

/** Host pid of the daemon that wrote dir/name.pid inside run's namespace. */
function daemonHostPid(run: RunningInit, dir: string, name: string): number {
  const pid = hostPidOf(run.pid, daemonIds(dir, name).pid);
  if (pid === undefined) throw new Error(`daemon ${name} is not running`);
  return pid;
}

/** Resolves with the time at which run exited, in ms since the epoch. */
function exitTime(run: RunningInit): Promise<number> {
  return run.exited.then(() => Date.now());
}

const SETSID_DAEMONS = 10;

interface SetsidOutcome {
  status: number;
  /** Daemons that ran their SIGTERM handler. */
  handled: number;
  /** Daemons that lead their own session. */
  sessionLeaders: number;
}

/** Starts ten daemons that each call setsid, sends SIGTERM to the init and counts the handlers that ran. */
async function stopSetsidDaemons(init: readonly string[]): Promise<SetsidOutcome> {
  const dir = makeWorkDir();
  const names = Array.from({ length: SETSID_DAEMONS }, (_, index) => `daemon${index}`);
  const script = shellScript(...names.map((name) => `setsid -f ${daemonCommand(dir, name)}`), 'exec sleep 60');
  const run = await startInit(init, ['--', ...script]);
  await waitFor(() => countMarkers(dir, 'pid') === SETSID_DAEMONS, 'every daemon ready', 20_000);
  const sessionLeaders = names.filter((name) => {
    const ids = daemonIds(dir, name);
    return ids.sid === ids.pid;
  }).length;

  run.signal('SIGTERM');
  const status = await exitStatus(run);
  return { status, handled: countMarkers(dir, 'term'), sessionLeaders };
}

describeIf(needsPython(), 'setsid daemons on SIGTERM', () => {
  test('all ten run their handler', async () => {
    const outcome = await stopSetsidDaemons(INITS.tsInit);
    expect(outcome.sessionLeaders).toBe(SETSID_DAEMONS);
    expect(outcome.handled).toBe(SETSID_DAEMONS);
    expect(outcome.status).toBe(143);
  });
});

for (const [name, init] of [
  ['tini', INITS.tini],
  ['dumb-init', INITS.dumbInit],
] as const) {
  describeIf(needsPython() ?? programUnavailable(name), `setsid daemons under ${name}`, () => {
    test(`${name} reaches none of them`, async () => {
      const theirs = await stopSetsidDaemons(init);
      const ours = await stopSetsidDaemons(INITS.tsInit);
      expect(theirs.sessionLeaders).toBe(SETSID_DAEMONS);
      expect(theirs.handled).toBe(0);
      expect(ours.handled).not.toBe(theirs.handled);
    });
  });
}

/** Main child that leaves a setsid daemon and a background job (0.5 s SIGTERM handlers) behind and exits 7. */
function leaveDaemonAndJob(dir: string): string[] {
  return shellScript(
    `setsid -f ${daemonCommand(dir, 'daemon', '--handler-seconds', '0.5')}`,
    `${daemonCommand(dir, 'job', '--handler-seconds', '0.5')} &`,
    `wait_for ${markerPath(dir, 'daemon', 'pid')}`,
    `wait_for ${markerPath(dir, 'job', 'pid')}`,
    `stamp ${dir}/main.exiting`,
    'exit 7',
  );
}

describeIf(needsPython(), 'leftovers after the main child exits', () => {
  test('daemon and job stop cleanly', async () => {
    const dir = makeWorkDir();
    const run = await startInit([TS_INIT], ['--', ...leaveDaemonAndJob(dir)]);
    const exitedAt = exitTime(run);
    await waitFor(() => exists(`${dir}/main.exiting`), 'main child about to exit', 20_000);
    const mainExitSeenAt = Date.now();

    expect(await exitStatus(run)).toBe(7);
    expect(exists(markerPath(dir, 'daemon', 'done'))).toBe(true);
    expect(exists(markerPath(dir, 'job', 'done'))).toBe(true);
    const mainExit = markerTime(`${dir}/main.exiting`);
    expect(markerTime(markerPath(dir, 'daemon', 'done')) - mainExit).toBeLessThan(2000);
    expect(markerTime(markerPath(dir, 'job', 'done')) - mainExit).toBeLessThan(2000);
    // The daemons finish within 2 s (checked above), and this bound leaves room for a loaded machine.
    expect((await exitedAt) - mainExitSeenAt).toBeLessThan(4000);
  });

  test('SIGKILL after the grace period', async () => {
    const dir = makeWorkDir();
    const script = shellScript(
      `setsid -f ${daemonCommand(dir, 'stubborn', '--ignore-term', '--lifetime', '5')}`,
      `wait_for ${markerPath(dir, 'stubborn', 'pid')}`,
      `stamp ${dir}/main.exiting`,
      'exit 7',
    );
    const run = await startInit([TS_INIT], ['--grace-period', '1s', '--', ...script]);
    const exitedAt = exitTime(run);
    await waitFor(() => exists(markerPath(dir, 'stubborn', 'pid')), 'daemon ready', 20_000);
    const daemon = daemonHostPid(run, dir, 'stubborn');
    expect(signalsInMask(readStatus(daemon)?.sigIgn ?? 0n)).toContain(SIGTERM);

    expect(await exitStatus(run)).toBe(7);
    expect(isAlive(daemon)).toBe(false);
    expect(exists(markerPath(dir, 'stubborn', 'survived'))).toBe(false);
    // Exiting before the grace period ran out would mean ts-init left the daemon to the kernel.
    expect((await exitedAt) - markerTime(`${dir}/main.exiting`)).toBeGreaterThanOrEqual(900);
  });

  test('exit once the last leftover ends', async () => {
    const dir = makeWorkDir();
    const script = shellScript(
      `setsid -f ${daemonCommand(dir, 'leftover', '--handler-seconds', '0.5')}`,
      `wait_for ${markerPath(dir, 'leftover', 'pid')}`,
      `stamp ${dir}/main.exiting`,
      'exit 0',
    );
    const run = await startInit([TS_INIT], ['--grace-period', '30s', '--', ...script]);
    const exitedAt = exitTime(run);
    await waitFor(() => exists(`${dir}/main.exiting`), 'main child about to exit', 20_000);
    const mainExitSeenAt = Date.now();

    expect(await exitStatus(run, 40_000)).toBe(0);
    expect(exists(markerPath(dir, 'leftover', 'done'))).toBe(true);
    expect((await exitedAt) - mainExitSeenAt).toBeLessThan(10_000);
  });
});

for (const [name, init] of [
  ['tini', INITS.tini],
  ['dumb-init', INITS.dumbInit],
] as const) {
  describeIf(needsPython() ?? programUnavailable(name), `leftovers under ${name}`, () => {
    test(`${name} lets none finish`, async () => {
      const dir = makeWorkDir();
      const run = await startInit(init, ['--', ...leaveDaemonAndJob(dir)]);
      expect(await exitStatus(run)).toBe(7);
      expect(countMarkers(dir, 'done')).toBe(0);
    });
  });
}

/** Main child that starts a successor in its own process group, records its own pid and waits. */
function forkSuccessor(dir: string): string[] {
  return shellScript(
    `${daemonCommand(dir, 'successor', '--handler-seconds', '0.2')} &`,
    `wait_for ${markerPath(dir, 'successor', 'pid')}`,
    `echo $$ > ${dir}/main.tmp && mv ${dir}/main.tmp ${dir}/main.pid`,
    'wait',
  );
}

/** Waits until the main child of forkSuccessor is ready, SIGKILLs it and waits until ts-init has reaped it. */
async function killMainChild(run: RunningInit, dir: string): Promise<void> {
  await waitFor(() => exists(`${dir}/main.pid`), 'main child ready', 20_000);
  const mainPid = Number(readText(`${dir}/main.pid`).trim());
  expect(daemonIds(dir, 'successor').pgid).toBe(mainPid);
  const main = hostPidOf(run.pid, mainPid);
  if (main === undefined) throw new Error('main child is not running');
  killQuietly(main, 'SIGKILL');
  await waitFor(() => readStatus(main) === undefined, 'main child reaped');
}

describeIf(needsPython(), 'main child killed after forking', () => {
  test('--wait-all keeps the successor running', async () => {
    const dir = makeWorkDir();
    const run = await startInit([TS_INIT], ['--wait-all', '--', ...forkSuccessor(dir)]);
    await waitFor(() => exists(markerPath(dir, 'successor', 'pid')), 'successor ready', 20_000);
    const successor = daemonHostPid(run, dir, 'successor');
    await killMainChild(run, dir);

    const untouched = () => isAlive(successor) && isAlive(run.pid) && !exists(markerPath(dir, 'successor', 'term'));
    expect(await staysTrue(untouched, 1000)).toBe(true);

    run.signal('SIGTERM');
    expect(await exitStatus(run)).toBe(137);
    expect(exists(markerPath(dir, 'successor', 'done'))).toBe(true);
  });

  test('default stops the successor', async () => {
    const dir = makeWorkDir();
    const run = await startInit([TS_INIT], ['--', ...forkSuccessor(dir)]);
    await killMainChild(run, dir);

    // Right after the main child's death means well before the default grace period of 10 s ends.
    await waitFor(() => exists(markerPath(dir, 'successor', 'term')), 'SIGTERM handler of the successor', 5000);
    expect(await exitStatus(run)).toBe(137);
    expect(exists(markerPath(dir, 'successor', 'done'))).toBe(true);
  });
});

/** Main child that starts a successor in its own session, names it in dir/app.pid and exits 0. */
function handOverScript(dir: string): string[] {
  return shellScript(
    `setsid -f ${daemonCommand(dir, 'successor', '--exit-code', '5')}`,
    `wait_for ${markerPath(dir, 'successor', 'pid')}`,
    `cut -d ' ' -f 1 ${markerPath(dir, 'successor', 'pid')} > ${dir}/app.pid`,
    'exit 0',
  );
}

describeIf(needsPython(), 'hand-over through --pidfile', () => {
  test('successor becomes the main child', async () => {
    const dir = makeWorkDir();
    const run = await startInit([TS_INIT], ['--pidfile', `${dir}/app.pid`, '--', ...handOverScript(dir)]);
    await waitFor(() => exists(`${dir}/app.pid`), 'pid file written', 20_000);
    const successor = daemonHostPid(run, dir, 'successor');
    await waitFor(() => descendantPids(run.pid).join() === String(successor), 'main child gone');

    const untouched = () => isAlive(successor) && isAlive(run.pid) && !exists(markerPath(dir, 'successor', 'term'));
    expect(await staysTrue(untouched, 1500)).toBe(true);

    run.signal('SIGTERM');
    expect(await exitStatus(run)).toBe(5);
    expect(exists(markerPath(dir, 'successor', 'term'))).toBe(true);
  });

  test('without it the successor stops', async () => {
    const dir = makeWorkDir();
    const run = await startInit([TS_INIT], ['--', ...handOverScript(dir)]);
    await waitFor(() => exists(markerPath(dir, 'successor', 'term')), 'SIGTERM handler of the successor', 5000);
    expect(await exitStatus(run)).toBe(0);
  });
});

describeIf(needsPython(), 'subreaper with -a', () => {
  let sibling: ChildProcess | undefined;
  const dirs: string[] = [];

  // Without a namespace nothing ends the fixtures when a test fails midway.
  afterEach(() => {
    if (sibling?.pid !== undefined) killQuietly(sibling.pid, 'SIGKILL');
    sibling = undefined;
    for (const dir of dirs.splice(0)) {
      for (const file of fs.readdirSync(dir).filter((name) => name.endsWith('.pid'))) {
        const pid = Number(readText(path.join(dir, file)).split(' ')[0]);
        let command = '';
        try {
          command = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1');
        } catch {
          continue;
        }
        if (command.includes('life-daemon.py')) killQuietly(pid, 'SIGKILL');
      }
    }
  });

  /** Starts the signal counter beside ts-init, outside its subtree, and returns the path of its log. */
  async function startSibling(dir: string): Promise<string> {
    const log = path.join(dir, 'sibling.log');
    const ready = path.join(dir, 'sibling.ready');
    sibling = spawn('python3', [COUNTER, log, ready], { stdio: 'ignore' });
    await waitFor(() => exists(ready), 'sibling ready', 20_000);
    return log;
  }

  test('signals spare an outside process', async () => {
    const dir = makeWorkDir();
    dirs.push(dir);
    const log = await startSibling(dir);
    const names = ['job', 'main', 'session'];
    const script = shellScript(
      `setsid -f ${daemonCommand(dir, 'session', '--record', 'USR1')}`,
      `${daemonCommand(dir, 'job', '--record', 'USR1')} &`,
      `exec ${daemonCommand(dir, 'main', '--record', 'USR1')}`,
    );
    const run = await startInit([TS_INIT], ['-s', '-a', '--', ...script], { namespace: false });
    await waitFor(() => names.every((name) => exists(markerPath(dir, name, 'pid'))), 'descendants ready', 20_000);

    run.signal('SIGUSR1');
    const recorded = (name: string) => exists(markerPath(dir, name, 'signals')) && readText(markerPath(dir, name, 'signals')) === 'SIGUSR1\n';
    await waitFor(() => names.every(recorded), 'SIGUSR1 recorded by every descendant');
    run.signal('SIGTERM');

    expect(await exitStatus(run)).toBe(0);
    expect(names.filter((name) => exists(markerPath(dir, name, 'term')))).toEqual(names);
    expect(readText(log)).toBe('');
  });

  test('stopping leftovers spares an outside process', async () => {
    const dir = makeWorkDir();
    dirs.push(dir);
    const log = await startSibling(dir);
    const names = ['job', 'session'];
    const script = shellScript(
      `setsid -f ${daemonCommand(dir, 'session')}`,
      `${daemonCommand(dir, 'job')} &`,
      ...names.map((name) => `wait_for ${markerPath(dir, name, 'pid')}`),
      'exit 0',
    );
    const run = await startInit([TS_INIT], ['-s', '-a', '--', ...script], { namespace: false });

    expect(await exitStatus(run)).toBe(0);
    expect(names.filter((name) => exists(markerPath(dir, name, 'term')))).toEqual(names);
    expect(readText(log)).toBe('');
  });
});

describeIf(namespaceUnavailable(), '--grace-period durations', () => {
  test.each(['500ms', '10s', '1m'])('%s is accepted', async (duration) => {
    const run = await startInit([TS_INIT], ['--grace-period', duration, '--', 'sh', '-c', 'exit 3']);
    expect(await exitStatus(run)).toBe(3);
  });

  test('abc is a usage error', async () => {
    const dir = makeWorkDir();
    const run = await startInit([TS_INIT], ['--grace-period', 'abc', '--', 'touch', `${dir}/ran`]);
    expect(await exitStatus(run)).toBe(1);
    expect(run.stderr()).toContain('--grace-period');
    expect(exists(`${dir}/ran`)).toBe(false);
  });
});
