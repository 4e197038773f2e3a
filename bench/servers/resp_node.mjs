#!/usr/bin/env node
/**
 * The comparison for examples/resp_server.mjs: the same Redis-protocol
 * server on plain `node:net`. It shares every line of Redis logic with the
 * example (examples/_resp.mjs: parser, keyspace, commands; one write per
 * received chunk), so the benchmark measures only the I/O layer: Node's
 * socket events against aioloop's transports and loop.
 *
 *   node bench/servers/resp_node.mjs [--port N] [--host ADDR]
 *
 * Prints one line when it listens; SIGINT/SIGTERM close it (exit code 0).
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { Keyspace, RespConnection } from '../../examples/_resp.mjs';

const { values } = parseArgs({ options: { port: { type: 'string', default: '6381' }, host: { type: 'string', default: '127.0.0.1' } } });

// The keyspace schedules expiry on "a loop": setTimeout stands in for
// loop.callLater (a handle with cancel() and when(), in performance.now() ms).
const clock = {
  time: () => performance.now(),
  callLater(ms, cb, arg) {
    const when = performance.now() + ms;
    const timer = setTimeout(cb, ms, arg);
    return { cancel: () => clearTimeout(timer), when: () => when };
  },
};
const keyspace = new Keyspace(clock);
const sockets = new Set();

// noDelay like aioloop's transports (and asyncio's): small replies leave at once.
const server = net.createServer({ noDelay: true }, (socket) => {
  const conn = new RespConnection(keyspace);
  sockets.add(socket);
  socket.on('data', (chunk) => {
    const replies = conn.feed(chunk);
    // feed() reuses its reply buffer: hand Node a copy (aioloop's transport.write copies too).
    if (replies.length > 0 && !socket.write(Buffer.from(replies))) socket.pause();
    if (conn.quit) socket.end();
  });
  socket.on('drain', () => socket.resume()); // flow control, as the example does
  socket.on('error', () => socket.destroy());
  socket.on('close', () => sockets.delete(socket));
});

server.listen(Number(values.port), values.host, () => {
  const { address, port } = server.address();
  console.log(`resp (node:net) server listening on ${address}:${port}`);
});

function stop() {
  server.close();
  for (const s of sockets) s.end();
  keyspace.clear();
  setTimeout(() => process.exit(0), 2000).unref(); // a client that never closes its end
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
