// The init's exit status is the main child's: its code, 128+N when signal N
// killed it, and the shell's 127/126 when it cannot be started.

import fs from 'node:fs';
import path from 'node:path';

import { afterEach, expect, test } from 'vitest';

import { describeIf, exitStatus, killLeftovers, makeWorkDir, namespaceUnavailable, startInit, TS_INIT } from './helpers/init';

afterEach(killLeftovers);

const modes = [
  { name: 'PID 1 of a namespace', namespace: true, flags: [] as string[] },
  { name: 'subreaper outside a namespace', namespace: false, flags: ['-s'] },
];

for (const mode of modes) {
  describeIf(namespaceUnavailable(), `exit status as ${mode.name}`, () => {
    test.each([
      { status: 0, script: 'exit 0' },
      { status: 7, script: 'exit 7' },
      { status: 255, script: 'exit 255' },
      { status: 137, script: 'kill -KILL $$; sleep 5' },
      { status: 143, script: 'kill -TERM $$; sleep 5' },
    ])('status $status from sh -c "$script"', async ({ status, script }) => {
      const init = await startInit([TS_INIT], [...mode.flags, '--', 'sh', '-c', script], { namespace: mode.namespace });
      expect(await exitStatus(init)).toBe(status);
    });

    test('status 143 after a forwarded SIGTERM', async () => {
      const dir = makeWorkDir();
      const ready = path.join(dir, 'ready');
      const init = await startInit([TS_INIT], [...mode.flags, '--', 'sh', '-c', `touch ${ready}; exec sleep 60`], { namespace: mode.namespace });
      while (!fs.existsSync(ready)) await new Promise((resolve) => setTimeout(resolve, 20));
      // sh has exec'd sleep once the marker exists; give the exec a moment.
      await new Promise((resolve) => setTimeout(resolve, 100));

      init.signal('SIGTERM');
      expect(await exitStatus(init)).toBe(143);
    });

    test('status 127 and one line for a missing command', async () => {
      const init = await startInit([TS_INIT], [...mode.flags, '--', 'ts-init-no-such-command'], { namespace: mode.namespace });
      expect(await exitStatus(init)).toBe(127);
      const lines = init.stderr().trim().split('\n').filter((line) => !line.includes('subreaper'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('ts-init-no-such-command');
    });

    test('status 126 and one line for a file that is not executable', async () => {
      const dir = makeWorkDir();
      const script = path.join(dir, 'not-executable.sh');
      fs.writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o644 });

      const init = await startInit([TS_INIT], [...mode.flags, '--', script], { namespace: mode.namespace });
      expect(await exitStatus(init)).toBe(126);
      const lines = init.stderr().trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(script);
    });
  });
}
