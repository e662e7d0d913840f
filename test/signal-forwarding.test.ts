// Signals sent to ts-init reach the workload: through a shell that does not
// exec, for every forwarded signal, for every copy of a real-time signal,
// and without ever running Node's own reaction to a signal.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { afterEach, expect, test } from 'vitest';

import {
  describeIf,
  exists,
  exitStatus,
  FIXTURES,
  INITS,
  killLeftovers,
  killQuietly,
  makeWorkDir,
  namespaceUnavailable,
  programUnavailable,
  RunningInit,
  sleep,
  startInit,
  TS_INIT,
  waitFor,
} from './helpers/init';
import { isAlive, readStatus } from './helpers/proc';
import {
  COUNTER,
  countOf,
  hostPidFromFile,
  lineCount,
  listeningInodes,
  ownListeners,
  received,
  signalNumber,
  threadSignals,
  ThreadSignals,
} from './helpers/signals';

const WRAPPER = path.join(FIXTURES, 'signals-wrapper.sh');
const IN_CI = process.env.CI === 'true';
const INSPECTOR_PORT = 9229;

/** Processes a test started outside any init. Each is ended by pid after the test. */
const extraPids: number[] = [];

afterEach(() => {
  killLeftovers();
  for (const pid of extraPids.splice(0)) killQuietly(pid, 'SIGKILL');
});

const FORWARDED = [
  'SIGHUP',
  'SIGINT',
  'SIGQUIT',
  'SIGTERM',
  'SIGUSR1',
  'SIGUSR2',
  'SIGWINCH',
  'SIGCONT',
  'SIGPWR',
  'SIGURG',
  'SIGALRM',
  'SIGABRT',
  'SIGTTIN',
  'SIGTTOU',
  'SIGTSTP',
  'SIGRTMIN+3',
];

/** Returns every signal the counter blocks and counts. SIGRTMIN+4 marks the end of a delivery. */
function countedSignals(): number[] {
  return [...FORWARDED, 'SIGRTMIN+2', 'SIGRTMIN+4'].map(signalNumber);
}

interface Counter {
  init: RunningInit;
  dir: string;
  /** Host pid of the counter. */
  pid: number;
}

async function startCounter(init: readonly string[], options: { orphans?: number; namespace?: boolean } = {}): Promise<Counter> {
  const dir = makeWorkDir();
  const args = ['--', 'python3', COUNTER, dir, countedSignals().join(',')];
  if (options.orphans !== undefined) args.push(String(options.orphans));
  const run = await startInit(init, args, { namespace: options.namespace });
  const ready = path.join(dir, 'ready');
  await waitFor(() => exists(ready), 'the counter to block its signals');
  return { init: run, dir, pid: hostPidFromFile(run.pid, ready) };
}

/** Tells the counter to exit and returns the init's exit status. */
async function stopCounter(counter: Counter): Promise<number> {
  fs.writeFileSync(path.join(counter.dir, 'stop'), '');
  return exitStatus(counter.init);
}

/** Sends the end marker SIGRTMIN+4 to the init and waits until the counter has taken it. */
async function sendMarker(counter: Counter, before: number): Promise<void> {
  const marker = signalNumber('SIGRTMIN+4');
  const markerSeen = () => countOf(received(counter.dir).slice(before), marker) > 0;

  counter.init.signal(marker);
  await waitFor(() => markerSeen() || readStatus(counter.pid)?.state === 'T', 'the end marker or a stopped counter');
  if (!markerSeen()) {
    // dumb-init forwards SIGSTOP in place of a terminal stop signal, so the
    // counter takes the marker only once continued.
    counter.init.signal('SIGCONT');
    await waitFor(markerSeen, 'the end marker after SIGCONT');
  }
}

/**
 * Sends signal to the init, then the end marker, and returns what the
 * counter took before the marker. Both the init and the counter take
 * standard signals before real-time ones and lower numbers first, so a
 * forwarded signal is always taken before the marker.
 */
async function deliver(counter: Counter, signal: number): Promise<number[]> {
  const marker = signalNumber('SIGRTMIN+4');
  const before = received(counter.dir).length;
  counter.init.signal(signal);
  await sendMarker(counter, before);
  return received(counter.dir)
    .slice(before)
    .filter((taken) => taken !== marker);
}

