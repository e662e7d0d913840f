// The supervisor: receives signals and child exits, forwards, reaps, and
// decides when ts-init exits.
//
// Invariant: ts-init exits only when waitpid(-1) fails with ECHILD, that is
// when every descendant has exited and been reaped. Everything else (the
// main child's exit, a stop signal, an expired grace period) only changes
// who is signalled next. Nothing in here may throw out of a callback: an
// exception that ends PID 1 makes the kernel SIGKILL the whole container.

import { describeStatus, exitCodeOf } from './exit-status';
import { formatDuration } from './duration';
import { log } from './log';
import { ExitStatus, isSystemError, NativeBinding, ReceivedSignal } from './native';
import { HandOver } from './handover';
import { ProcessInfo } from './processes';
import { signalName, SIGNALS, STOP_SIGNALS } from './signals';
import { Recipients, Target } from './targets';

export interface SupervisorOptions {
  target: Target;
  /** Grace period for leftovers after the main child exits, and for stop escalation. */
  gracePeriodMs: number;
  /** --grace-period was given: ts-init also SIGKILLs that long after a stop signal. */
  gracePeriodExplicit: boolean;
  waitAll: boolean;
  pidfile?: string;
  /** Exit codes reported as 0 (tini's -e). */
  successCodes: ReadonlySet<number>;
  /** Received signal to forwarded signal; 0 drops it (dumb-init's -r). */
  rewrites: ReadonlyMap<number, number>;
  /** Warn when reaping a process other than the main child (tini's -w). */
  warnOnReap: boolean;
}

export class Supervisor {
  private mainPid: number;
  private mainGroup: number;
  private mainRunning = true;
  /** The main child's process group had no member left when a signal was sent to it. */
  private groupGone = false;
  private lastMainStatus: ExitStatus | undefined;

  private stopSignal: number | undefined;
  /** Pids that got the stop signal from the first forward, or 'all'. */
  private stopRecipients: Set<number> | 'all' = new Set();
  private stopFollowedUp = false;

  private readonly timers = new Set<NodeJS.Timeout>();
  private finished = false;

  constructor(
    private readonly native: NativeBinding,
    private readonly recipients: Recipients,
    private readonly options: SupervisorOptions,
    mainPid: number,
    private readonly exit: (code: number) => void,
  ) {
    this.mainPid = mainPid;
    this.mainGroup = mainPid;
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
    let target = 0;
    if (this.options.target === 'group' && !this.groupGone) target = -this.mainGroup;
    if (this.options.target === 'all' && this.recipients.mode === 'pid1') target = -1;

    const forwardAs: number[] = [];
    for (let signal = 0; signal <= 64; signal++) {
      const rewritten = this.options.rewrites.get(signal) ?? signal;
      forwardAs.push(signal === SIGNALS.SIGCHLD ? 0 : rewritten);
    }
    this.native.setForwarding(target, forwardAs);
  }

  /** Handles one signal from the sigwaitinfo thread. */
  onSignal(received: ReceivedSignal): void {
    if (received.signal === SIGNALS.SIGCHLD) {
      this.reap();
      return;
    }

    const signal = this.options.rewrites.get(received.signal) ?? received.signal;
    if (signal === 0) {
      log.debug(`dropped ${signalName(received.signal)} (rewritten to 0)`);
      return;
    }
    if (signal !== received.signal) {
      log.debug(`rewrote ${signalName(received.signal)} to ${signalName(signal)}`);
    }

    const isFirstStop = STOP_SIGNALS.has(signal) && this.stopSignal === undefined;
    if (isFirstStop) this.stopSignal = signal;
    if (received.forwarded !== 0) {
      if (isFirstStop) this.recordFastForwardRecipients(received.forwardTarget);
      log.debug(`forwarded ${signalName(signal)} to ${describeTarget(received.forwardTarget)}`);
    } else {
      this.forward(signal, isFirstStop);
    }

    if (isFirstStop) {
      this.continueStopped();
      this.startStopEscalation();
    }
    if (isFirstStop && !this.mainRunning) this.followUpStop();
  }

