// A small HTTP server with a graceful shutdown, to try ts-init on:
//
//   ./bin/ts-init -- node examples/http-server.js
//   curl http://127.0.0.1:8080/            # answers at once
//   curl 'http://127.0.0.1:8080/slow?ms=3000' &  kill -TERM <ts-init pid>
//
// On SIGTERM or SIGINT it stops accepting connections, lets the requests in
// flight finish, and exits 0. PORT and HOST set where it listens (default
// 127.0.0.1:8080; PORT=0 picks a free port).

'use strict';

const http = require('node:http');

const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT || 8080);
const maxDelayMs = 60_000;
let shuttingDown = false;

const server = http.createServer((request, response) => {
  const url = new URL(request.url, `http://${host}`);
  const delay = Math.min(Number(url.searchParams.get('ms') || 0), maxDelayMs);
  console.log(`${request.method} ${url.pathname}${url.search}`);

  const answer = () => {
    // A kept-alive connection would hold server.close() open until it
    // times out, so answers sent during shutdown close their connection.
    if (shuttingDown) response.setHeader('connection', 'close');
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.end(`hello from pid ${process.pid}${delay > 0 ? ` after ${delay} ms` : ''}\n`);
  };
  if (url.pathname === '/slow' && delay > 0) setTimeout(answer, delay);
  else answer();
});

function shutDown(signal) {
  shuttingDown = true;
  console.log(`received ${signal}; finishing requests in flight`);
  // close() stops accepting and calls back once every connection has ended;
  // idle keep-alive connections would otherwise hold it open.
  server.close(() => {
    console.log('all requests finished; exiting');
    process.exit(0);
  });
  server.closeIdleConnections();
}

process.on('SIGTERM', shutDown);
process.on('SIGINT', shutDown);

server.listen(port, host, () => {
  console.log(`listening on http://${host}:${server.address().port}`);
});
