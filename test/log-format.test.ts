// ts-init's own log: one line per lifecycle transition at info level, all on
// stderr with one prefix. Other tests take their evidence from the
// processes; this one checks the report itself.

import fs from 'node:fs';

import { afterEach, expect, test } from 'vitest';

import { describeIf, exists, exitStatus, killLeftovers, makeWorkDir, namespaceUnavailable, programUnavailable, startInit, TS_INIT, waitFor } from './helpers/init';
import { daemonCommand, markerPath, shellScript } from './helpers/lifecycle';

afterEach(killLeftovers);

const needsPython = () => namespaceUnavailable() ?? programUnavailable('python3');
const PREFIX = /^\[ts-init 1\] (fatal|warn|info|debug|trace): /;

function infoLines(stderr: string): string[] {
  return stderr
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('[ts-init 1] info: '))
    .map((line) => line.slice('[ts-init 1] info: '.length));
}

describeIf(needsPython(), 'log of the lifecycle', () => {
  test('leftovers stopped, then killed', async () => {
    const dir = makeWorkDir();
    const script = shellScript(
      `setsid -f ${daemonCommand(dir, 'stubborn', '--ignore-term')}`,
      `wait_for ${markerPath(dir, 'stubborn', 'pid')}`,
      'exit 7',
    );
    const run = await startInit([TS_INIT], ['-v', '--grace-period', '1s', '--', ...script]);
    expect(await exitStatus(run)).toBe(7);

    const stderr = run.stderr();
    for (const line of stderr.trim().split('\n')) expect(line).toMatch(PREFIX);
    const lines = infoLines(stderr);
    expect(lines[0]).toMatch(/^started sh as pid \d+ \(pid1, signals to group\)$/);
    expect(lines).toContainEqual(expect.stringMatching(/^main child \d+ exited with status 7$/));
    expect(lines).toContainEqual('sent SIGTERM to 1 remaining process(es); grace period 1s');
    // A SIGKILL is a warning, so it shows at the default verbosity too.
    expect(stderr).toMatch(/^\[ts-init 1\] warn: grace period of 1s expired; sent SIGKILL to \d+ \(python3?[^)]*\)$/m);
    expect(lines[lines.length - 1]).toBe('all processes have exited; exiting with status 7');
  });

  test('hand-over names both pids', async () => {
    const dir = makeWorkDir();
    const script = shellScript(
      `setsid -f ${daemonCommand(dir, 'successor', '--exit-code', '5')}`,
      `wait_for ${markerPath(dir, 'successor', 'pid')}`,
      `cut -d ' ' -f 1 ${markerPath(dir, 'successor', 'pid')} > ${dir}/app.pid`,
      'exit 0',
    );
    const run = await startInit([TS_INIT], ['-v', '--pidfile', `${dir}/app.pid`, '--', ...script]);
    await waitFor(() => run.stderr().includes('handed over'), 'the hand-over line');
    run.signal('SIGTERM');
    expect(await exitStatus(run)).toBe(5);
    expect(exists(markerPath(dir, 'successor', 'term'))).toBe(true);

    const successor = fs.readFileSync(`${dir}/app.pid`, 'utf8').trim();
    expect(infoLines(run.stderr())).toContainEqual(expect.stringMatching(new RegExp(`^main child \\d+ handed over to ${successor} \\(pid file ${dir}/app.pid\\)$`)));
  });

  test('quiet by default', async () => {
    const run = await startInit([TS_INIT], ['--', 'sh', '-c', 'exit 0']);
    expect(await exitStatus(run)).toBe(0);
    expect(run.stderr()).toBe('');
  });
});
