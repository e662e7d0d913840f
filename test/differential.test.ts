// The same scenarios under tini, dumb-init and ts-init, compared by what the
// workload's processes went through: the init's exit status, the signals
// each process took, the bytes it wrote. Where ts-init departs from tini or
// dumb-init on purpose, the assertion names the difference; everywhere else
// the observations must be equal.

import fs from 'node:fs';
import path from 'node:path';

import { afterEach, expect, test } from 'vitest';

import {
  describeIf,
  exists,
  exitStatus,
  killLeftovers,
  makeWorkDir,
  namespaceUnavailable,
  programUnavailable,
  RunningInit,
  startInit,
  TS_INIT,
  waitFor,
} from './helpers/init';
import { hostPidOf } from './helpers/proc';
import {
  ARGS,
  deliveredToBoth,
  mapLimited,
  observeSignals,
  OUTPUT,
  PAUSE,
  PREFIX,
  runDirectly,
  runToEnd,
  signalNumber,
  SignalObservation,
  SLOW_STOP,
} from './helpers/differential';

afterEach(killLeftovers);

const unavailable = namespaceUnavailable() ?? programUnavailable('tini') ?? programUnavailable('dumb-init') ?? programUnavailable('python3');

const CONCURRENCY = 8;

/** Returns observation with each process's signals in number order. */
function sortedReceived(observation: SignalObservation): SignalObservation {
  const sorted = (signals: string[]) => [...signals].sort((a, b) => signalNumber(a) - signalNumber(b));
  return {
    ...observation,
    child: { ...observation.child, received: sorted(observation.child.received) },
    grandchild: { ...observation.grandchild, received: sorted(observation.grandchild.received) },
  };
}

/** Both recorders stopped by SIGSTOP before taking anything. */
const STOPPED: SignalObservation = {
  child: { received: [], stopped: true },
  grandchild: { received: [], stopped: true },
  status: 0,
};

describeIf(unavailable, 'exit status remapping with -e', () => {
  const TINI = 'tini';
  const CODES = Array.from({ length: 256 }, (_, code) => code);
  // Small batches keep each test far from the timeout on a loaded machine.
  const BATCHES = Array.from({ length: 8 }, (_, index) => CODES.slice(index * 32, index * 32 + 32));

  interface Remapped {
    /** Status when -e names the code the child exits with. */
    listed: number;
    /** Status when -e names every other code. */
    others: number;
  }

  /** Runs every code under both inits, both ways, with one limit on the runs in flight. */
  async function remapped(codes: number[]): Promise<{ tini: Remapped[]; tsInit: Remapped[] }> {
    const others = (code: number) => CODES.filter((other) => other !== code).flatMap((other) => ['-e', String(other)]);
    const runs = [TINI, TS_INIT].flatMap((init) =>
      codes.flatMap((code) => [
        { init, code, flags: ['-e', String(code)], field: 'listed' as const },
        { init, code, flags: others(code), field: 'others' as const },
      ]),
    );
    const finished = await mapLimited(runs, CONCURRENCY, (run) => runToEnd([run.init], [...run.flags, '--', 'sh', '-c', `exit ${run.code}`]));

    const table = (init: string) =>
      codes.map((code) => {
        const statusOf = (field: keyof Remapped) => finished[runs.findIndex((run) => run.init === init && run.code === code && run.field === field)].status;
        return { listed: statusOf('listed'), others: statusOf('others') };
      });
    return { tini: table(TINI), tsInit: table(TS_INIT) };
  }

  for (const codes of BATCHES) {
    test(`codes ${codes[0]} to ${codes[codes.length - 1]}`, async () => {
      const { tini, tsInit } = await remapped(codes);

      expect(tini).toEqual(codes.map((code) => ({ listed: 0, others: code })));
      expect(tsInit).toEqual(tini);
    });
  }
});

