// Starting the main child: the PATH search and the state it starts with.

import tty from 'node:tty';

import { LaunchRecord } from './launch';
import { loadNative } from './native';

// The default search path of glibc's execvp(3) when PATH is unset.
const DEFAULT_PATH = '/bin:/usr/bin';

/**
 * Lists the files execvp(3) would try for command, in order: the command
 * itself when it contains a slash, else each PATH entry joined with it (an
 * empty entry means the current directory).
 */
export function commandCandidates(command: string, searchPath: string | undefined): string[] {
  if (command.includes('/')) return [command];

  return (searchPath ?? DEFAULT_PATH).split(':').map((directory) => {
    if (directory === '') return command;
    return directory.endsWith('/') ? directory + command : `${directory}/${command}`;
  });
}

function environmentValue(environment: (string | Buffer)[], name: string): string | undefined {
  for (const entry of environment) {
    const text = entry.toString();
    if (text.startsWith(`${name}=`)) return text.slice(name.length + 1);
  }
  return undefined;
}

/**
 * Starts argv as the main child in its own process group, with an empty
 * signal mask, the signal dispositions and descriptors ts-init inherited and
 * the environment ts-init was started with. Returns its pid; a failed execve
 * throws an error whose code is the errno (ENOENT, EACCES, ...).
 */
export function spawnChild(argv: string[], launch: LaunchRecord): number {
  const candidates = commandCandidates(argv[0], environmentValue(launch.childEnvironment, 'PATH'));

  return loadNative().spawn(candidates, argv, launch.childEnvironment, {
    fds: launch.inheritedFds,
    ignoredSignals: launch.ignoredSignals,
    foreground: tty.isatty(0),
  });
}