  /**
   * Sends SIGCONT to the stopped processes among those that just got a stop
   * signal: stopped by SIGTSTP or SIGSTOP, they would keep it pending and
   * never act on it, and the container would wait for the runtime's SIGKILL.
   * Running processes get nothing extra.
   */
  private continueStopped(inTarget?: (info: ProcessInfo) => boolean): void {
    const target = this.options.target;
    const defaultFilter = (info: ProcessInfo) =>
      target === 'all' || (target === 'group' ? info.pgid === this.mainGroup : info.pid === this.mainPid);
    const stopped = (this.recipients.remaining() ?? []).filter((info) => info.state === 'T' && (inTarget ?? defaultFilter)(info));
    if (stopped.length === 0) return;

    this.recipients.signalEach(stopped, SIGNALS.SIGCONT);
    log.info(`sent SIGCONT to ${describeProcesses(stopped)}, stopped while asked to stop`);
  }

  /** Reaps every exited child; on ECHILD, exits with the main child's status. */
  reap(): void {
    // Each waitpid call reaps one zombie, and SIGCHLDs that arrive together
    // are merged into one, so the loop runs until none is left.
    for (;;) {
      let status: ExitStatus | null;
      try {
        status = this.native.waitpid(-1, this.native.WNOHANG);
      } catch (error) {
        if (isSystemError(error, 'ECHILD')) {
          this.finish();
          return;
        }
        log.warn(`waitpid failed: ${(error as Error).message}`);
        return;
      }

      if (status === null) {
        log.trace('children remain; waiting for the next SIGCHLD');
        return;
      }
      this.onReaped(status);
    }
  }

  private onReaped(status: ExitStatus): void {
    if (status.pid === this.mainPid && this.mainRunning) {
      this.onMainExit(status);
    } else if (this.options.warnOnReap) {
      log.warn(`reaped zombie process ${status.pid}, which ${describeStatus(status)}`);
    } else {
      log.debug(`reaped process ${status.pid}, which ${describeStatus(status)}`);
    }
  }

  private forward(signal: number, recordRecipients: boolean): void {
    const target = this.options.target;
    if (recordRecipients) this.recordStopRecipients(target);

    let reached = false;
    if (target === 'group' && !this.groupGone) {
      reached = this.recipients.kill(-this.mainGroup, signal);
      if (!reached) {
        this.groupGone = true;
        this.updateFastForwarding();
      }
    }
    if (target === 'child' && this.mainRunning) reached = this.recipients.kill(this.mainPid, signal);

    if (reached) {
      log.debug(`forwarded ${signalName(signal)} to ${describeTarget(target === 'group' ? -this.mainGroup : this.mainPid)}`);
      return;
    }

    // The target is gone (or is everyone): the signal goes to every
    // remaining descendant rather than being dropped.
    const count = this.recipients.signalAll(signal);
    if (recordRecipients) this.stopRecipients = 'all';
    log.debug(`forwarded ${signalName(signal)} to ${count ?? 'all'} remaining process(es)`);
  }

  /**
   * Records who is about to get the first stop signal. The live members of
   * the group are listed before the kill; a group with only zombies left
   * reaches nobody alive, and a forward that falls back to every descendant
   * is recorded as reaching all of them by forward() itself.
   */
  private recordStopRecipients(target: Target): void {
    if (target === 'all') {
      this.stopRecipients = 'all';
    } else if (target === 'group') {
      const members = this.recipients.groupMembers(this.mainGroup) ?? [];
      this.stopRecipients = new Set(members.map((info) => info.pid));
    } else {
      this.stopRecipients = new Set(this.mainRunning ? [this.mainPid] : []);
    }
  }

  /**
   * Records who got a stop signal that the signal thread sent itself. The
   * kill succeeded, so the group existed, but members may have exited since:
   * those still in it are the recipients, and an empty group means nobody
   * else was reached (not everyone).
   */
  private recordFastForwardRecipients(killTarget: number): void {
    if (killTarget === -1) {
      this.stopRecipients = 'all';
      return;
    }
    const members = this.recipients.groupMembers(-killTarget) ?? [];
    this.stopRecipients = new Set(members.map((info) => info.pid));
  }

  private onMainExit(status: ExitStatus): void {
    this.mainRunning = false;
    this.lastMainStatus = status;
    log.info(`main child ${status.pid} ${describeStatus(status)}`);

    if (this.stopSignal !== undefined) {
      this.followUpStop();
    } else if (this.options.pidfile !== undefined) {
      new HandOver(this.options.pidfile, status.pid, this.recipients, this.options.gracePeriodMs, {
        schedule: (callback, ms) => this.schedule(callback, ms),
        handOver: (pid) => this.handOver(status.pid, pid),
        giveUp: () => this.stopLeftovers(),
      }).attempt();
    } else if (this.options.waitAll) {
      const remaining = this.recipients.remaining();
      if (remaining === undefined || remaining.length > 0) {
        log.info(`waiting for ${remaining?.length ?? 'all'} remaining process(es) to exit (--wait-all)`);
      }
    } else {
      this.stopLeftovers();
    }
  }