describeIf(unavailable, 'signals sent to the init', () => {
  const SIGNALS = [
    'SIGHUP',
    'SIGINT',
    'SIGQUIT',
    'SIGUSR1',
    'SIGUSR2',
    'SIGALRM',
    'SIGTERM',
    'SIGWINCH',
    'SIGCONT',
    'SIGURG',
    'SIGPWR',
    'SIGIO',
    'SIGPROF',
    'SIGVTALRM',
    'SIGXCPU',
    'SIGXFSZ',
    'SIGSTKFLT',
    'SIGTTIN',
    'SIGTTOU',
    'SIGTSTP',
    'SIGABRT',
    'SIGRTMIN',
    'SIGRTMIN+1',
    'SIGRTMAX-1',
  ];

  // Intended differences, each with the reason it shows.
  const TINI_DROPS = new Map([
    ['SIGABRT', 'tini leaves SIGABRT unblocked at its default action, which the kernel ignores for a namespace init, while ts-init forwards it'],
    ['SIGTTIN', 'tini sets SIGTTIN to ignored and never forwards it, while ts-init forwards it'],
    ['SIGTTOU', 'tini sets SIGTTOU to ignored and never forwards it, while ts-init forwards it'],
  ]);
  const DUMB_INIT_STOPS = new Map([
    ['SIGTSTP', 'dumb-init turns SIGTSTP into SIGSTOP for the group, while ts-init forwards SIGTSTP itself'],
    ['SIGTTIN', 'dumb-init turns SIGTTIN into SIGSTOP for the group, while ts-init forwards SIGTTIN itself'],
    ['SIGTTOU', 'dumb-init turns SIGTTOU into SIGSTOP for the group, while ts-init forwards SIGTTOU itself'],
  ]);

  test.each(SIGNALS)('%s against tini and dumb-init', async (name) => {
    const [tini, dumbInit, tsInit] = await Promise.all([
      observeSignals(PREFIX.tiniGroup, [name]),
      observeSignals(PREFIX.dumbInit, [name]),
      observeSignals(PREFIX.tsInit, [name]),
    ]);

    expect(tsInit).toEqual(deliveredToBoth(name));

    const tiniDrops = TINI_DROPS.get(name);
    if (tiniDrops === undefined) expect(tsInit).toEqual(tini);
    else expect(tini, tiniDrops).toEqual(deliveredToBoth());

    const dumbInitStops = DUMB_INIT_STOPS.get(name);
    if (dumbInitStops === undefined) expect(tsInit).toEqual(dumbInit);
    else expect(dumbInit, dumbInitStops).toEqual(STOPPED);
  });

  test('burst with real-time copies', async () => {
    const burst = ['SIGUSR2', 'SIGHUP', 'SIGRTMIN', 'SIGRTMIN', 'SIGTERM', 'SIGRTMIN+1', 'SIGRTMIN'];
    const observations = await Promise.all([PREFIX.tiniGroup, PREFIX.dumbInit, PREFIX.tsInit].map((prefix) => observeSignals(prefix, burst)));
    // The init may forward one signal before the test has sent the next, so
    // only the multiset of signals is fixed, not their order.
    const [tini, dumbInit, tsInit] = observations.map(sortedReceived);

    expect(tsInit).toEqual(sortedReceived(deliveredToBoth(...burst)));
    expect(tsInit).toEqual(tini);
    expect(tsInit).toEqual(dumbInit);
  });

  test('group by default unlike tini', async () => {
    const [tini, tsInit] = await Promise.all([observeSignals(PREFIX.tini, ['SIGUSR1']), observeSignals(PREFIX.tsInit, ['SIGUSR1'])]);

    expect(tsInit.child).toEqual(tini.child);
    expect(tsInit.grandchild.received, 'ts-init forwards to the whole process group without -g').toEqual(['SIGUSR1']);
    expect(tini.grandchild.received, 'tini without -g forwards to the child alone').toEqual([]);
  });

  test('TINI_KILL_PROCESS_GROUP like tini', async () => {
    const env = { TINI_KILL_PROCESS_GROUP: '1' };
    const [tini, tsInit] = await Promise.all([observeSignals(PREFIX.tini, ['SIGUSR1'], env), observeSignals(PREFIX.tsInit, ['SIGUSR1'], env)]);

    expect(tsInit).toEqual(deliveredToBoth('SIGUSR1'));
    expect(tsInit).toEqual(tini);
  });
});

