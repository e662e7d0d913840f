// Running an init on a pseudo-terminal, as `docker run -it` does, and
// reading the job-control evidence the workload and /proc leave behind.

import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { FIXTURES, killQuietly, sleep, waitFor } from './init';
import { descendantPids, hostPidOf, readStatus } from './proc';

export { readStat } from './proc';

export const SESSION = path.join(FIXTURES, 'tty-session.py');
export const WORKLOAD = path.join(FIXTURES, 'tty-workload.py');

export interface SessionOptions {
  /** Start the command in a background process group, under a stand-in shell. */
  background?: boolean;
  /** Set `stty tostop`, so background writers to the terminal are stopped. */
  tostop?: boolean;
}

export interface Session {
  /** Host pid of the session leader: the command itself, or the stand-in shell. */
  readonly leader: number;
  /** Host pid of the command the session runs. */
  readonly command: number;
  /** Types bytes on the terminal, given as hex: '03' is Ctrl-C. */
  type(hex: string): void;
  /** Resizes the terminal window. */
  resize(rows: number, cols: number): void;
  /** Everything the terminal has shown so far. */
  transcript(): string;
  /** The leader's exit status. */
  exited: Promise<number>;
}

const sessions = new Set<{ driver: ChildProcess; leader: number }>();

/** Kills every process a test left on its terminals, by pid. Call from afterEach. */
export function endSessions(): void {
  for (const { driver, leader } of sessions) {
    for (const pid of [...descendantPids(leader), leader]) killQuietly(pid, 'SIGKILL');
    killQuietly(driver.pid as number, 'SIGKILL');
  }
  sessions.clear();
}

/** Returns the first child of parent, waiting until it has one. */
export async function firstChild(parent: number): Promise<number> {
  let child: number | undefined;
  await waitFor(() => {
    child = descendantPids(parent)[0];
    return child !== undefined;
  }, `a child of ${parent}`);
  return child as number;
}

/** Runs command on a new terminal through the tty-session driver. */
export async function startSession(command: string[], dir: string, options: SessionOptions = {}): Promise<Session> {
  const transcriptFile = path.join(dir, 'transcript');
  const flags = [...(options.background ? ['--background'] : []), ...(options.tostop ? ['--tostop'] : [])];
  const driver = spawn('python3', [SESSION, transcriptFile, ...flags, '--', ...command], { stdio: ['pipe', 'pipe', 'pipe'] });

  let output = '';
  let errors = '';
  let announceLeader: (pid: number) => void = () => undefined;
  let announceExit: (status: number) => void = () => undefined;
  const leaderKnown = new Promise<number>((resolve) => (announceLeader = resolve));
  const exited = new Promise<number>((resolve) => (announceExit = resolve));
  driver.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  driver.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    const leader = /^leader (\d+)$/m.exec(output);
    if (leader !== null) announceLeader(Number(leader[1]));
    const exit = /^exit (\d+)$/m.exec(output);
    if (exit !== null) announceExit(Number(exit[1]));
  });
  driver.on('exit', () => announceLeader(-1));

  const leader = await leaderKnown;
  if (leader < 0) throw new Error(`tty-session did not start: ${errors}`);
  sessions.add({ driver, leader });
  const commandPid = options.background ? await firstChild(leader) : leader;

  return {
    leader,
    command: commandPid,
    type: (hex) => driver.stdin.write(`type ${hex}\n`),
    resize: (rows, cols) => driver.stdin.write(`resize ${rows} ${cols}\n`),
    transcript: () => (fs.existsSync(transcriptFile) ? fs.readFileSync(transcriptFile, 'latin1') : ''),
    exited,
  };
}

export interface WorkloadReport {
  pid: number;
  pgrp: number;
  foreground?: number;
  error?: string;
}

/** Waits for the workload in dir to start and returns its report, with its host pid. */
export async function workloadReady(dir: string, initPid: number): Promise<WorkloadReport & { hostPid: number }> {
  const ready = path.join(dir, 'ready');
  await waitFor(() => fs.existsSync(ready), 'the workload to start', 20_000);
  const report = JSON.parse(fs.readFileSync(ready, 'utf8')) as WorkloadReport;
  const hostPid = hostPidOf(initPid, report.pid);
  if (hostPid === undefined) throw new Error(`workload ${report.pid} not found in the namespace of ${initPid}`);
  return { ...report, hostPid };
}

/** Returns the workload's signal records, one "NAME ROWSxCOLS" string each. */
export function signalRecords(dir: string): string[] {
  try {
    return fs.readFileSync(path.join(dir, 'signals'), 'latin1').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** Returns the workload's counter, 0 before its first write. */
export function counter(dir: string): number {
  try {
    return Number(fs.readFileSync(path.join(dir, 'counter'), 'latin1'));
  } catch {
    return 0;
  }
}

/**
 * Samples a process's state every few milliseconds until stopped, so a
 * stop that something later undoes (a SIGCONT) is still seen.
 */
export function watchState(pid: number): { states(): Set<string>; stop(): Promise<void> } {
  const seen = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const state = readStatus(pid)?.state;
      if (state !== undefined) seen.add(state);
      await sleep(5);
    }
  })();
  return {
    states: () => seen,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}