  /**
   * After a stop signal, the descendants outside the first forward's target
   * (daemons in their own session, for example) get the same signal once
   * the main child has exited, so they too can shut down cleanly.
   */
  private followUpStop(): void {
    if (this.stopSignal === undefined || this.stopFollowedUp) return;
    this.stopFollowedUp = true;
    const signal = this.stopSignal;
    const received = this.stopRecipients;
    if (received === 'all') return;

    const remaining = this.recipients.remaining();
    if (remaining === undefined) {
      this.recipients.signalAll(signal);
      log.info(`sent ${signalName(signal)} to all remaining processes`);
      return;
    }

    // A process that joined the group after the forward (a cleanup command a
    // handler started) is inside the target and must not get a second signal.
    const inTarget = (info: ProcessInfo) => this.options.target === 'group' && info.pgid === this.mainGroup;
    const others = remaining.filter((info) => !received.has(info.pid) && !inTarget(info));
    if (others.length === 0) return;
    const signalled = this.recipients.signalEach(others, signal);
    const signalledPids = new Set(signalled.map((info) => info.pid));
    this.continueStopped((info) => signalledPids.has(info.pid));
    log.info(`sent ${signalName(signal)} to ${signalled.length} remaining process(es) outside the main child's ${this.options.target === 'group' ? 'process group' : 'pid'}`);
  }

  /** The main child exited on its own: ask the rest to stop, and SIGKILL them after the grace period. */
  private stopLeftovers(): void {
    const remaining = this.recipients.remaining();
    if (remaining !== undefined && remaining.length === 0) return;

    const count = this.recipients.signalAll(SIGNALS.SIGTERM);
    this.continueStopped(() => true);
    log.info(`sent SIGTERM to ${count ?? 'all'} remaining process(es); grace period ${formatDuration(this.options.gracePeriodMs)}`);
    this.schedule(() => this.killRemaining(), this.options.gracePeriodMs);
  }

  private startStopEscalation(): void {
    // Without an explicit --grace-period the container runtime owns the
    // deadline after a stop signal and sends its own SIGKILL.
    if (!this.options.gracePeriodExplicit) return;
    this.schedule(() => this.killRemaining(), this.options.gracePeriodMs);
  }

  private killRemaining(): void {
    const remaining = this.recipients.remaining();
    if (remaining !== undefined && remaining.length === 0) return;

    this.recipients.signalAll(SIGNALS.SIGKILL);
    const killed = remaining === undefined ? 'all remaining processes' : describeProcesses(remaining);
    log.warn(`grace period of ${formatDuration(this.options.gracePeriodMs)} expired; sent SIGKILL to ${killed}`);
  }

  private handOver(oldPid: number, newPid: number): void {
    log.info(`main child ${oldPid} handed over to ${newPid} (pid file ${this.options.pidfile})`);
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

  private schedule(callback: () => void, milliseconds: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      guard(callback);
    }, milliseconds);
    this.timers.add(timer);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    for (const timer of this.timers) clearTimeout(timer);

    let code = this.lastMainStatus === undefined ? 0 : exitCodeOf(this.lastMainStatus);
    if (this.options.successCodes.has(code)) {
      log.debug(`status ${code} reported as 0 (-e)`);
      code = 0;
    }
    log.info(`all processes have exited; exiting with status ${code}`);
    this.exit(code);
  }
}

function describeTarget(killTarget: number): string {
  if (killTarget === -1) return 'all processes';
  return killTarget < 0 ? `process group ${-killTarget}` : `process ${killTarget}`;
}

function describeProcesses(processes: ProcessInfo[]): string {
  if (processes.length === 0) return 'no process';
  return processes.map((info) => `${info.pid} (${info.command})`).join(', ');
}

/** Runs callback and logs what it throws instead of letting it end PID 1. */
export function guard(callback: () => void): void {
  try {
    callback();
  } catch (error) {
    log.warn(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
}
