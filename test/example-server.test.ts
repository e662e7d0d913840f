// The example HTTP server under ts-init: a request in flight when SIGTERM
// reaches the container still gets its answer, and the container exits 0.

import http from 'node:http';
import path from 'node:path';

import { afterEach, expect, test } from 'vitest';

import { describeIf, exitStatus, killLeftovers, namespaceUnavailable, ROOT, startInit, TS_INIT, waitFor } from './helpers/init';

afterEach(killLeftovers);

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describeIf(namespaceUnavailable(), 'example HTTP server', () => {
  test('finishes a slow request after SIGTERM', async () => {
    const server = path.join(ROOT, 'examples', 'http-server.js');
    const init = await startInit([TS_INIT], ['--', 'node', server], { env: { ...process.env, PORT: '0' } });

    await waitFor(() => /listening on http:\/\/127\.0\.0\.1:\d+/.test(init.stdout()), 'the server to listen');
    const port = /127\.0\.0\.1:(\d+)/.exec(init.stdout())?.[1];
    const slow = get(`http://127.0.0.1:${port}/slow?ms=1500`);
    await waitFor(() => init.stdout().includes('GET /slow'), 'the slow request to arrive');
    init.signal('SIGTERM');

    const answer = await slow;
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('after 1500 ms');
    expect(await exitStatus(init)).toBe(0);
    expect(init.stdout()).toContain('all requests finished');
  });
});
