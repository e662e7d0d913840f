// Signal numbers, names and the sets ts-init receives and forwards.

import os from 'node:os';

import { loadNative } from './native';

const STANDARD = os.constants.signals as Record<string, number>;

/**
 * Signals ts-init never forwards, with the reason. Everything else from 1 to
 * SIGRTMAX is blocked in every thread, received by sigwaitinfo and forwarded.
 */
export const NEVER_FORWARDED: ReadonlyMap<number, string> = new Map([
  [STANDARD.SIGKILL, 'cannot be caught or blocked'],
  [STANDARD.SIGSTOP, 'cannot be caught or blocked'],
  [STANDARD.SIGCHLD, 'reports a child exit to ts-init itself, which reaps it'],
  [STANDARD.SIGSEGV, 'synchronous fault of the thread that raised it'],
  [STANDARD.SIGBUS, 'synchronous fault of the thread that raised it'],
  [STANDARD.SIGFPE, 'synchronous fault of the thread that raised it'],
  [STANDARD.SIGILL, 'synchronous fault of the thread that raised it'],
  [STANDARD.SIGTRAP, 'synchronous fault, also used by debuggers'],
  [STANDARD.SIGSYS, 'synchronous fault from seccomp'],
]);

export const STOP_SIGNALS: ReadonlySet<number> = new Set([
  STANDARD.SIGTERM,
  STANDARD.SIGINT,
  STANDARD.SIGQUIT,
]);

export const SIGNALS = {
  SIGKILL: STANDARD.SIGKILL,
  SIGTERM: STANDARD.SIGTERM,
  SIGCHLD: STANDARD.SIGCHLD,
  SIGCONT: STANDARD.SIGCONT,
} as const;

let nameOf: Map<number, string> | undefined;

// os.constants.signals lists aliases after their canonical names (SIGABRT
// before SIGIOT, SIGIO before SIGPOLL), so the first name seen wins.
function standardNames(): Map<number, string> {
  if (nameOf === undefined) {
    nameOf = new Map();
    for (const [name, number] of Object.entries(STANDARD)) {
      if (!nameOf.has(number)) nameOf.set(number, name);
    }
  }
  return nameOf;
}

/** Returns SIGTERM for 15, SIGRTMIN+3 for a real-time signal. */
export function signalName(signal: number): string {
  const standard = standardNames().get(signal);
  if (standard !== undefined) return standard;

  const { SIGRTMIN, SIGRTMAX } = loadNative();
  if (signal === SIGRTMIN) return 'SIGRTMIN';
  if (signal === SIGRTMAX) return 'SIGRTMAX';
  if (signal > SIGRTMIN && signal < SIGRTMAX) {
    const fromMin = signal - SIGRTMIN;
    const fromMax = SIGRTMAX - signal;
    return fromMin <= fromMax ? `SIGRTMIN+${fromMin}` : `SIGRTMAX-${fromMax}`;
  }
  return `signal ${signal}`;
}

/**
 * Parses a signal given as a number (15), a name with or without SIG (TERM,
 * SIGTERM, any case) or a real-time name (RTMIN+3, SIGRTMAX-1). Returns
 * undefined when the text names no signal.
 */
export function parseSignal(text: string): number | undefined {
  const { SIGRTMIN, SIGRTMAX } = loadNative();

  if (/^\d+$/.test(text)) {
    const number = Number(text);
    return number >= 1 && number <= SIGRTMAX ? number : undefined;
  }

  const name = text.toUpperCase().replace(/^SIG/, '');
  const realTime = /^RT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (realTime !== null) {
    const base = realTime[1] === 'MIN' ? SIGRTMIN : SIGRTMAX;
    const offset = realTime[3] === undefined ? 0 : Number(realTime[3]) * (realTime[2] === '-' ? -1 : 1);
    const number = base + offset;
    return number >= SIGRTMIN && number <= SIGRTMAX ? number : undefined;
  }

  return STANDARD[`SIG${name}`];
}

/**
 * Returns the signals ts-init receives: 1 to SIGRTMAX without SIGKILL,
 * SIGSTOP, the synchronous faults and libc's internal signals between 31 and
 * SIGRTMIN. glibc uses 32 and 33 for its threads, so they are not for
 * applications. SIGCHLD is included because ts-init reaps on it, but it is
 * not forwarded.
 */
export function receivedSignals(): number[] {
  const { SIGRTMIN, SIGRTMAX } = loadNative();
  const signals: number[] = [];

  for (let signal = 1; signal <= SIGRTMAX; signal++) {
    if (signal > 31 && signal < SIGRTMIN) continue;
    if (signal === STANDARD.SIGCHLD || !NEVER_FORWARDED.has(signal)) signals.push(signal);
  }
  return signals;
}
