// Blocking the received signals in every thread of this Node process.
//
// Node starts V8 worker threads, an inspector signal thread and libuv's pool
// before any addon is loaded, and the kernel hands a process-directed signal
// to any thread that does not block it. Only a signal that every thread
// blocks stays pending for the sigwaitinfo thread. A thread created later
// inherits the mask of its creator, so once all threads block the set, new
// ones do too.

import fs from 'node:fs';

import { log } from './log';
import { loadNative } from './native';

function maskFromSignals(signals: number[]): bigint {
  let mask = 0n;
  for (const signal of signals) mask |= 1n << BigInt(signal - 1);
  return mask;
}

/**
 * Returns the ids of this process's threads whose SigBlk lacks part of mask,
 * as tgkill(2) from this process takes them. Where /proc belongs to a parent
 * pid namespace its directory names are that namespace's ids, so the id is
 * the last entry of NSpid, the one in this process's own namespace.
 */
export function threadsMissingMask(mask: bigint): number[] {
  const missing: number[] = [];
  for (const entry of fs.readdirSync('/proc/self/task')) {
    let status: string;
    try {
      status = fs.readFileSync(`/proc/self/task/${entry}/status`, 'latin1');
    } catch {
      continue; // the thread exited while the list was read
    }
    const blocked = /^SigBlk:\s*([0-9a-f]+)$/m.exec(status);
    if (blocked === null || (BigInt(`0x${blocked[1]}`) & mask) === mask) continue;

    const nsTids = /^NSpid:\s*(.+)$/m.exec(status)?.[1].trim().split(/\s+/);
    missing.push(Number(nsTids?.[nsTids.length - 1] ?? entry));
  }
  return missing;
}

/**
 * Blocks signals in every thread and checks the result in /proc. Throws if a
 * thread still lacks the mask after a few rounds: with such a thread the
 * kernel could run Node's default action for a signal (SIGUSR1 would open
 * the inspector) instead of queueing it for ts-init.
 */
export function blockInAllThreads(signals: number[]): void {
  const native = loadNative();
  const mask = maskFromSignals(signals);
  // The calling thread blocks the set itself; its thread id is the pid.
  const mainThread = process.pid;

  // A thread could start while the list is read; a few rounds catch it.
  for (let round = 0; round < 5; round++) {
    const missing = threadsMissingMask(mask).filter((tid) => tid !== mainThread);
    native.blockSignals(signals, missing);
    if (threadsMissingMask(mask).length === 0) {
      log.trace(`signals blocked in all threads after ${round + 1} round(s)`);
      return;
    }
  }
  throw new Error(`threads ${threadsMissingMask(mask).join(', ')} still do not block the forwarded signals`);
}

/**
 * Closes Node's inspector if a SIGUSR1 that arrived before the signals were
 * blocked opened it: anyone who can signal PID 1 could otherwise run code in
 * it through the debugger port.
 */
export function closeInspector(): void {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const inspector = require('node:inspector') as typeof import('node:inspector');
    if (inspector.url() !== undefined) {
      inspector.close();
      log.warn('closed the Node inspector that a SIGUSR1 during start-up opened');
    }
  } catch {
    // A Node built without the inspector has nothing to close.
  }
}
