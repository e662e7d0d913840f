// The main child starts in the state a plain exec would give it: signal
// mask, ignored signals, descriptors, environment, working directory and
// umask as ts-init received them, plus its own process group, which owns
// the terminal when there is one.

import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';

import { afterEach, expect, test } from 'vitest';

import {
  describeIf,
  exitStatus,
  INITS,
  killLeftovers,
  killQuietly,
  makeWorkDir,
  namespaceUnavailable,
  programUnavailable,
  readText,
  ROOT,
  startInit,
  StartOptions,
  TS_INIT,
  waitFor,
} from './helpers/init';
import { signalsInMask } from './helpers/proc';
import {
  envEntries,
  firstReason,
  fixture,
  MODES,
  parseEnv0,
  parseFdListing,
  parseSignalLines,
  parseStat,
  pythonPath,
  pythonUnavailable,
  shellQuote,
} from './helpers/state';

const terminals = new Set<ChildProcess>();

afterEach(() => {
  killLeftovers();
  for (const script of terminals) killQuietly(script.pid as number, 'SIGKILL');
  terminals.clear();
});

/** ts-init started directly with Node, without the bin/ts-init launcher. */
const NODE_WITHOUT_LAUNCHER = ['node', path.join(ROOT, 'dist', 'main.js')];

/** Runs init... args... to the end and returns the status. */
async function runToEnd(init: readonly string[], args: string[], options: StartOptions): Promise<number> {
  return exitStatus(await startInit(init, args, options));
}

/**
 * Runs tini or dumb-init as PID 1 of a namespace to the end. They start so
 * fast that startInit may miss them, so this waits for the whole run.
 */
