// Running one scenario under tini, dumb-init and ts-init and turning what
// the workload's processes went through into plain objects that can be
// compared with toEqual.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { exitStatus, FIXTURES, killQuietly, makeWorkDir, startInit, TS_INIT, waitFor } from './init';
import { hostPidOf, readStatus } from './proc';

export const RECORDER = path.join(FIXTURES, 'diff-recorder.py');
export const OUTPUT = path.join(FIXTURES, 'diff-output.sh');
export const ARGS = path.join(FIXTURES, 'diff-args.sh');
export const SLOW_STOP = path.join(FIXTURES, 'diff-slow-stop.py');
export const PAUSE = path.join(FIXTURES, 'diff-pause.py');

/** Command prefixes that run a program under each init, up to and including `--` where the init takes it. */
export const PREFIX = {
  tini: ['tini', '--'],
  tiniGroup: ['tini', '-g', '--'],
  dumbInit: ['dumb-init', '--'],
  tsInit: [TS_INIT, '--'],
} as const;

let realTime: { min: number; max: number } | undefined;

/** Returns SIGRTMIN and SIGRTMAX as the workload (glibc) numbers them. */
export function realTimeRange(): { min: number; max: number } {
  realTime ??= (() => {
    const text = execFileSync('python3', ['-c', 'import signal; print(int(signal.SIGRTMIN), int(signal.SIGRTMAX))'], { encoding: 'utf8' });
    const [min, max] = text.trim().split(' ').map(Number);
    return { min, max };
  })();
  return realTime;
}

const STANDARD = os.constants.signals as Record<string, number>;

/** Returns the number of a signal named like SIGTERM, SIGIO or SIGRTMIN+2. */
export function signalNumber(name: string): number {
  const { min, max } = realTimeRange();
  const realTimeName = /^SIGRT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (realTimeName !== null) {
    const offset = realTimeName[3] === undefined ? 0 : Number(realTimeName[3]) * (realTimeName[2] === '-' ? -1 : 1);
    return (realTimeName[1] === 'MIN' ? min : max) + offset;
  }
  const number = STANDARD[name];
  if (number === undefined) throw new Error(`unknown signal ${name}`);
  return number;
}

/** Returns the first name Node lists for a signal number, or SIGRTMIN+N / SIGRTMAX-N. */
export function nameOfSignal(number: number): string {
  for (const [name, value] of Object.entries(STANDARD)) {
    if (value === number) return name;
  }
  const { min, max } = realTimeRange();
  if (number === min) return 'SIGRTMIN';
  if (number === max) return 'SIGRTMAX';
  if (number > min && number < max) return number - min <= max - number ? `SIGRTMIN+${number - min}` : `SIGRTMAX-${max - number}`;
  return `signal ${number}`;
}

/**
 * Returns the signal sent after the signals under test. On Linux,
 * sigwait, sigwaitinfo and sigtimedwait take the lowest pending signal
 * first. The three inits and the recorders all take theirs that way, so
 * once a recorder has taken SIGRTMAX, anything sent before it has arrived
 * or never will.
 */
export function sentinel(): number {
  return realTimeRange().max;
}

export interface ProcessSignals {
  /** Signals the process took, in order, without the sentinel. */
  received: string[];
  /** The process was stopped (state T) instead of taking the signal. */
  stopped: boolean;
}

export interface SignalObservation {
  child: ProcessSignals;
  grandchild: ProcessSignals;
  /** The init's exit status once both recorders have ended with status 0. */
  status: number;
}

