// Recipients of a signal: the main child's process group, the main child
// alone, or every descendant of ts-init.

import { log } from './log';
import { isSystemError, NativeBinding } from './native';
import { descendantsOf, listProcesses, ProcessInfo, procMatchesNamespace, signalDescendant } from './processes';
import { signalName } from './signals';

export type Target = 'group' | 'child' | 'all';

/** Role ts-init runs in: PID 1 of a namespace, a child subreaper, or neither. */
export type Mode = 'pid1' | 'subreaper' | 'plain';

export class Recipients {
  private readonly procUsable = procMatchesNamespace();
  private readonly ownPid = process.pid;

  constructor(
    private readonly native: NativeBinding,
    readonly mode: Mode,
  ) {
    if (!this.procUsable) {
      log.warn('/proc does not show this pid namespace: signals to single descendants are not possible');
    }
  }

  /** Lists the live descendants, or undefined when /proc cannot tell. */
  remaining(): ProcessInfo[] | undefined {
    if (!this.procUsable) return undefined;
    return descendantsOf(this.ownPid, listProcesses());
  }

  /** Lists the live members of a process group, or undefined when /proc cannot tell. */
  groupMembers(pgid: number): ProcessInfo[] | undefined {
    return this.remaining()?.filter((info) => info.pgid === pgid);
  }

  /**
   * Sends signal with kill(2) and reports whether the target existed. ESRCH
   * means it is gone, and EPERM (a setuid descendant while ts-init is not
   * root) is a warning: neither may end PID 1.
   */
  kill(pid: number, signal: number): boolean {
    try {
      this.native.kill(pid, signal);
      return true;
    } catch (error) {
      if (isSystemError(error, 'ESRCH')) return false;
      log.warn(`sending ${signalName(signal)} to ${pid} failed: ${(error as Error).message}`);
      return true;
    }
  }

  /**
   * Sends signal to every descendant and returns how many there were, or
   * undefined when /proc cannot tell. As PID 1 this is kill(-1), which
   * reaches every other process of the namespace in one step, so a process
   * forked meanwhile is not missed. As a subreaper each descendant is
   * signalled through a pidfd, so nothing outside ts-init's subtree is hit.
   * A caller that has just listed the descendants passes that list along.
   */
  signalAll(signal: number, remaining: ProcessInfo[] | undefined = this.remaining()): number | undefined {
    if (this.mode === 'pid1') {
      this.kill(-1, signal);
      return remaining?.length;
    }
    if (remaining === undefined) {
      log.warn(`cannot list descendants to send ${signalName(signal)}: /proc is not usable`);
      return undefined;
    }
    return this.signalEach(remaining, signal).length;
  }

  /** Signals each listed process that is still a descendant; returns those signalled. */
  signalEach(processes: ProcessInfo[], signal: number): ProcessInfo[] {
    // As PID 1 every process of the namespace descends from ts-init, so only
    // pid reuse needs guarding against, and the pidfd alone does that.
    const root = this.mode === 'pid1' ? 0 : this.ownPid;
    return processes.filter((info) => {
      try {
        return signalDescendant(info.pid, signal, root);
      } catch (error) {
        log.warn(`sending ${signalName(signal)} to ${info.pid} failed: ${(error as Error).message}`);
        return false;
      }
    });
  }
}