function runOtherInit(init: readonly string[], args: string[], env: NodeJS.ProcessEnv = process.env) {
  const command = ['unshare', '--pid', '--fork', '--mount-proc', ...init, ...args];
  const result = spawnSync('env', ['--default-signal', ...command], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  return { status: result.status, stdout: result.stdout };
}

/** Returns SigBlk and SigIgn of the main child, which is grep reading its own status. */
async function childSignals(init: readonly string[], args: string[], options: StartOptions | 'other init') {
  const marker = path.join(makeWorkDir(), 'signals');
  const command = ['sh', '-c', 'exec grep -E "^Sig(Blk|Ign):" /proc/self/status > "$0"', marker];
  if (options === 'other init') runOtherInit(init, [...args, '--', ...command]);
  else await runToEnd(init, [...args, '--', ...command], options);
  return parseSignalLines(readText(marker));
}

/** Lists the descriptors open in the main child, which is ls listing its own. */
async function childDescriptors(init: readonly string[], args: string[], options: StartOptions): Promise<number[]> {
  const marker = path.join(makeWorkDir(), 'fds');
  await runToEnd(init, [...args, '--', 'sh', '-c', 'exec ls -l /proc/self/fd > "$0"', marker], options);
  return parseFdListing(readText(marker));
}

/**
 * Creates two files and opens them for the init as descriptors 5 and 7;
 * close() closes this process's copies once the init has started.
 */
function descriptorFiles() {
  const dir = makeWorkDir();
  const five = path.join(dir, 'five');
  const opened = [fs.openSync(five, 'w'), fs.openSync(path.join(dir, 'seven'), 'w')];
  const extraStdio: StartOptions['extraStdio'] = ['ignore', 'ignore', opened[0], 'ignore', opened[1]];
  return { five, extraStdio, close: () => opened.forEach((fd) => fs.closeSync(fd)) };
}

/**
 * Lists the descriptors above 2 that this test process passes on to what it
 * spawns, because it inherited them without close-on-exec from whatever
 * started the test run. Usually there are none, and a plain exec passes them on too.
 */
function descriptorsOfTestProcess(): number[] {
  const result = spawnSync('ls', ['-l', '/proc/self/fd'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return parseFdListing(result.stdout).filter((fd) => fd > 2);
}

/** Builds `yes | head -c1` in sh, recording the status of yes and what it wrote to stderr. */
function yesPipelineCommand(dir: string): { args: string[]; status: string; errors: string } {
  const status = path.join(dir, 'yes-status');
  const errors = path.join(dir, 'yes-errors');
  const script = '{ yes 2>"$1"; echo $? > "$0"; } | head -c1 > /dev/null';
  return { args: ['sh', '-c', script, status, errors], status, errors };
}

for (const mode of MODES) {
  const options: StartOptions = { namespace: mode.namespace };

  describeIf(namespaceUnavailable(), `child signals as ${mode.name}`, () => {
    test('signal mask starts empty', async () => {
      const { sigBlk } = await childSignals([TS_INIT], mode.flags, options);
      expect(signalsInMask(sigBlk)).toEqual([]);
    });

    test('no signal starts ignored', async () => {
      const { sigIgn } = await childSignals([TS_INIT], mode.flags, options);
      expect(signalsInMask(sigIgn)).toEqual([]);
    });

    test('nohup leaves only SIGHUP ignored', async () => {
      const { sigIgn } = await childSignals(['nohup', TS_INIT], mode.flags, options);
      expect(signalsInMask(sigIgn)).toEqual([1]);
    });

    test('yes ends with status 141', async () => {
      const pipeline = yesPipelineCommand(makeWorkDir());
      await runToEnd([TS_INIT], [...mode.flags, '--', ...pipeline.args], options);
      expect(readText(pipeline.status).trim()).toBe('141');
    });

    test('yes reports no broken pipe', async () => {
      const pipeline = yesPipelineCommand(makeWorkDir());
      await runToEnd([TS_INIT], [...mode.flags, '--', ...pipeline.args], options);
      expect(readText(pipeline.errors)).toBe('');
    });
  });

  describeIf(firstReason(namespaceUnavailable, pythonUnavailable), `inherited real-time signal as ${mode.name}`, () => {
    test('ignored SIGRTMIN+4 stays ignored', async () => {
      // glibc's SIGRTMIN is 34, so SIGRTMIN+4 is 38.
      const init = [pythonPath(), fixture('state-ignore-exec.py'), '38', TS_INIT];
      const { sigIgn } = await childSignals(init, mode.flags, options);
      expect(signalsInMask(sigIgn)).toEqual([38]);
    });
  });

  describeIf(namespaceUnavailable(), `child descriptors as ${mode.name}`, () => {
    test('exactly 0, 1, 2, 5 and 7 open', async () => {
      const { extraStdio, close } = descriptorFiles();
      const fds = await childDescriptors([TS_INIT], mode.flags, { ...options, extraStdio });
      close();
      const expected = [...new Set([0, 1, 2, 5, 7, ...descriptorsOfTestProcess()])].sort((a, b) => a - b);
      expect(fds).toEqual(expected);
    });

    test('data written to 5 arrives', async () => {
      const { five, extraStdio, close } = descriptorFiles();
      await runToEnd([TS_INIT], [...mode.flags, '--', 'sh', '-c', 'echo "through five" >&5'], { ...options, extraStdio });
      close();
      expect(readText(five)).toBe('through five\n');
    });
  });

  describeIf(namespaceUnavailable(), `child environment as ${mode.name}`, () => {
    const given: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      STATE_SPACES: 'two  spaces and a\ttab ',
      STATE_NEWLINE: 'first line\nsecond line',
      STATE_EMPTY: '',
      STATE_QUOTES: `it's "quoted" $HOME`,
      NODE_STATE_VALUE: 'node prefixed\nvalue',
      NODE_STATE_EMPTY: '',
      UV_THREADPOOL_SIZE: '3',
    };

    // env is the main child itself, because a shell in between would add PWD of its own.
    async function childEnvironment(env: NodeJS.ProcessEnv): Promise<string[]> {
      const init = await startInit([TS_INIT], [...mode.flags, '--', 'env', '-0'], { ...options, env });
      await exitStatus(init);
      // The exit event can come before the last output has been read.
      const stdout = init.outer.stdout;
      if (stdout !== null && !stdout.readableEnded) await once(stdout, 'end');
      return parseEnv0(init.stdout());
    }

    test('every given entry arrives', async () => {
      const child = await childEnvironment(given);
      expect(envEntries(given).filter((entry) => !child.includes(entry))).toEqual([]);
    });

    test('no entry is added', async () => {
      const child = await childEnvironment(given);
      expect(child.filter((entry) => !envEntries(given).includes(entry))).toEqual([]);
    });

    test('launcher variables stay hidden', async () => {
      const child = await childEnvironment(given);
      expect(child.filter((entry) => entry.startsWith('TS_INIT_'))).toEqual([]);
    });

    test('names that are not identifiers arrive', async () => {
      // execve accepts any name without '=', and tini passes such names on.
      const env = { PATH: process.env.PATH, 'spring.profiles.active': 'test', 'STATE WITH SPACE': 'x', 'state-dash': 'y' };
      const child = await childEnvironment(env);
      expect(envEntries(env).filter((entry) => !child.includes(entry))).toEqual([]);
    });

    test('shell variables arrive unchanged', async () => {
      const shellVariables = { IFS: ':', OPTIND: '5', PPID: '12345' };
      const child = await childEnvironment({ PATH: process.env.PATH, ...shellVariables });
      const names = Object.keys(shellVariables);
      expect(child.filter((entry) => names.includes(entry.slice(0, entry.indexOf('='))))).toEqual(envEntries(shellVariables));
    });
  });

  describeIf(namespaceUnavailable(), `child directory and umask as ${mode.name}`, () => {
    // The starting shell sets what a container runtime would: umask and directory.
    async function startedIn(dir: string) {
      const work = path.join(dir, 'work dir');
      fs.mkdirSync(work);
      const pwdMarker = path.join(dir, 'pwd');
      const umaskMarker = path.join(dir, 'umask');
      const starter = ['sh', '-c', 'umask 027 && cd "$0" && exec "$@"', work, TS_INIT];
      await runToEnd(starter, [...mode.flags, '--', 'sh', '-c', 'pwd -P > "$0"; umask > "$1"', pwdMarker, umaskMarker], options);
      return { work: fs.realpathSync(work), pwd: readText(pwdMarker).trim(), umask: readText(umaskMarker).trim() };
    }

    test('working directory unchanged', async () => {
      const { work, pwd } = await startedIn(makeWorkDir());
      expect(pwd).toBe(work);
    });

    test('umask unchanged', async () => {
      const { umask } = await startedIn(makeWorkDir());
      expect(umask).toBe('0027');
    });
  });

  describeIf(namespaceUnavailable(), `child process group as ${mode.name}`, () => {
    // Lines: the main child's stat, then its parent's (ts-init).
    async function stats() {
      const marker = path.join(makeWorkDir(), 'stat');
      await runToEnd([TS_INIT], [...mode.flags, '--', 'sh', '-c', 'cat /proc/$$/stat /proc/$PPID/stat > "$0"', marker], options);
      const [child, parent] = readText(marker).trim().split('\n').map(parseStat);
      return { child, parent };
    }

    test('child leads its own group', async () => {
      const { child } = await stats();
      expect(child.pgrp).toBe(child.pid);
    });

    test('group differs from ts-init', async () => {
      const { child, parent } = await stats();
      expect(child.pgrp).not.toBe(parent.pgrp);
    });
  });

  describeIf(firstReason(namespaceUnavailable, pythonUnavailable, () => programUnavailable('script')), `terminal as ${mode.name}`, () => {
    test('child group owns the terminal', async () => {
      const report = await foregroundReport([TS_INIT, ...mode.flags, '--'], mode.namespace);
      expect(report).toMatchObject({ stdinIsTerminal: true, foreground: report.pgrp });
    });
  });
}

interface ForegroundReport {
  pgrp: number;
  stdinIsTerminal: boolean;
  foreground?: number;
  error?: string;
}

/**
 * Runs init with python reporting the terminal's foreground group, inside
 * script(1), which gives it a pseudo-terminal as stdin, stdout and stderr.
 */
async function foregroundReport(init: string[], namespace: boolean): Promise<ForegroundReport> {
  const marker = path.join(makeWorkDir(), 'foreground');
  const prefix = namespace ? ['env', '--default-signal', 'unshare', '--pid', '--fork', '--mount-proc'] : ['env', '--default-signal'];
  const command = [...prefix, ...init, pythonPath(), fixture('state-foreground.py'), marker];

  const script = spawn('script', ['-qec', command.map(shellQuote).join(' '), '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
  terminals.add(script);
  script.stdout?.resume();
  script.stderr?.resume();
  let ended = false;
  script.on('exit', () => (ended = true));
  await waitFor(() => ended, `script running ${init[0]} to end`, 20_000);
  terminals.delete(script);
  return JSON.parse(readText(marker)) as ForegroundReport;
}

describeIf(firstReason(namespaceUnavailable, pythonUnavailable), 'controls for the checks above', () => {
  // Node's child_process cannot serve as this control, because libuv resets
  // signal dispositions in the children it spawns: their SigIgn is 0 although
  // Node ignores SIGPIPE. A Python exec that leaves SIGPIPE ignored is used instead.
  test('ignored SIGPIPE gives yes status 1', () => {
    const pipeline = yesPipelineCommand(makeWorkDir());
    spawnSync('env', ['--default-signal', pythonPath(), fixture('state-ignore-exec.py'), '13', ...pipeline.args], { stdio: 'ignore' });
    expect(readText(pipeline.status).trim()).toBe('1');
  });

  test('descriptors 5 and 7 lost without launcher', async () => {
    const { extraStdio, close } = descriptorFiles();
    const fds = await childDescriptors(NODE_WITHOUT_LAUNCHER, [], { extraStdio });
    close();
    expect(fds.filter((fd) => fd === 5 || fd === 7)).toEqual([]);
  });
});

describeIf(firstReason(namespaceUnavailable, () => programUnavailable('dumb-init')), 'compared with dumb-init', () => {
  test('dumb-init drops nohup SIGHUP', async () => {
    const tsInit = await childSignals(['nohup', TS_INIT], [], {});
    const dumbInit = await childSignals(['nohup', ...INITS.dumbInit], [], 'other init');
    expect(signalsInMask(dumbInit.sigIgn)).not.toEqual(signalsInMask(tsInit.sigIgn));
  });

  describeIf(firstReason(pythonUnavailable, () => programUnavailable('script')), 'on a terminal', () => {
    test('dumb-init child lacks the terminal', async () => {
      const owns = (report: ForegroundReport) => report.foreground === report.pgrp;
      const tsInit = await foregroundReport([TS_INIT, '--'], true);
      const dumbInit = await foregroundReport([...INITS.dumbInit], true);
      expect(owns(dumbInit)).not.toBe(owns(tsInit));
    });
  });
});

describeIf(firstReason(namespaceUnavailable, () => programUnavailable('tini')), 'compared with tini', () => {
  // What the environment tests above expect is what tini delivers.
  test('tini passes environment exactly', async () => {
    const env = { PATH: process.env.PATH, 'spring.profiles.active': 'test', IFS: ':', OPTIND: '5', PPID: '12345' };
    const { stdout } = runOtherInit([...INITS.tini, '--'], ['env', '-0'], env);
    expect(parseEnv0(stdout)).toEqual(envEntries(env));
  });
});

// The shell launcher hands the original environment to Node in chunks of
// 32 KiB; values larger than one chunk must come through whole.
describeIf(namespaceUnavailable(), 'large environment', () => {
  test('values over several chunks arrive intact', async () => {
    const dir = makeWorkDir();
    const output = path.join(dir, 'lengths');
    const big = 'a'.repeat(100_000);
    const other = 'b'.repeat(70_000);
    const script = `printf '%s %s' "\${#BIG}" "\${#OTHER}" > ${output}; [ "$BIG" = "$EXPECTED_BIG" ]`;
    const init = await startInit(INITS.tsInit, ['--', 'sh', '-c', script], {
      env: { ...process.env, BIG: big, OTHER: other, EXPECTED_BIG: big },
    });
    expect(await exitStatus(init)).toBe(0);
    expect(readText(output)).toBe('100000 70000');
  });
});
