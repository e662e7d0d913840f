// Forwarding: who the main child is, which processes a forwarded signal
// reaches, and the part of forwarding the signal thread does on its own.

import { log } from './log';
import { NativeBinding } from './native';
import { ProcessInfo } from './processes';
import { signalName, SIGNALS } from './signals';
import { Recipients, Target } from './targets';

export class Forwarder {
  private mainPid: number;
  private mainGroup: number;
  private mainRunning = true;
  /** The main child's process group had no member left when a signal was sent to it. */
  private groupGone = false;

  constructor(
    private readonly native: NativeBinding,
    private readonly recipients: Recipients,
    private readonly target: Target,
    private readonly rewrites: ReadonlyMap<number, number>,
    mainPid: number,
  ) {
    this.mainPid = mainPid;
    this.mainGroup = mainPid;
    this.updateFastForwarding();
  }

  get main(): { pid: number; group: number; running: boolean } {
    return { pid: this.mainPid, group: this.mainGroup, running: this.mainRunning };
  }

  mainExited(): void {
    this.mainRunning = false;
  }

  /** Makes newPid the main child, as named by a pid file; signals then go to its group. */
  handOver(newPid: number): void {
    this.mainPid = newPid;
    this.mainRunning = true;
    try {
      this.mainGroup = this.native.getpgid(newPid);
      this.groupGone = false;
    } catch (error) {
      log.warn(`getpgid(${newPid}) failed, signals go to process group ${this.mainGroup}: ${(error as Error).message}`);
    }
    this.updateFastForwarding();
  }

  /**
   * Lets the signal thread forward on its own while the target is a single
   * kill(2) call: the main child's process group, or everyone as PID 1. That
   * saves waking the main thread before the workload sees the signal. The
   * main child alone (-c) stays here: its pid is free for reuse the moment
   * it is reaped, before the thread could be told.
   */
  private updateFastForwarding(): void {
    let killTarget = 0;
    if (this.target === 'group' && !this.groupGone) killTarget = -this.mainGroup;
    if (this.target === 'all' && this.recipients.mode === 'pid1') killTarget = -1;

    const forwardAs: number[] = [];
    for (let signal = 0; signal <= 64; signal++) {
      const rewritten = this.rewrites.get(signal) ?? signal;
      forwardAs.push(signal === SIGNALS.SIGCHLD ? 0 : rewritten);
    }
    this.native.setForwarding(killTarget, forwardAs);
  }

  /**
   * Sends signal to the target. Returns 'all' when the target is gone (or is
   * everyone) and the signal went to every remaining descendant instead of
   * being dropped, else 'target'.
   */
  forward(signal: number): 'target' | 'all' {
    let reached = false;
    if (this.target === 'group' && !this.groupGone) {
      reached = this.recipients.kill(-this.mainGroup, signal);
      if (!reached) {
        this.groupGone = true;
        this.updateFastForwarding();
      }
    }
    if (this.target === 'child' && this.mainRunning) reached = this.recipients.kill(this.mainPid, signal);

    if (reached) {
      log.debug(`forwarded ${signalName(signal)} to ${describeTarget(this.target === 'group' ? -this.mainGroup : this.mainPid)}`);
      return 'target';
    }

    const count = this.recipients.signalAll(signal);
    log.debug(`forwarded ${signalName(signal)} to ${count ?? 'all'} remaining process(es)`);
    return 'all';
  }

  /** Lists the live processes a forward to the target reaches now; empty when /proc cannot tell. */
  targetMembers(): Set<number> {
    if (this.target === 'group') {
      return new Set((this.recipients.groupMembers(this.mainGroup) ?? []).map((info) => info.pid));
    }
    return new Set(this.mainRunning ? [this.mainPid] : []);
  }

  /** Tells whether info belongs to the target: the main child's group, the main child, or anyone with -a. */
  inTarget(info: ProcessInfo): boolean {
    if (this.target === 'all') return true;
    return this.target === 'group' ? info.pgid === this.mainGroup : info.pid === this.mainPid;
  }

  /**
   * Sends SIGCONT to the stopped processes among those selected, which just
   * got a stop signal: stopped by SIGTSTP or SIGSTOP, they would keep it
   * pending and never act on it, and the container would wait for the
   * runtime's SIGKILL. Running processes get nothing extra.
   */
  continueStopped(
    selected: (info: ProcessInfo) => boolean = (info) => this.inTarget(info),
    remaining: ProcessInfo[] | undefined = this.recipients.remaining(),
  ): void {
    const stopped = (remaining ?? []).filter((info) => info.state === 'T' && selected(info));
    if (stopped.length === 0) return;

    this.recipients.signalEach(stopped, SIGNALS.SIGCONT);
    log.info(`sent SIGCONT to ${describeProcesses(stopped)}, stopped while asked to stop`);
  }
}

export function describeTarget(killTarget: number): string {
  if (killTarget === -1) return 'all processes';
  return killTarget < 0 ? `process group ${-killTarget}` : `process ${killTarget}`;
}

export function describeProcesses(processes: ProcessInfo[]): string {
  if (processes.length === 0) return 'no process';
  return processes.map((info) => `${info.pid} (${info.command})`).join(', ');
}
