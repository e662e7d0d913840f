// Reading the process table from /proc and signalling processes by pid
// without ever hitting a process that reused a pid.

import fs from 'node:fs';

import { isSystemError, loadNative } from './native';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  /** Single-letter state from proc(5): R, S, D, Z, T, ... */
  state: string;
  /** Command name (comm), at most 15 bytes. */
  command: string;
}

/** Parses /proc/<pid>/stat; the command name may itself contain spaces and parentheses. */
export function parseStat(text: string): ProcessInfo | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;

  const fields = text.slice(close + 2).split(' ');
  return {
    pid: Number(text.slice(0, open)),
    command: text.slice(open + 1, close),
    state: fields[0],
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
  };
}

export function readProcess(pid: number): ProcessInfo | undefined {
  try {
    return parseStat(fs.readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}

export function listProcesses(): ProcessInfo[] {
  const processes: ProcessInfo[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const info = readProcess(Number(entry));
    if (info !== undefined) processes.push(info);
  }
  return processes;
}

/**
 * Tells whether /proc shows this process's own pid namespace. A container
 * started without its own /proc mount shows the host's processes there, and
 * pids read from it would name unrelated processes.
 */
export function procMatchesNamespace(): boolean {
  try {
    return fs.readlinkSync('/proc/self') === String(process.pid);
  } catch {
    return false;
  }
}

/** Returns the live processes below root in the process tree, zombies excluded. */
export function descendantsOf(root: number, processes: ProcessInfo[] = listProcesses()): ProcessInfo[] {
  const children = new Map<number, ProcessInfo[]>();
  for (const info of processes) {
    const siblings = children.get(info.ppid) ?? [];
    siblings.push(info);
    children.set(info.ppid, siblings);
  }

  const found: ProcessInfo[] = [];
  const pending = [root];
  // The tree is finite and each pid is visited once, so this ends.
  while (pending.length > 0) {
    const parent = pending.pop() as number;
    for (const child of children.get(parent) ?? []) {
      if (child.pid === root) continue;
      if (child.state !== 'Z') found.push(child);
      pending.push(child.pid);
    }
  }
  return found;
}

/** Tells whether pid is below root in the process tree, by following ppid upwards. */
export function isDescendant(pid: number, root: number): boolean {
  let current = pid;
  // A pid chain is at most as long as the number of processes; 4096 steps
  // is far beyond any real tree and guards against a table read mid-change.
  for (let step = 0; step < 4096 && current > 1; step++) {
    const info = readProcess(current);
    if (info === undefined) return false;
    if (info.ppid === root) return true;
    current = info.ppid;
  }
  return false;
}

/**
 * Sends signal to pid through a pidfd, after checking with the pidfd open
 * that the pid still belongs to a process below root. If the process exits
 * and its pid is reused meanwhile, the pidfd still names the old process and
 * the kernel reports ESRCH instead of signalling the new one. Returns false
 * when the process is gone or no longer below root.
 */
export function signalDescendant(pid: number, signal: number, root: number): boolean {
  const native = loadNative();
  let pidfd: number;
  try {
    pidfd = native.pidfdOpen(pid, 0);
  } catch (error) {
    if (isSystemError(error, 'ESRCH')) return false;
    // Kernels before 5.3 have no pidfd; there the check and the kill are two
    // steps, as with any kill(2) by pid.
    if (isSystemError(error, 'ENOSYS')) return killIfDescendant(pid, signal, root);
    throw error;
  }

  try {
    if (root !== 0 && !isDescendant(pid, root)) return false;
    native.pidfdSendSignal(pidfd, signal);
    return true;
  } catch (error) {
    if (isSystemError(error, 'ESRCH')) return false;
    throw error;
  } finally {
    fs.closeSync(pidfd);
  }
}

function killIfDescendant(pid: number, signal: number, root: number): boolean {
  if (root !== 0 && !isDescendant(pid, root)) return false;
  try {
    loadNative().kill(pid, signal);
    return true;
  } catch (error) {
    if (isSystemError(error, 'ESRCH')) return false;
    throw error;
  }
}
