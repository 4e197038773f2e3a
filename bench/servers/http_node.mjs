#!/usr/bin/env node
/**
 * The comparison for examples/http_server.mjs: the same 1 KiB answer to
 * every request, served by node:http (keep-alive, Node's defaults).
 *
 *   node bench/servers/http_node.mjs [--port N] [--host ADDR]
 *
 * Prints one line when it listens; SIGINT/SIGTERM close it (exit code 0).
 */
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string', default: '8081' }, host: { type: 'string', default: '127.0.0.1' } } });

// The same body as the example: 16 lines of 64 bytes.
const BODY = Buffer.from(
  Array.from({ length: 16 }, (_, i) => `${`line ${String(i + 1).padStart(2)} of the 1 KiB answer from aioloop`.padEnd(63, '.')}\n`).join(''),
);

const server = http.createServer((req, res) => {
  req.resume(); // read and ignore any body
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length });
  res.end(req.method === 'HEAD' ? undefined : BODY);
});
server.listen(Number(values.port), values.host, () => {
  const { address, port } = server.address();
  console.log(`http (node:http) server listening on ${address}:${port}`);
});

function stop() {
  server.close();
  server.closeAllConnections();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
