// Turning a wait status into ts-init's own exit status.

import { ExitStatus } from './native';
import { signalName } from './signals';

/** Returns the exit code, or 128+N when signal N killed the process, as shells report it. */
export function exitCodeOf(status: ExitStatus): number {
  if (status.code !== null) return status.code;
  return 128 + (status.signal ?? 0);
}

export function describeStatus(status: ExitStatus): string {
  if (status.code !== null) return `exited with status ${status.code}`;
  const core = status.coreDumped ? ', core dumped' : '';
  return `was killed by ${signalName(status.signal ?? 0)}${core} (status ${exitCodeOf(status)})`;
}