describeIf(unavailable, 'exit status after signal death', () => {
  const INITS = { tini: PREFIX.tiniGroup, dumbInit: PREFIX.dumbInit, tsInit: PREFIX.tsInit };

  /** Starts the pausing child under each init, lets kill end it and returns each init's exit status. */
  async function statusesAfter(kill: (init: RunningInit, childPid: number) => void): Promise<Record<keyof typeof INITS, number>> {
    const entries = await Promise.all(
      Object.entries(INITS).map(async ([name, prefix]) => {
        const dir = makeWorkDir();
        const init = await startInit(prefix, ['python3', PAUSE, dir]);
        const ready = path.join(dir, 'ready');
        await waitFor(() => exists(ready), `${name}'s child to be ready`, 15_000);
        const childPid = hostPidOf(init.pid, Number(fs.readFileSync(ready, 'latin1').trim()));
        if (childPid === undefined) throw new Error(`${name}'s child not found`);
        kill(init, childPid);
        return [name, await exitStatus(init)] as const;
      }),
    );
    return Object.fromEntries(entries) as Record<keyof typeof INITS, number>;
  }

  test.each(['SIGTERM', 'SIGKILL', 'SIGUSR1'])('child killed by %s', async (name) => {
    const status = 128 + signalNumber(name);
    const statuses = await statusesAfter((_init, childPid) => process.kill(childPid, signalNumber(name)));
    expect(statuses).toEqual({ tini: status, dumbInit: status, tsInit: status });
  });

  test.each(['SIGTERM', 'SIGUSR1', 'SIGHUP'])('child killed by forwarded %s', async (name) => {
    const status = 128 + signalNumber(name);
    const statuses = await statusesAfter((init) => init.signal(signalNumber(name)));
    expect(statuses).toEqual({ tini: status, dumbInit: status, tsInit: status });
  });
});

describeIf(unavailable, 'exec failures', () => {
  async function statuses(command: string): Promise<{ tini: number; dumbInit: number; tsInit: number }> {
    const [tini, dumbInit, tsInit] = await Promise.all([
      runToEnd(PREFIX.tini, [command]),
      runToEnd(PREFIX.dumbInit, [command]),
      runToEnd(PREFIX.tsInit, [command]),
    ]);
    return { tini: tini.status, dumbInit: dumbInit.status, tsInit: tsInit.status };
  }

  test('missing command', async () => {
    const result = await statuses('diff-no-such-command');

    expect(result.tsInit).toBe(127);
    expect(result.tini).toBe(result.tsInit);
    expect(result.dumbInit, 'dumb-init exits 2 when exec fails, while ts-init follows tini and the shell with 127').toBe(2);
  });

  test('file not executable', async () => {
    const script = path.join(makeWorkDir(), 'not-executable.sh');
    fs.writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
    const result = await statuses(script);

    expect(result.tsInit).toBe(126);
    expect(result.tini).toBe(result.tsInit);
    expect(result.dumbInit, 'dumb-init exits 2 when exec fails, while ts-init follows tini and the shell with 126').toBe(2);
  });
});

describeIf(unavailable, 'workload output', () => {
  const INITS = [
    { name: 'tini', prefix: PREFIX.tini },
    { name: 'tini -g', prefix: PREFIX.tiniGroup },
    { name: 'dumb-init', prefix: PREFIX.dumbInit },
    { name: 'ts-init', prefix: PREFIX.tsInit },
  ];

  for (const { name, prefix } of INITS) {
    test(`unchanged under ${name}`, async () => {
      const [direct, underInit] = await Promise.all([runDirectly(['sh', OUTPUT]), runToEnd(prefix, ['sh', OUTPUT])]);
      expect(underInit).toEqual(direct);
    });
  }

  test.each(['-v', '-vvv'])('stdout clean with %s', async (verbose) => {
    const [direct, tini, tsInit] = await Promise.all([
      runDirectly(['sh', OUTPUT]),
      runToEnd(['tini', verbose, '--'], ['sh', OUTPUT]),
      runToEnd([TS_INIT, verbose, '--'], ['sh', OUTPUT]),
    ]);

    expect(tsInit.stdout, 'ts-init logs only to stderr').toBe(direct.stdout);
    expect(tini.stdout, 'tini writes its info, debug and trace lines to stdout').not.toBe(direct.stdout);
    expect(tsInit.status).toBe(tini.status);
  });
});

