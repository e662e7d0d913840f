// Helpers that build main-child scripts for the lifecycle tests and read the
// marker files their processes leave behind (see test/fixtures/life-daemon.py).

import fs from 'node:fs';
import path from 'node:path';

import { FIXTURES, sleep } from './init';

const DAEMON = path.join(FIXTURES, 'life-daemon.py');
const SHELL_FUNCTIONS = path.join(FIXTURES, 'life-lib.sh');
export const COUNTER = path.join(FIXTURES, 'life-counter.py');

/** Command words running the script lines under sh, with wait_for and stamp defined. */
export function shellScript(...lines: string[]): string[] {
  return ['sh', '-c', [`. ${SHELL_FUNCTIONS}`, ...lines].join('\n')];
}

/** Shell command starting life-daemon.py for marker directory dir (a path without spaces). */
export function daemonCommand(dir: string, name: string, ...options: string[]): string {
  return ['python3', DAEMON, dir, name, ...options].join(' ');
}

export function markerPath(dir: string, name: string, kind: 'pid' | 'term' | 'done' | 'signals' | 'survived'): string {
  return path.join(dir, `${name}.${kind}`);
}

export interface DaemonIds {
  /** As seen inside ts-init's pid namespace, if it has one. */
  pid: number;
  sid: number;
  pgid: number;
}

export function daemonIds(dir: string, name: string): DaemonIds {
  const [pid, sid, pgid] = fs.readFileSync(markerPath(dir, name, 'pid'), 'utf8').trim().split(' ').map(Number);
  return { pid, sid, pgid };
}

/** Number of files in dir ending in .kind. */
export function countMarkers(dir: string, kind: 'pid' | 'term' | 'done' | 'survived'): number {
  return fs.readdirSync(dir).filter((name) => name.endsWith(`.${kind}`)).length;
}

/** Time in a marker written by life-daemon.py or life-lib.sh's stamp, in ms since the epoch. */
export function markerTime(file: string): number {
  return Number(fs.readFileSync(file, 'utf8').trim()) * 1000;
}

/**
 * Polls condition for the whole of milliseconds and returns whether it was
 * true at every check, to assert that something does not happen.
 */
export async function staysTrue(condition: () => boolean, milliseconds: number): Promise<boolean> {
  const end = Date.now() + milliseconds;
  while (Date.now() < end) {
    if (!condition()) return false;
    await sleep(20);
  }
  return condition();
}
