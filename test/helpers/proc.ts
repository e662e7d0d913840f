// Reading process state from /proc, as evidence of what a process went through.

import fs from 'node:fs';

export interface StatusFields {
  sigBlk: bigint;
  sigIgn: bigint;
  state: string;
  ppid: number;
  nsPids: number[];
}

export function readStatus(pid: number | 'self'): StatusFields | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return undefined;
  }
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1] ?? '';
  return {
    sigBlk: BigInt(`0x${field('SigBlk') || '0'}`),
    sigIgn: BigInt(`0x${field('SigIgn') || '0'}`),
    state: field('State').charAt(0),
    ppid: Number(field('PPid')),
    nsPids: field('NSpid').split(/\s+/).filter(Boolean).map(Number),
  };
}

/** Tells whether pid exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  const status = readStatus(pid);
  return status !== undefined && status.state !== 'Z';
}

/** Parses a SigBlk/SigIgn hex mask into signal numbers. */
export function signalsInMask(mask: bigint): number[] {
  const signals: number[] = [];
  for (let signal = 1; signal <= 64; signal++) {
    if ((mask >> BigInt(signal - 1)) & 1n) signals.push(signal);
  }
  return signals;
}

/** Host pid of the process whose pid inside init's namespace is nsPid. */
export function hostPidOf(initPid: number, nsPid: number): number | undefined {
  const namespace = fs.readlinkSync(`/proc/${initPid}/ns/pid`);
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readlinkSync(`/proc/${entry}/ns/pid`) !== namespace) continue;
    } catch {
      continue;
    }
    const status = readStatus(Number(entry));
    if (status !== undefined && status.nsPids[status.nsPids.length - 1] === nsPid) return Number(entry);
  }
  return undefined;
}

/** Host pids of every live process below root. */
export function descendantPids(root: number): number[] {
  const found: number[] = [];
  const pending = [root];
  while (pending.length > 0) {
    const parent = pending.pop() as number;
    let children: string[] = [];
    try {
      for (const task of fs.readdirSync(`/proc/${parent}/task`)) {
        children = children.concat(fs.readFileSync(`/proc/${parent}/task/${task}/children`, 'latin1').trim().split(' ').filter(Boolean));
      }
    } catch {
      continue;
    }
    for (const child of children.map(Number)) {
      found.push(child);
      pending.push(child);
    }
  }
  return found;
}

export interface StatFields {
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** Foreground process group of the process's controlling terminal. */
  tpgid: number;
}

/** Reads /proc/<pid>/stat, or undefined when pid is gone. */
export function readStat(pid: number): StatFields | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name may contain spaces and parentheses, so fields are read after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    state: fields[0],
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    session: Number(fields[3]),
    tpgid: Number(fields[5]),
  };
}

/** Lists the inodes of the sockets among pid's open descriptors. */
export function socketInodes(pid: number): number[] {
  const inodes: number[] = [];
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const entry of entries) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${entry}`));
      if (match !== null) inodes.push(Number(match[1]));
    } catch {
      // closed while the list was read
    }
  }
  return inodes;
}
