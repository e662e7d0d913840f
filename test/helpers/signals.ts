// Evidence for the signal forwarding tests: what the counting fixture took,
// per-thread signal masks, and listening sockets from /proc.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { FIXTURES } from './init';
import { hostPidOf, signalsInMask, socketInodes } from './proc';

export const COUNTER = path.join(FIXTURES, 'signals-counter.py');

let rtmin: number | undefined;

/** Returns SIGRTMIN as programs see it: 34 with glibc, which reserves 32 and 33 for itself. */
export function sigrtmin(): number {
  rtmin ??= Number(execFileSync('python3', ['-c', 'import signal; print(int(signal.SIGRTMIN))'], { encoding: 'utf8' }).trim());
  return rtmin;
}

/** Returns the number of a signal given as SIGTERM or SIGRTMIN+N. */
export function signalNumber(name: string): number {
  const realTime = /^SIGRTMIN\+(\d+)$/.exec(name);
  if (realTime !== null) return sigrtmin() + Number(realTime[1]);
  const number = (os.constants.signals as Record<string, number>)[name];
  if (number === undefined) throw new Error(`unknown signal ${name}`);
  return number;
}

/** Returns the signal numbers the counter in dir has taken, in order. */
export function received(dir: string): number[] {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, 'received'), 'latin1');
  } catch {
    return [];
  }
  return text.split('\n').filter(Boolean).map(Number);
}

export function countOf(list: number[], signal: number): number {
  return list.filter((item) => item === signal).length;
}

export function lineCount(file: string): number {
  try {
    return fs.readFileSync(file, 'latin1').split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
}

/** Returns the host pid of the process that wrote its namespace pid into file. */
export function hostPidFromFile(initPid: number, file: string): number {
  const nsPid = Number(fs.readFileSync(file, 'latin1').trim());
  const pid = hostPidOf(initPid, nsPid);
  if (pid === undefined) throw new Error(`no process with pid ${nsPid} in the namespace of ${initPid}`);
  return pid;
}

// rt_sigtimedwait, the system call behind sigwaitinfo(3), by architecture.
const SIGTIMEDWAIT: Partial<Record<string, number>> = { x64: 128, arm64: 137 };

/**
 * Returns the signal set a thread waits for in sigwaitinfo, read from its
 * memory, or undefined when it is not in that call. While it waits, the
 * kernel unblocks the awaited signals for it, so its SigBlk lacks them.
 */
function awaitedSignals(pid: number, tid: number): number[] | undefined {
  const syscallNumber = SIGTIMEDWAIT[process.arch];
  let fields: string[];
  try {
    fields = fs.readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'latin1').trim().split(' ');
  } catch {
    return undefined;
  }
  if (syscallNumber === undefined || Number(fields[0]) !== syscallNumber) return undefined;

  const buffer = Buffer.alloc(8);
  const fd = fs.openSync(`/proc/${pid}/mem`, 'r');
  try {
    fs.readSync(fd, buffer, 0, 8, Number(BigInt(fields[1])));
  } finally {
    fs.closeSync(fd);
  }
  return signalsInMask(buffer.readBigUInt64LE());
}

export interface ThreadSignals {
  /** Signals in SigBlk. */
  blocked: number[];
  /** The set the thread waits for in sigwaitinfo, if it is in that call. */
  awaited?: number[];
}

/** Returns the signal state of each thread of pid, by thread id. */
export function threadSignals(pid: number): Map<number, ThreadSignals> {
  const threads = new Map<number, ThreadSignals>();
  for (const entry of fs.readdirSync(`/proc/${pid}/task`)) {
    const tid = Number(entry);
    let status: string;
    try {
      status = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'latin1');
    } catch {
      continue; // the thread ended while the list was read
    }
    const mask = /^SigBlk:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0';
    threads.set(tid, { blocked: signalsInMask(BigInt(`0x${mask}`)), awaited: awaitedSignals(pid, tid) });
  }
  return threads;
}

/** Returns the inodes of TCP sockets in LISTEN state (0A) on port, as pid's network namespace shows them. */
export function listeningInodes(pid: number, port?: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${table}`, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== '0A') continue;
      const localPort = parseInt(fields[1].split(':')[1], 16);
      if (port === undefined || localPort === port) inodes.add(fields[9]);
    }
  }
  return inodes;
}

/** Returns the listening TCP sockets (on port, or on any port) among pid's descriptors. */
export function ownListeners(pid: number, port?: number): string[] {
  const listening = listeningInodes(pid, port);
  return socketInodes(pid)
    .map(String)
    .filter((inode) => listening.has(inode));
}
