// `docker run -it`: the init runs on a pseudo-terminal. The workload must
// own the terminal, so keys typed there (Ctrl-C, Ctrl-Z) and window changes
// reach it, while the init itself is never stopped by job control.

import { afterEach, expect, test } from 'vitest';

import { describeIf, INITS, killLeftovers, makeWorkDir, namespaceUnavailable, programUnavailable, waitFor } from './helpers/init';
import { readStatus } from './helpers/proc';
import { counter, endSessions, firstChild, readStat, Session, SessionOptions, signalRecords, startSession, watchState, WORKLOAD, workloadReady } from './helpers/tty';

afterEach(() => {
  endSessions();
  killLeftovers();
});

const modes = [
  { name: 'PID 1 of a namespace', namespace: true, flags: [] as string[] },
  { name: 'subreaper outside a namespace', namespace: false, flags: ['-s'] },
];

interface Run {
  session: Session;
  /** Host pid of the init. */
  init: number;
}

/**
 * Starts init... flags... -- tty-workload.py dir recorded exitOn on a new
 * terminal, in a namespace or not, and returns once the init's pid is known.
 */
async function runOnTerminal(
  init: readonly string[],
  namespace: boolean,
  flags: string[],
  dir: string,
  workload: { recorded?: string; exitOn?: string },
  options: SessionOptions = {},
): Promise<Run> {
  const prefix = namespace ? ['env', '--default-signal', 'unshare', '--pid', '--fork', '--mount-proc'] : ['env', '--default-signal'];
  const command = [...prefix, ...init, ...flags, '--', 'python3', WORKLOAD, dir, workload.recorded ?? '', workload.exitOn ?? ''];
  const session = await startSession(command, dir, options);
  // Under unshare the init is unshare's child. Otherwise env execs it in place.
  const initPid = namespace ? await firstChild(session.command) : session.command;
  return { session, init: initPid };
}

for (const mode of modes) {
  describeIf(namespaceUnavailable(), `terminal as ${mode.name}`, () => {
    test('child is foreground group', async () => {
      const dir = makeWorkDir();
      const { init } = await runOnTerminal(INITS.tsInit, mode.namespace, mode.flags, dir, { exitOn: 'SIGTERM=0' });
      const report = await workloadReady(dir, init);

      expect(report.foreground).toBe(report.pgrp);
    });

    test('Ctrl-C ends workload with status', async () => {
      const dir = makeWorkDir();
      const { session, init } = await runOnTerminal(INITS.tsInit, mode.namespace, mode.flags, dir, { exitOn: 'SIGINT=3' });
      await workloadReady(dir, init);

      session.type('03');
      expect(await session.exited).toBe(3);
      expect(signalRecords(dir).map((line) => line.split(' ')[0])).toEqual(['SIGINT']);
    });

    test('Ctrl-Z stops job, SIGCONT resumes', async () => {
      const dir = makeWorkDir();
      const { session, init } = await runOnTerminal(INITS.tsInit, mode.namespace, mode.flags, dir, { exitOn: 'SIGTERM=0' });
      const watch = watchState(init);
      const workload = (await workloadReady(dir, init)).hostPid;

      session.type('1a');
      await waitFor(() => readStatus(workload)?.state === 'T', 'the workload to stop after Ctrl-Z');
      const stoppedAt = counter(dir);

      process.kill(init, 'SIGCONT');
      await waitFor(() => readStatus(workload)?.state !== 'T', 'the workload to leave the stopped state');
      await waitFor(() => counter(dir) > stoppedAt, 'the workload counter to advance again');

      process.kill(init, 'SIGTERM');
      expect(await session.exited).toBe(0);
      await watch.stop();
      expect([...watch.states()]).not.toContain('T');
    });

    test.each([{ start: 'foreground' }, { start: 'background' }])('job-control signals never stop init ($start)', async ({ start }) => {
      const dir = makeWorkDir();
      // With tostop and -vvv, every line the init logs is a write to the
      // terminal from outside its foreground group. Started in the background
      // by a shell, its group is not orphaned, so a write the kernel held back
      // would stop it rather than fail with EIO.
      const { session, init } = await runOnTerminal(
        INITS.tsInit,
        mode.namespace,
        [...mode.flags, '-vvv'],
        dir,
        { recorded: 'SIGTSTP,SIGTTIN,SIGTTOU', exitOn: 'SIGTERM=0' },
        { tostop: true, background: start === 'background' },
      );
      const watch = watchState(init);
      await workloadReady(dir, init);
      const stat = readStat(init);
      expect(stat?.pgrp).not.toBe(stat?.tpgid);

      for (const signal of ['SIGTSTP', 'SIGTTIN', 'SIGTTOU'] as const) {
        process.kill(init, signal);
        await waitFor(() => signalRecords(dir).some((line) => line.startsWith(`${signal} `)), `the workload to record ${signal}`);
      }
      process.kill(init, 'SIGTERM');
      expect(await session.exited).toBe(0);
      await watch.stop();
      expect([...watch.states()]).not.toContain('T');
      // The scenario needs the init to have written to the terminal.
      expect(session.transcript()).toContain('[ts-init');
    });

    test('SIGWINCH from resize and kill', async () => {
      const dir = makeWorkDir();
      const { session, init } = await runOnTerminal(INITS.tsInit, mode.namespace, mode.flags, dir, { recorded: 'SIGWINCH', exitOn: 'SIGTERM=0' });
      await workloadReady(dir, init);

      session.resize(40, 100);
      await waitFor(() => signalRecords(dir).length === 1, 'the workload to record the resize');
      process.kill(init, 'SIGWINCH');
      await waitFor(() => signalRecords(dir).length === 2, 'the workload to record the forwarded SIGWINCH');

      expect(signalRecords(dir)).toEqual(['SIGWINCH 40x100', 'SIGWINCH 40x100']);
    });
  });
}

describeIf(namespaceUnavailable() ?? programUnavailable('tini'), 'terminal under tini -g', () => {
  test('child is foreground group', async () => {
    const dir = makeWorkDir();
    const { init } = await runOnTerminal(INITS.tini, true, [], dir, { exitOn: 'SIGTERM=0' });
    const report = await workloadReady(dir, init);

    expect(report.foreground).toBe(report.pgrp);
  });
});

// dumb-init, outside a namespace, suspends itself on a terminal stop signal,
// which the kernel forbids only to PID 1 of a namespace.
describeIf(programUnavailable('dumb-init'), 'terminal under dumb-init', () => {
  test('SIGTTIN stops dumb-init itself', async () => {
    const dir = makeWorkDir();
    const { init } = await runOnTerminal(INITS.dumbInit, false, [], dir, { recorded: 'SIGTTIN,SIGTTOU', exitOn: 'SIGTERM=0' });
    await workloadReady(dir, init);

    process.kill(init, 'SIGTTIN');
    await waitFor(() => readStatus(init)?.state === 'T', 'dumb-init to stop');
    expect(readStatus(init)?.state).toBe('T');
  });
});