/** Waits until everything sent to the init so far has reached the counter. */
async function settle(counter: Counter): Promise<void> {
  await sendMarker(counter, received(counter.dir).length);
}

/** Watches for windowMs and returns every value check reported, for asserting that something never happens. */
async function watch<T>(windowMs: number, check: () => T[]): Promise<T[]> {
  const seen = new Set<T>();
  const deadline = Date.now() + windowMs;
  while (Date.now() < deadline) {
    for (const item of check()) seen.add(item);
    await sleep(50);
  }
  return [...seen];
}

function plainNode(script: string): number {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('NODE_')) delete env[name];
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore', env });
  const pid = child.pid as number;
  extraPids.push(pid);
  return pid;
}

describeIf(namespaceUnavailable() ?? programUnavailable('python3'), 'signal forwarding as PID 1', () => {
  test.each([
    { flags: [] as string[], target: 'process group' },
    { flags: ['-c'], target: 'main child only' },
  ])('SIGTERM through non-exec wrapper ($target)', async ({ flags }) => {
    const dir = makeWorkDir();
    const init = await startInit(INITS.tsInit, [...flags, '--', 'sh', WRAPPER, dir]);
    await waitFor(() => exists(path.join(dir, 'ready')), 'the worker to install its SIGTERM handler');

    init.signal('SIGTERM');
    // The shell dies of the SIGTERM, and that is the status ts-init reports.
    expect(await exitStatus(init)).toBe(143);
    expect(exists(path.join(dir, 'term'))).toBe(true);
  });

  test.each(FORWARDED)('%s reaches the child', async (name) => {
    const signal = signalNumber(name);
    const counter = await startCounter(INITS.tsInit);

    expect(await deliver(counter, signal)).toEqual([signal]);
    expect(await stopCounter(counter)).toBe(0);
  });

  test('1000 SIGRTMIN+2 while idle', async () => {
    const signal = signalNumber('SIGRTMIN+2');
    const counter = await startCounter(INITS.tsInit);

    for (let i = 0; i < 1000; i++) counter.init.signal(signal);
    await waitFor(() => countOf(received(counter.dir), signal) >= 1000, '1000 signals in the counter', 30_000);
    await settle(counter);

    expect(countOf(received(counter.dir), signal)).toBe(1000);
    expect(await stopCounter(counter)).toBe(0);
  });

  test('1000 SIGRTMIN+2 while reaping orphans', async () => {
    const signal = signalNumber('SIGRTMIN+2');
    const counter = await startCounter(INITS.tsInit, { orphans: 200 });
    const orphans = path.join(counter.dir, 'orphans');
    fs.writeFileSync(path.join(counter.dir, 'go'), '');
    await waitFor(() => lineCount(orphans) > 0, 'the first orphan');

    // Twenty rounds of fifty signals, each round only once another orphan
    // has come and gone, so the burst and the reaping interleave.
    const orphansAtStart = lineCount(orphans);
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 50; i++) counter.init.signal(signal);
      const orphansBefore = lineCount(orphans);
      await waitFor(() => lineCount(orphans) > orphansBefore, 'another orphan during the burst');
    }
    const orphansDuringBurst = lineCount(orphans) - orphansAtStart;
    fs.writeFileSync(path.join(counter.dir, 'burst-done'), '');

    await waitFor(() => countOf(received(counter.dir), signal) >= 1000, '1000 signals in the counter', 30_000);
    await settle(counter);
    await waitFor(() => lineCount(orphans) >= 200, '200 orphans', 30_000);

    expect(orphansDuringBurst).toBeGreaterThanOrEqual(20);
    expect(countOf(received(counter.dir), signal)).toBe(1000);
    expect(await stopCounter(counter)).toBe(0);
  });

  test('every thread blocks forwarded signals', async () => {
    const counter = await startCounter(INITS.tsInit);
    const required = ['SIGTERM', 'SIGUSR1', 'SIGHUP', 'SIGINT', 'SIGRTMIN+2'].map(signalNumber);

    // A snapshot taken while the signal thread is between two calls of
    // sigwaitinfo shows it neither waiting nor blocking, so take another.
    let threads = threadSignals(counter.init.pid);
    const waitingIn = (snapshot: Map<number, ThreadSignals>) => [...snapshot.values()].filter((thread) => thread.awaited !== undefined);
    await waitFor(() => {
      threads = threadSignals(counter.init.pid);
      return waitingIn(threads).length > 0;
    }, 'a thread of ts-init to wait in sigwaitinfo');
    const lacking = (tid: number) => {
      const { blocked, awaited } = threads.get(tid) as ThreadSignals;
      return required.filter((signal) => !blocked.includes(signal) && !(awaited ?? []).includes(signal));
    };
    const missing = Object.fromEntries([...threads.keys()].map((tid) => [tid, lacking(tid)] as const).filter(([, list]) => list.length > 0));

    // Node runs several threads, so a check of one thread would prove little.
    expect(threads.size).toBeGreaterThan(1);
    // Only the sigwaitinfo thread may have them unblocked, and only while it waits for them.
    expect(waitingIn(threads)).toHaveLength(1);
    expect(missing).toEqual({});
    expect(await stopCounter(counter)).toBe(0);
  });

  test('plain node leaves SIGTERM unblocked', async () => {
    // Shows that the mask check above can fail.
    const pid = plainNode('setTimeout(() => {}, 20000)');
    await waitFor(() => exists(`/proc/${pid}/task`) && threadSignals(pid).size > 1, 'node to start its threads');

    const unblocking = [...threadSignals(pid).values()].filter((thread) => !thread.blocked.includes(signalNumber('SIGTERM')));
    expect(unblocking.length).toBeGreaterThan(0);
  });

  test('SIGUSR1 never opens the inspector', async () => {
    const signal = signalNumber('SIGUSR1');
    const counter = await startCounter(INITS.tsInit);
    const portFreeBefore = listeningInodes(counter.init.pid, INSPECTOR_PORT).size === 0;

    // One at a time: standard signals sent together may merge into one.
    for (let sent = 1; sent <= 3; sent++) {
      counter.init.signal(signal);
      await waitFor(() => countOf(received(counter.dir), signal) === sent, `SIGUSR1 number ${sent} in the counter`);
    }
    // A plain node listens within a fraction of a second (see the next test).
    const opened = await watch(2000, () => ownListeners(counter.init.pid));

    expect(countOf(received(counter.dir), signal)).toBe(3);
    expect(opened).toEqual([]);
    if (portFreeBefore) expect([...listeningInodes(counter.init.pid, INSPECTOR_PORT)]).toEqual([]);
    expect(await stopCounter(counter)).toBe(0);
  });

  test('plain node opens inspector on SIGUSR1', async (context) => {
    // Shows that the listener check above can fail.
    if (listeningInodes(process.pid, INSPECTOR_PORT).size > 0) {
      const reason = `port ${INSPECTOR_PORT} is already in use, so the inspector could not listen`;
      if (IN_CI) throw new Error(`CI=true but ${reason}`);
      context.skip(reason);
    }
    const dir = makeWorkDir();
    const ready = path.join(dir, 'ready');
    const pid = plainNode(`require('fs').writeFileSync(${JSON.stringify(ready)}, ''); setTimeout(() => {}, 20000)`);
    await waitFor(() => exists(ready), 'node to run its script');

    process.kill(pid, 'SIGUSR1');
    await waitFor(() => ownListeners(pid, INSPECTOR_PORT).length > 0, 'the inspector of the plain node to listen');
    expect(ownListeners(pid, INSPECTOR_PORT)).toHaveLength(1);
  });
});

