// Command line and environment: tini's and dumb-init's interfaces plus
// ts-init's own options. Parsing returns data; nothing here acts.

import fs from 'node:fs';
import path from 'node:path';

import type { Command } from 'commander';

import { parseDuration } from './duration';
import { Level } from './log';
import { parseSignal } from './signals';
import { Target } from './targets';

export const DEFAULT_GRACE_PERIOD_MS = 10_000;

// Environment variables: set at all means on, as tini reads its own.
export const ENV = {
  TINI_SUBREAPER: 'TINI_SUBREAPER',
  TINI_VERBOSITY: 'TINI_VERBOSITY',
  TINI_KILL_PROCESS_GROUP: 'TINI_KILL_PROCESS_GROUP',
  DUMB_INIT_SETSID: 'DUMB_INIT_SETSID',
  DUMB_INIT_DEBUG: 'DUMB_INIT_DEBUG',
  TS_INIT_SUBREAPER: 'TS_INIT_SUBREAPER',
  TS_INIT_ALL: 'TS_INIT_ALL',
  TS_INIT_VERBOSITY: 'TS_INIT_VERBOSITY',
  TS_INIT_GRACE_PERIOD: 'TS_INIT_GRACE_PERIOD',
  TS_INIT_WAIT_ALL: 'TS_INIT_WAIT_ALL',
  TS_INIT_PIDFILE: 'TS_INIT_PIDFILE',
} as const;

export interface RunOptions {
  command: string[];
  subreaper: boolean;
  target: Target;
  verbosity: number;
  parentDeathSignal?: number;
  warnOnReap: boolean;
  successCodes: Set<number>;
  rewrites: Map<number, number>;
  gracePeriodMs: number;
  gracePeriodExplicit: boolean;
  waitAll: boolean;
  pidfile?: string;
}

export type ParseResult = { run: RunOptions } | { exitCode: number };

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

/** Reads the LICENSE file shipped at the package root. */
function licenseText(): string {
  return fs.readFileSync(path.join(__dirname, '..', 'LICENSE'), 'utf8');
}

// commander takes about 10 ms to load, a third of ts-init's start-up, so it
// is loaded only when there are options to parse.
function commander(): typeof import('commander') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('commander') as typeof import('commander');
}

function parseExitCode(value: string, previous: number[] = []): number[] {
  if (!/^\d+$/.test(value) || Number(value) > 255) {
    throw new (commander().InvalidArgumentError)('expected an exit code from 0 to 255.');
  }
  return [...previous, Number(value)];
}

function parseSignalOption(value: string): number {
  const signal = parseSignal(value);
  if (signal === undefined) throw new (commander().InvalidArgumentError)('expected a signal name or number, such as TERM or 15.');
  return signal;
}

function parseRewrite(value: string, previous: [number, number][] = []): [number, number][] {
  const match = /^([^:]+):([^:]+)$/.exec(value);
  const from = match === null ? undefined : parseSignal(match[1]);
  let to: number | undefined;
  if (match !== null) to = match[2] === '0' ? 0 : parseSignal(match[2]);
  if (from === undefined || to === undefined) {
    throw new (commander().InvalidArgumentError)('expected FROM:TO with signal names or numbers, such as TERM:QUIT or 15:3 (TO 0 drops the signal).');
  }
  return [...previous, [from, to]];
}

function parseDurationOption(value: string): number {
  const milliseconds = parseDuration(value);
  if (milliseconds === undefined) throw new (commander().InvalidArgumentError)('expected seconds or a number with ms, s, m or h, such as 10, 500ms or 1m.');
  return milliseconds;
}

function buildProgram(version: () => string, output: Output): Command {
  const { Command, Option } = commander();
  const program = new Command('ts-init')
    .usage('[options] [--] program [args...]')
    .description('Run program as PID 1: forward every signal to it, reap every zombie, and exit only when every descendant has exited.')
    .argument('[program...]', 'the program to run and its arguments')
    .passThroughOptions()
    .helpOption('-h, --help', 'show this help and exit')
    .version(version(), '-V, --version', 'print the version and exit')
    .exitOverride()
    .configureOutput({ writeOut: output.out, writeErr: output.err })
    .showHelpAfterError("(run 'ts-init --help' for usage)");

  program.optionsGroup('tini-compatible options:');
  program.option('-s', 'register as a child subreaper, for when ts-init is not PID 1 (env TINI_SUBREAPER)');
  program.option('-g', 'forward signals to the main child\'s process group (the default; env TINI_KILL_PROCESS_GROUP)');
  program.option('-p <signal>', 'signal ts-init receives when its parent dies (prctl PR_SET_PDEATHSIG), forwarded like any other', parseSignalOption);
  program.option('-v, --verbose', 'log more: once for info, twice for debug, three times for trace (env TINI_VERBOSITY=0..4)', (_value, previous: number) => previous + 1, 0);
  program.option('-w', 'warn when reaping a zombie that is not the main child');
  program.option('-e <code>', 'report exit status CODE (0-255) as 0; repeatable', parseExitCode);
  program.option('-l', 'print the license and exit');

  program.optionsGroup('dumb-init-compatible options:');
  program.option('-c, --single-child', 'forward signals to the main child only, not its process group (env DUMB_INIT_SETSID=0)');
  program.option('-r, --rewrite <from:to>', 'forward signal FROM as TO (names or numbers; TO 0 drops it); repeatable', parseRewrite);

  program.optionsGroup("ts-init's own options:");
  program.option('-a, --all', 'forward signals to every descendant at once, not the main child\'s process group; a stop signal then also reaches processes that expect it only from their parent (env TS_INIT_ALL)');
  program.addOption(new Option('--grace-period <duration>', `how long leftovers may run after SIGTERM once the main child has exited, before SIGKILL (seconds, or ms/s/m/h; default ${DEFAULT_GRACE_PERIOD_MS / 1000}s). Given explicitly, it also bounds the time after a stop signal (env TS_INIT_GRACE_PERIOD)`).argParser(parseDurationOption));
  program.option('--wait-all', 'when the main child exits, leave the other processes running and exit after the last one (env TS_INIT_WAIT_ALL)');
  program.option('--pidfile <path>', 'when the main child exits, make the process named in PATH the new main child (env TS_INIT_PIDFILE)');
  return program;
}

