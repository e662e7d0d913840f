// The supervisor: receives signals and child exits, reaps, takes the next
// lifecycle step, and decides when ts-init exits.
//
// Invariant: ts-init exits only when waitpid(-1) fails with ECHILD, that is
// when every descendant has exited and been reaped. Everything else (the
// main child's exit, a stop signal, an expired grace period) only changes
// who is signalled next. Nothing in here may throw out of a callback: an
// exception that ends PID 1 makes the kernel SIGKILL the whole container.

import { describeStatus, exitCodeOf } from './exit-status';
import { formatDuration } from './duration';
import { describeProcesses, describeTarget, Forwarder } from './forwarder';
import { HandOver } from './handover';
import { log } from './log';
import { ExitStatus, isSystemError, NativeBinding, ReceivedSignal } from './native';
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
  private readonly forwarder: Forwarder;
  private lastMainStatus: ExitStatus | undefined;

  private stopSignal: number | undefined;
  /** Pids that got the first stop signal, or 'all'. */
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
    this.forwarder = new Forwarder(native, recipients, options.target, options.rewrites, mainPid);
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
    this.forwardReceived(signal, received, isFirstStop);

    if (isFirstStop) {
      this.forwarder.continueStopped();
      this.startStopEscalation();
      if (!this.forwarder.main.running) this.followUpStop();
    }
  }

  /**
   * Completes the forward of one received signal, which the signal thread
   * may already have sent, and records who got a first stop signal.
   */
  private forwardReceived(signal: number, received: ReceivedSignal, isFirstStop: boolean): void {
    if (received.forwarded !== 0) {
      log.debug(`forwarded ${signalName(signal)} to ${describeTarget(received.forwardTarget)}`);
      // The kill succeeded, so the target existed; members that exited since
      // were reached too but need nothing more.
      if (isFirstStop) this.stopRecipients = received.forwardTarget === -1 ? 'all' : this.forwarder.targetMembers();
      return;
    }

    // The live members are listed before the kill. A group with only
    // zombies left reaches nobody alive, while a forward that falls back to
    // every descendant reaches them all.
    const members = isFirstStop ? this.forwarder.targetMembers() : undefined;
    const reached = this.forwarder.forward(signal);
    if (isFirstStop) this.stopRecipients = reached === 'all' || this.options.target === 'all' ? 'all' : (members as Set<number>);
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
    const main = this.forwarder.main;
    if (status.pid === main.pid && main.running) {
      this.onMainExit(status);
    } else if (this.options.warnOnReap) {
      log.warn(`reaped zombie process ${status.pid}, which ${describeStatus(status)}`);
    } else {
      log.debug(`reaped process ${status.pid}, which ${describeStatus(status)}`);
    }
  }

  private onMainExit(status: ExitStatus): void {
    this.forwarder.mainExited();
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
    const outside = (info: ProcessInfo) => !received.has(info.pid) && !this.forwarder.inTarget(info);
    const others = remaining.filter(outside);
    if (others.length === 0) return;

    const signalled = this.recipients.signalEach(others, signal);
    const signalledPids = new Set(signalled.map((info) => info.pid));
    this.forwarder.continueStopped((info) => signalledPids.has(info.pid), remaining);
    const target = this.options.target === 'group' ? 'process group' : 'pid';
    log.info(`sent ${signalName(signal)} to ${signalled.length} remaining process(es) outside the main child's ${target}`);
  }

  /** The main child exited on its own: ask the rest to stop, and SIGKILL them after the grace period. */
  private stopLeftovers(): void {
    const remaining = this.recipients.remaining();
    if (remaining !== undefined && remaining.length === 0) return;

    // A stopped process stays stopped after SIGTERM, so one listing serves both steps.
    const count = this.recipients.signalAll(SIGNALS.SIGTERM, remaining);
    this.forwarder.continueStopped(() => true, remaining);
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

    this.recipients.signalAll(SIGNALS.SIGKILL, remaining);
    const killed = remaining === undefined ? 'all remaining processes' : describeProcesses(remaining);
    log.warn(`grace period of ${formatDuration(this.options.gracePeriodMs)} expired; sent SIGKILL to ${killed}`);
  }

  private handOver(oldPid: number, newPid: number): void {
    log.info(`main child ${oldPid} handed over to ${newPid} (pid file ${this.options.pidfile})`);
    this.forwarder.handOver(newPid);
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

/** Runs callback and logs what it throws instead of letting it end PID 1. */
export function guard(callback: () => void): void {
  try {
    callback();
  } catch (error) {
    log.warn(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
}
