// A real daemonizing server under ts-init: nginx forks away from the
// process ts-init started, and its binary upgrade replaces the master
// process while it keeps serving requests. --pidfile makes ts-init follow
// the master through both.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

import { afterEach, expect, test } from 'vitest';

import {
  describeIf,
  exists,
  exitStatus,
  killLeftovers,
  makeWorkDir,
  namespaceUnavailable,
  programUnavailable,
  readText,
  RunningInit,
  sleep,
  startInit,
  TS_INIT,
  waitFor,
} from './helpers/init';
import { descendantPids, hostPidOf, isAlive, readStatus } from './helpers/proc';

afterEach(killLeftovers);

/** Asks the kernel for a free loopback port, which nginx binds right after. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** Sends one GET on a new connection and resolves true if nginx returned 200 with the test's body. */
function requestSucceeds(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 2000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(response.statusCode === 200 && body === 'ok\n'));
      response.on('error', () => resolve(false));
    });
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', () => resolve(false));
  });
}

/** Requests every ~50 ms until stopped, at most 1200 times (about a minute). */
class RequestLoop {
  successes = 0;
  failures = 0;
  private stopped = false;
  private readonly finished: Promise<void>;

  constructor(private readonly port: number) {
    this.finished = this.run();
  }

  private async run(): Promise<void> {
    for (let count = 0; count < 1200 && !this.stopped; count++) {
      if (await requestSucceeds(this.port)) this.successes++;
      else this.failures++;
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.finished;
  }
}

function nginxConfig(dir: string, port: number): string {
  return `daemon on;
master_process on;
worker_processes 1;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;

events {
  worker_connections 64;
}

http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

  server {
    listen 127.0.0.1:${port};
    location / {
      return 200 "ok\\n";
    }
  }
}
`;
}

/** Pid in nginx's pid file (inside ts-init's namespace), or undefined while it has none. */
function pidInFile(file: string): number | undefined {
  try {
    const text = readText(file).trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

function hostPid(run: RunningInit, nsPid: number): number {
  const pid = hostPidOf(run.pid, nsPid);
  if (pid === undefined) throw new Error(`process ${nsPid} is not running`);
  return pid;
}

async function waitUntilServing(port: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (await requestSucceeds(port)) return;
    await sleep(50);
  }
  throw new Error(`nginx served no request on 127.0.0.1:${port} within 20 s`);
}

function nginxPath(): string {
  // The binary upgrade executes argv[0] again, so it must be a full path.
  return spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).stdout.trim();
}

describeIf(namespaceUnavailable() ?? programUnavailable('nginx'), 'nginx binary upgrade', () => {
  test('requests survive the master swap', async () => {
    const dir = makeWorkDir();
    const port = await freePort();
    const conf = path.join(dir, 'nginx.conf');
    fs.writeFileSync(conf, nginxConfig(dir, port));
    const pidFile = path.join(dir, 'nginx.pid');

    const run = await startInit([TS_INIT], ['--pidfile', pidFile, '--', nginxPath(), '-c', conf, '-p', `${dir}/`, '-e', `${dir}/error.log`]);
    await waitFor(() => pidInFile(pidFile) !== undefined, 'nginx pid file', 20_000);
    const oldMasterNs = pidInFile(pidFile) as number;
    const oldMaster = hostPid(run, oldMasterNs);
    // The master was reparented to ts-init, so the process ts-init started has exited.
    await waitFor(() => readStatus(oldMaster)?.ppid === run.pid, 'nginx master reparented to ts-init');
    await waitUntilServing(port);
    expect(isAlive(run.pid)).toBe(true);

    const requests = new RequestLoop(port);
    try {
      process.kill(oldMaster, 'SIGUSR2');
      await waitFor(() => exists(`${pidFile}.oldbin`) && pidInFile(pidFile) !== undefined && pidInFile(pidFile) !== oldMasterNs, 'new nginx master');
      const newMaster = hostPid(run, pidInFile(pidFile) as number);
      await waitFor(() => descendantPids(newMaster).length > 0, 'worker of the new master');

      process.kill(oldMaster, 'SIGQUIT');
      await waitFor(() => readStatus(oldMaster) === undefined, 'old master reaped');
      const answeredBefore = requests.successes;
      await waitFor(() => requests.successes >= answeredBefore + 10, 'requests after the old master exited');
      expect(isAlive(newMaster)).toBe(true);
    } finally {
      await requests.stop();
    }
    expect(requests.failures).toBe(0);
    expect(isAlive(run.pid)).toBe(true);

    run.signal('SIGTERM');
    expect(await exitStatus(run)).toBe(0);
    // The master deletes its pid file when a shutdown signal ends it, and SIGKILL would leave the file behind.
    expect(exists(pidFile)).toBe(false);
  });
});