function environmentVerbosity(env: NodeJS.ProcessEnv): number {
  const text = env[ENV.TS_INIT_VERBOSITY] ?? env[ENV.TINI_VERBOSITY];
  if (text !== undefined && /^\d+$/.test(text)) return Number(text);
  if (env[ENV.DUMB_INIT_DEBUG] === '1') return Level.Debug;
  return Level.Warn;
}

function chooseTarget(flags: Record<string, unknown>, env: NodeJS.ProcessEnv): Target {
  if (flags.all === true || env[ENV.TS_INIT_ALL] !== undefined) return 'all';
  if (flags.singleChild === true || env[ENV.DUMB_INIT_SETSID] === '0') return 'child';
  return 'group';
}

function toRunOptions(flags: Record<string, unknown>, command: string[], env: NodeJS.ProcessEnv, output: Output): ParseResult {
  if (flags.l === true) {
    output.out(licenseText());
    return { exitCode: 0 };
  }
  if (command.length === 0) {
    output.err("error: missing program to run\n(run 'ts-init --help' for usage)\n");
    return { exitCode: 1 };
  }

  let gracePeriodMs = flags.gracePeriod as number | undefined;
  const envGrace = env[ENV.TS_INIT_GRACE_PERIOD];
  if (gracePeriodMs === undefined && envGrace !== undefined) {
    gracePeriodMs = parseDuration(envGrace);
    if (gracePeriodMs === undefined) {
      output.err(`error: ${ENV.TS_INIT_GRACE_PERIOD} '${envGrace}' is not a duration (seconds, or ms/s/m/h)\n`);
      return { exitCode: 1 };
    }
  }

  return {
    run: {
      command,
      subreaper: flags.s === true || env[ENV.TINI_SUBREAPER] !== undefined || env[ENV.TS_INIT_SUBREAPER] !== undefined,
      target: chooseTarget(flags, env),
      verbosity: environmentVerbosity(env) + ((flags.verbose as number | undefined) ?? 0),
      parentDeathSignal: flags.p as number | undefined,
      warnOnReap: flags.w === true,
      successCodes: new Set((flags.e as number[] | undefined) ?? []),
      rewrites: new Map((flags.rewrite as [number, number][] | undefined) ?? []),
      gracePeriodMs: gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS,
      gracePeriodExplicit: gracePeriodMs !== undefined,
      waitAll: flags.waitAll === true || env[ENV.TS_INIT_WAIT_ALL] !== undefined,
      pidfile: (flags.pidfile as string | undefined) ?? env[ENV.TS_INIT_PIDFILE],
    },
  };
}

const stdio: Output = {
  out: (text) => fs.writeSync(1, text),
  err: (text) => fs.writeSync(2, text),
};

/**
 * Parses ts-init's arguments (without node and the script path). Option
 * parsing stops at the first word that is not an option, so in
 * "ts-init -s cmd -v" the -v belongs to cmd.
 * The version is read only when commander is needed, to keep it off the
 * usual start-up path.
 */
export function parseCommandLine(
  args: string[],
  env: NodeJS.ProcessEnv,
  version: string | (() => string),
  output: Output = stdio,
): ParseResult {
  // Without a leading option there is nothing for commander to parse: the
  // defaults hold and every word belongs to the program.
  if (args.length > 0 && (args[0] === '--' || !args[0].startsWith('-'))) {
    const command = args[0] === '--' ? args.slice(1) : args;
    return toRunOptions({}, command, env, output);
  }

  const program = buildProgram(typeof version === 'string' ? () => version : version, output);
  try {
    program.parse(args, { from: 'user' });
  } catch (error) {
    if (error instanceof commander().CommanderError) return { exitCode: error.exitCode };
    throw error;
  }
  return toRunOptions(program.opts(), program.args, env, output);
}
