// Hand-over through a pid file: when the main child exits, the process the
// pid file names becomes the new main child, as systemd does for forking
// services (PIDFile=). A daemon may write the file only after its parent has
// exited, so the file is read again until the grace period runs out.

import fs from 'node:fs';

import { formatDuration } from './duration';
import { log } from './log';
import { isDescendant, readProcess } from './processes';
import { Recipients } from './targets';

const RETRY_INTERVAL_MS = 50;

export interface HandOverActions {
  schedule(callback: () => void, milliseconds: number): void;
  handOver(pid: number): void;
  giveUp(): void;
}

/** Reads a pid from the file's first line; undefined when missing or malformed. */
export function readPidfile(file: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
  const match = /^\s*(\d+)\s*$/m.exec(text.split('\n')[0] ?? '');
  return match === null ? undefined : Number(match[1]);
}

export class HandOver {
  private readonly deadline: number;
  private announced = false;
  private readonly waitMs: number;

  constructor(
    private readonly file: string,
    private readonly oldPid: number,
    private readonly recipients: Recipients,
    waitMs: number,
    private readonly actions: HandOverActions,
  ) {
    this.deadline = Date.now() + waitMs;
    this.waitMs = waitMs;
  }

  attempt(): void {
    const pid = readPidfile(this.file);
    if (pid !== undefined && this.isSuccessor(pid)) {
      this.actions.handOver(pid);
      return;
    }

    const remaining = this.recipients.remaining();
    if (remaining !== undefined && remaining.length === 0) return; // nothing to hand over to

    if (Date.now() >= this.deadline) {
      log.warn(`pid file ${this.file} names no live descendant (${pid ?? 'no pid'}); stopping the remaining processes`);
      this.actions.giveUp();
      return;
    }
    if (!this.announced) {
      this.announced = true;
      log.info(`waiting up to ${formatDuration(this.waitMs)} for pid file ${this.file} to name a live descendant`);
    }
    this.actions.schedule(() => this.attempt(), RETRY_INTERVAL_MS);
  }

  private isSuccessor(pid: number): boolean {
    if (pid === this.oldPid || pid === process.pid || pid <= 1) return false;

    const info = readProcess(pid);
    if (info === undefined || info.state === 'Z') return false;
    return this.recipients.mode === 'pid1' || isDescendant(pid, process.pid);
  }
}