describeIf(unavailable, 'tini flags', () => {
  interface ArgsObservation {
    status: number;
    /** The words the program received after DIR and STATUS. */
    args: string[];
  }

  async function observeArgs(init: string, words: string[]): Promise<ArgsObservation> {
    const dir = makeWorkDir();
    const result = await runToEnd([init], words.map((word) => word.replace('DIR', dir)));
    const file = path.join(dir, 'args');
    const args = exists(file) ? fs.readFileSync(file, 'utf8').split('\n').slice(0, -1) : [];
    fs.rmSync(dir, { recursive: true, force: true });
    return { status: result.status, args };
  }

  const program = ['sh', ARGS, 'DIR', '2', 'one', '-x', 'two words'];

  test.each(['-s', '-g', '-sg', '-vvv', '-w', '-e 1 -e 2', '-p SIGKILL'])('accepts %s', async (text) => {
    const flags = text.split(' ');
    const words = [...flags, '--', ...program];
    const [tini, tsInit] = await Promise.all([observeArgs('tini', words), observeArgs(TS_INIT, words)]);

    expect(tsInit.args).toEqual(['one', '-x', 'two words']);
    expect(tsInit).toEqual(tini);
  });

  test('program without --', async () => {
    const words = ['sh', ARGS, 'DIR', '2', 'one', 'two'];
    const [tini, tsInit] = await Promise.all([observeArgs('tini', words), observeArgs(TS_INIT, words)]);

    expect(tsInit).toEqual({ status: 2, args: ['one', 'two'] });
    expect(tsInit).toEqual(tini);
  });

  test('option after program name', async () => {
    const words = ['-s', 'sh', ARGS, 'DIR', '2', '-v'];
    const [tini, tsInit] = await Promise.all([observeArgs('tini', words), observeArgs(TS_INIT, words)]);

    expect(tsInit.args, 'ts-init stops reading options at the program name').toEqual(['-v']);
    expect(tini.args, 'tini takes options from anywhere on its command line without --').toEqual([]);
    expect(tsInit.status).toBe(tini.status);
  });
});

describeIf(unavailable, 'dumb-init flags', () => {
  const childOnly: SignalObservation = {
    child: { received: ['SIGUSR1'], stopped: false },
    grandchild: { received: [], stopped: false },
    status: 0,
  };
  const CASES = [
    { flags: ['-r', '15:3'], send: 'SIGTERM', expected: deliveredToBoth('SIGQUIT') },
    { flags: ['--rewrite', '15:3'], send: 'SIGTERM', expected: deliveredToBoth('SIGQUIT') },
    { flags: ['-r', '10:0'], send: 'SIGUSR1', expected: deliveredToBoth() },
    { flags: ['-c'], send: 'SIGUSR1', expected: childOnly },
    { flags: ['--single-child'], send: 'SIGUSR1', expected: childOnly },
  ];

  for (const { flags, send, expected } of CASES) {
    test(`${flags.join(' ')} with ${send}`, async () => {
      const [dumbInit, tsInit] = await Promise.all([
        observeSignals(['dumb-init', ...flags, '--'], [send]),
        observeSignals([TS_INIT, ...flags, '--'], [send]),
      ]);

      expect(tsInit).toEqual(expected);
      expect(tsInit).toEqual(dumbInit);
    });
  }

  test('DUMB_INIT_SETSID=0 with SIGUSR1', async () => {
    const env = { DUMB_INIT_SETSID: '0' };
    const [dumbInit, tsInit] = await Promise.all([observeSignals(PREFIX.dumbInit, ['SIGUSR1'], env), observeSignals(PREFIX.tsInit, ['SIGUSR1'], env)]);

    expect(tsInit).toEqual(childOnly);
    expect(tsInit).toEqual(dumbInit);
  });
});

describeIf(unavailable, 'lifecycle after SIGTERM', () => {
  test('grandchild finishes its handler', async () => {
    const observe = async (prefix: readonly string[]) => {
      const dir = makeWorkDir();
      const init = await startInit(prefix, ['python3', SLOW_STOP, dir]);
      await waitFor(() => exists(path.join(dir, 'ready')), 'both processes to be ready', 15_000);
      init.signal('SIGTERM');
      const status = await exitStatus(init);
      return { status, grandchildFinished: exists(path.join(dir, 'finished')) };
    };
    const [tini, dumbInit, tsInit] = await Promise.all([observe(PREFIX.tiniGroup), observe(PREFIX.dumbInit), observe(PREFIX.tsInit)]);

    expect(tsInit).toEqual({ status: 143, grandchildFinished: true });
    expect(tini, 'tini exits with its child, and the kernel kills the grandchild mid-handler').toEqual({ status: 143, grandchildFinished: false });
    expect(dumbInit, 'dumb-init exits with its child, and the kernel kills the grandchild mid-handler').toEqual({ status: 143, grandchildFinished: false });
  });
});
