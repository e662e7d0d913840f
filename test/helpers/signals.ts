// Evidence for the signal forwarding tests: what the counting fixture took,
// per-thread signal masks, and listening sockets from /proc.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { FIXTURES } from './init';
import { hostPidOf, signalsInMask } from './proc';

export const COUNTER = path.join(FIXTURES, 'signals-counter.py');

let rtmin: number | undefined;

/** SIGRTMIN as programs see it (34 with glibc, which keeps 32 and 33 for itself). */
export function sigrtmin(): number {
  rtmin ??= Number(execFileSync('python3', ['-c', 'import signal; print(int(signal.SIGRTMIN))'], { encoding: 'utf8' }).trim());
  return rtmin;
}

/** Number of a signal given as SIGTERM or SIGRTMIN+N. */
export function signalNumber(name: string): number {
  const realTime = /^SIGRTMIN\+(\d+)$/.exec(name);
  if (realTime !== null) return sigrtmin() + Number(realTime[1]);
  const number = (os.constants.signals as Record<string, number>)[name];
  if (number === undefined) throw new Error(`unknown signal ${name}`);
  return number;
}

/** The signal numbers the counter in dir has taken, in order. */
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

/** Host pid of the process that wrote its namespace pid into file. */
export function hostPidFromFile(initPid: number, file: string): number {
  const nsPid = Number(fs.readFileSync(file, 'latin1').trim());
  const pid = hostPidOf(initPid, nsPid);
  if (pid === undefined) throw new Error(`no process with pid ${nsPid} in the namespace of ${initPid}`);
  return pid;
}

/** Signals blocked by each thread of pid, by thread id. */
export function blockedByThread(pid: number): Map<number, number[]> {
  const threads = new Map<number, number[]>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    let status: string;
    try {
      status = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'latin1');
    } catch {
      continue; // the thread ended while the list was read
    }
    const mask = /^SigBlk:\s*([0-9a-f]+)$/m.exec(status)?.[1] ?? '0';
    threads.set(Number(tid), signalsInMask(BigInt(`0x${mask}`)));
  }
  return threads;
}

/** Socket inodes of the TCP sockets in LISTEN state (0A) on port, as pid's network namespace shows them. */
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

/** Inodes of the sockets among pid's open descriptors. */
export function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[] = [];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match !== null) inodes.add(match[1]);
    } catch {
      // closed while the list was read
    }
  }
  return inodes;
}

/** Listening TCP sockets (on port, or any) among pid's descriptors. */
export function ownListeners(pid: number, port?: number): string[] {
  const listening = listeningInodes(pid, port);
  return [...socketInodes(pid)].filter((inode) => listening.has(inode));
}
