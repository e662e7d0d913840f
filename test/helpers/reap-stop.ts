// Helpers for the reaping and graceful stop tests: process tree queries,
// marker files, and cleanup that also ends descendants a subreaper run left.

import fs from 'node:fs';
import path from 'node:path';

import { FIXTURES, killLeftovers, killQuietly, RunningInit, StartOptions, startInit } from './init';
import { descendantPids, readStat, readStatus } from './proc';

/** Session id of pid, or undefined when pid is gone. */
export function sessionOf(pid: number): number | undefined {
  return readStat(pid)?.session;
}

export function fixture(name: string): string {
  return path.join(FIXTURES, name);
}

/** Host pids of the direct children of pid, zombies included, over all its threads. */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return children; // pid is gone
  }
  for (const task of tasks) {
    try {
      const text = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'latin1').trim();
      if (text !== '') children.push(...text.split(' ').map(Number));
    } catch {
      // the thread ended while being read
    }
  }
  return children;
}

/** Host pids of the zombies anywhere below root in the process tree. */
export function zombiesBelow(root: number): number[] {
  return descendantPids(root).filter((pid) => readStatus(pid)?.state === 'Z');
}


export function touch(file: string): void {
  fs.writeFileSync(file, '');
}

/** Trimmed content of a marker file, or undefined when it was never written. */
export function readMarker(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const started = new Set<RunningInit>();
const strays = new Map<number, string>();

/** startInit, remembering the run so cleanUpAfterTest can end its descendants too. */
export async function startTracked(init: readonly string[], args: string[], options: StartOptions = {}): Promise<RunningInit> {
  const run = await startInit(init, args, options);
  started.add(run);
  return run;
}

/**
 * Remembers a process outside any init's tree for cleanUpAfterTest, which
 * kills it only if its command line still contains marker, so a reused pid
 * is left alone.
 */
export function killAfterTest(pid: number, marker: string): void {
  strays.set(pid, marker);
}

/**
 * Ends what a test left running. Call it from afterEach. A subreaper's
 * descendants would outlive a SIGKILL to it, so they are killed first.
 */
export function cleanUpAfterTest(): void {
  for (const run of started) {
    for (const pid of descendantPids(run.pid)) killQuietly(pid, 'SIGKILL');
  }
  started.clear();
  killLeftovers();

  for (const [pid, marker] of strays) {
    let commandLine = '';
    try {
      commandLine = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    } catch {
      continue; // already gone
    }
    if (commandLine.includes(marker)) killQuietly(pid, 'SIGKILL');
  }
  strays.clear();
}