function recorded(dir: string, name: string): number[] {
  try {
    return fs.readFileSync(path.join(dir, `${name}.received`), 'latin1').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function hostPidOfRecorder(initPid: number, dir: string, name: string): number {
  const nsPid = Number(fs.readFileSync(path.join(dir, `${name}.ready`), 'latin1').trim());
  const pid = hostPidOf(initPid, nsPid);
  if (pid === undefined) throw new Error(`recorder ${name} (pid ${nsPid} in the namespace) not found`);
  return pid;
}

function isStopped(pid: number): boolean {
  return readStatus(pid)?.state === 'T';
}

async function settle(dir: string, name: string, pid: number): Promise<ProcessSignals> {
  const mark = sentinel();
  await waitFor(() => recorded(dir, name).includes(mark) || isStopped(pid), `recorder ${name} to take the sentinel or stop`, 15_000);
  return {
    received: recorded(dir, name)
      .filter((signal) => signal !== mark)
      .map(nameOfSignal),
    stopped: isStopped(pid),
  };
}

/**
 * Runs a recorder and its grandchild (same process group) under prefix,
 * sends the init each signal and then the sentinel, and reports what each
 * recorder took. env adds to the init's environment. The grandchild gets the sentinel straight from the test,
 * since an init that forwards to the child alone never sends it one.
 */
export async function observeSignals(prefix: readonly string[], signals: string[], env: NodeJS.ProcessEnv = {}): Promise<SignalObservation> {
  const dir = makeWorkDir();
  const init = await startInit(prefix, ['python3', RECORDER, dir, 'child', 'grandchild'], { env: { ...process.env, ...env } });
  const ready = (name: string) => fs.existsSync(path.join(dir, `${name}.ready`));
  await waitFor(() => ready('child') && ready('grandchild'), 'both recorders to be ready', 15_000);
  const childPid = hostPidOfRecorder(init.pid, dir, 'child');
  const grandchildPid = hostPidOfRecorder(init.pid, dir, 'grandchild');

  for (const signal of signals) init.signal(signalNumber(signal));
  init.signal(sentinel());
  const child = await settle(dir, 'child', childPid);
  process.kill(grandchildPid, sentinel());
  const grandchild = await settle(dir, 'grandchild', grandchildPid);

  // A stopped recorder cannot see the stop file.
  for (const pid of [childPid, grandchildPid]) {
    if (isStopped(pid)) process.kill(pid, 'SIGCONT');
  }
  fs.writeFileSync(path.join(dir, 'stop'), '');
  const status = await exitStatus(init);
  fs.rmSync(dir, { recursive: true, force: true });
  return { child, grandchild, status };
}

/** Returns the observation of an init that forwarded the signals to both recorders, in that order. */
export function deliveredToBoth(...signals: string[]): SignalObservation {
  return {
    child: { received: signals, stopped: false },
    grandchild: { received: signals, stopped: false },
    status: 0,
  };
}

export interface Finished {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `prefix... args...` as PID 1 of a new namespace, as startInit does,
 * and waits for it to end. startInit fails when the init has already
 * exited by the time it looks for its pid, which happens when the child
 * exits at once, so runs that only need the outcome use this instead.
 */
export function runToEnd(prefix: readonly string[], args: string[], timeoutMs = 20_000): Promise<Finished> {
  return runCommand(['env', '--default-signal', 'unshare', '--pid', '--fork', '--mount-proc', ...prefix, ...args], timeoutMs);
}

/** Runs the workload with no init at all, for comparison. */
export function runDirectly(args: string[], timeoutMs = 20_000): Promise<Finished> {
  return runCommand(['env', '--default-signal', ...args], timeoutMs);
}

function runCommand(command: string[], timeoutMs: number): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const timer = setTimeout(() => {
      // The init first, because killing unshare leaves its child running.
      for (const pid of childrenOf(child.pid as number)) killQuietly(pid, 'SIGKILL');
      child.kill('SIGKILL');
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${command.join(' ')} to exit`));
    }, timeoutMs);
    child.on('error', reject);
    // 'close' rather than 'exit', so both pipes have been read to the end.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        status: code ?? 128 + (signal === null ? 0 : STANDARD[signal]),
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
  });
}

function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Maps items through task with at most limit tasks running at once, keeping the order. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
