// The addon's failures look like Node's own system errors, so the
// supervisor can branch on err.code, and wrong calls are TypeErrors.

import { describe, expect, test } from 'vitest';

import { loadNative } from '../src/native';

const native = loadNative();

function thrownBy(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

describe('native errors', () => {
  test('waitpid without children', () => {
    const error = thrownBy(() => native.waitpid(-1, native.WNOHANG)) as NodeJS.ErrnoException;
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('ECHILD');
    expect(error.errno).toBe(-10);
    expect(error.syscall).toBe('waitpid');
    expect(error.message).toBe('ECHILD: No child processes, waitpid');
  });

  test('kill of a missing process', () => {
    // Pid 2^22 + 1 is above the kernel's maximum pid, so it never exists.
    const error = thrownBy(() => native.kill(4_194_305, 0)) as NodeJS.ErrnoException;
    expect(error.code).toBe('ESRCH');
    expect(error.syscall).toBe('kill');
  });

  test('spawn of a missing file', () => {
    const error = thrownBy(() =>
      native.spawn(['/nonexistent/ts-init-test'], ['x'], [], { fds: [0, 1, 2], ignoredSignals: [], foreground: false }),
    ) as NodeJS.ErrnoException;
    expect(error.code).toBe('ENOENT');
    expect(error.syscall).toBe('execve');
    // The failed child was reaped inside spawn.
    expect(() => native.waitpid(-1, native.WNOHANG)).toThrow(/ECHILD/);
  });

  test.each([
    ['waitpid', () => (native.waitpid as unknown as (...args: unknown[]) => unknown)('1')],
    ['kill', () => (native.kill as unknown as (...args: unknown[]) => unknown)(1)],
    ['blockSignals', () => (native.blockSignals as unknown as (...args: unknown[]) => unknown)([15])],
    ['spawn', () => (native.spawn as unknown as (...args: unknown[]) => unknown)([], ['x'], [], {})],
  ])('%s with wrong arguments', (name, call) => {
    const error = thrownBy(call) as Error;
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).toMatch(new RegExp(`^usage: ${name}\\(`));
  });
});