// The same deliveries with ts-init as a subreaper outside a namespace,
// where the kernel would act on any signal a thread left unblocked.
describeIf(programUnavailable('python3'), 'signal forwarding as a subreaper', () => {
  const subreaper = [TS_INIT, '-s'];

  test.each(FORWARDED)('%s reaches the child with -s', async (name) => {
    const signal = signalNumber(name);
    const counter = await startCounter(subreaper, { namespace: false });

    expect(await deliver(counter, signal)).toEqual([signal]);
    expect(await stopCounter(counter)).toBe(0);
  });

  test('1000 SIGRTMIN+2 with -s', async () => {
    const signal = signalNumber('SIGRTMIN+2');
    const counter = await startCounter(subreaper, { namespace: false });

    for (let i = 0; i < 1000; i++) counter.init.signal(signal);
    await waitFor(() => countOf(received(counter.dir), signal) >= 1000, '1000 signals in the counter', 30_000);
    await settle(counter);

    expect(countOf(received(counter.dir), signal)).toBe(1000);
    expect(await stopCounter(counter)).toBe(0);
  });
});

describeIf(namespaceUnavailable() ?? programUnavailable('python3') ?? programUnavailable('tini'), 'same cases under tini', () => {
  test.each(['SIGABRT', 'SIGTTIN', 'SIGTTOU'])('%s misses the child under tini', async (name) => {
    const signal = signalNumber(name);
    const counter = await startCounter(INITS.tini);

    expect(await deliver(counter, signal)).not.toContain(signal);
  });

  test('wrapper loses SIGTERM under plain tini', async () => {
    const dir = makeWorkDir();
    const init = await startInit(['tini'], ['--', 'sh', WRAPPER, dir]);
    await waitFor(() => exists(path.join(dir, 'ready')), 'the worker to install its SIGTERM handler');

    init.signal('SIGTERM');
    expect(await exitStatus(init)).toBe(143);
    expect(exists(path.join(dir, 'term'))).toBe(false);
  });
});

describeIf(namespaceUnavailable() ?? programUnavailable('python3') ?? programUnavailable('dumb-init'), 'same cases under dumb-init', () => {
  // dumb-init stops the child with SIGSTOP instead. The child is then
  // continued and marked directly, because dumb-init takes pending signals
  // lowest number first and could forward a SIGCONT before the stop.
  test.each(['SIGTSTP', 'SIGTTIN', 'SIGTTOU'])('%s misses the child under dumb-init', async (name) => {
    const signal = signalNumber(name);
    const marker = signalNumber('SIGRTMIN+4');
    const counter = await startCounter(INITS.dumbInit);

    counter.init.signal(signal);
    await waitFor(() => readStatus(counter.pid)?.state === 'T', 'dumb-init to stop the child');
    process.kill(counter.pid, 'SIGCONT');
    process.kill(counter.pid, marker);
    await waitFor(() => received(counter.dir).includes(marker), 'the end marker in the child');

    expect(received(counter.dir)).not.toContain(signal);
  });
});

const modes = [
  { name: 'PID 1 of a namespace', namespace: true, flags: [] as string[] },
  { name: 'subreaper outside a namespace', namespace: false, flags: ['-s'] },
];

for (const mode of modes) {
  describeIf(namespaceUnavailable(), `ignored signal as ${mode.name}`, () => {
    test('SIGHUP ignored by child spares ts-init', async () => {
      const dir = makeWorkDir();
      const script = [
        'trap "" HUP',
        `trap 'echo usr1 >> ${dir}/usr1' USR1`,
        `echo $$ > ${dir}/ready.tmp && mv ${dir}/ready.tmp ${dir}/ready`,
        'i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done',
      ].join('\n');
      const init = await startInit([TS_INIT], [...mode.flags, '--', 'sh', '-c', script], { namespace: mode.namespace });
      const ready = path.join(dir, 'ready');
      await waitFor(() => exists(ready), 'the child to ignore SIGHUP');
      const child = mode.namespace ? hostPidFromFile(init.pid, ready) : Number(fs.readFileSync(ready, 'latin1').trim());
      if (!mode.namespace) extraPids.push(child);

      init.signal('SIGHUP');
      // ts-init takes SIGHUP before SIGUSR1, so once the child has run its
      // USR1 trap, ts-init has handled the SIGHUP.
      init.signal('SIGUSR1');
      await waitFor(() => exists(path.join(dir, 'usr1')), 'the USR1 trap of the child');

      expect(isAlive(init.pid)).toBe(true);
      expect(isAlive(child)).toBe(true);
      init.signal('SIGTERM');
      expect(await exitStatus(init)).toBe(143);
    });
  });
}
