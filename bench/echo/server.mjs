#!/usr/bin/env node
/**
 * The Node-side echo servers of the echo benchmark, one per process:
 *
 *   node bench/echo/server.mjs aio-protocol [default|native]   (default: $AIOLOOP_LOOP, else default)
 *   node bench/echo/server.mjs aio-buffered [default|native]
 *   node bench/echo/server.mjs aio-streams  [default|native]
 *   node bench/echo/server.mjs node-net
 *   node bench/echo/server.mjs c-in-node ADDON   (the C echo on Node's loop: c/echo_addon.c, built by run.mjs)
 *
 * Listens on 127.0.0.1, a free port, and prints "LISTENING <port>" once
 * bound; runs until killed. Started by bench/echo/run.mjs.
 */
import { createRequire } from 'node:module';
import net from 'node:net';

const [kind, arg] = process.argv.slice(2);
// Only aioloop's own servers load aioloop: the C-in-Node floor runs in a process with nothing else in it.
const aio = kind?.startsWith('aio-') ? await import('../../dist/index.js') : null;
// The loop: the argument, else AIOLOOP_LOOP (like every benchmark), else the default loop.
const loopName = arg || process.env.AIOLOOP_LOOP || 'default';
const HOST = '127.0.0.1';

function listening(port) {
  process.stdout.write(`LISTENING ${port}\n`);
}

/** asyncio's echo protocol: every chunk goes straight back. */
class EchoProtocol {
  connectionMade(transport) {
    this.transport = transport;
  }
  dataReceived(data) {
    this.transport.write(data);
  }
}

/**
 * asyncio's BufferedProtocol echo: the transport reads into one buffer the
 * protocol owns (zero copy on the native loop), and it goes straight back.
 */
class BufferedEchoProtocol {
  buffer = Buffer.allocUnsafe(65536);
  connectionMade(transport) {
    this.transport = transport;
  }
  getBuffer() {
    return this.buffer;
  }
  bufferUpdated(nbytes) {
    this.transport.write(this.buffer.subarray(0, nbytes));
  }
}

/** The streams echo as a user would write it: read a block, write it, respect flow control. */
function* echoClient(reader, writer) {
  try {
    for (;;) {
      const data = yield* reader.read(65536);
      if (data.length === 0) break;
      writer.write(data);
      yield* writer.drain();
    }
  } finally {
    writer.close();
  }
}

function makeLoop(name) {
  if (name === 'default') return new aio.DefaultLoop();
  if (name === 'native') return new aio.NativeLoop();
  throw new Error(`unknown loop ${JSON.stringify(name)} (default, native)`);
}

function* serve(start) {
  const server = yield* start();
  listening(server.addresses()[0].port);
  yield* server.serveForever();
}

switch (kind) {
  case 'node-net': {
    // noDelay like aioloop's transports (and asyncio's): small writes go out at once.
    const server = net.createServer({ noDelay: true }, (socket) => {
      socket.on('data', (d) => socket.write(d));
      socket.on('error', () => socket.destroy());
    });
    server.listen(0, HOST, () => listening(server.address().port));
    break;
  }
  case 'c-in-node':
    // The second argument is the addon's path; the echo itself never enters JavaScript.
    listening(createRequire(import.meta.url)(arg).listen(0));
    break;
  case 'aio-protocol': {
    const loop = makeLoop(loopName);
    await aio.run(() => serve(() => aio.fromPromise(loop.createServer(() => new EchoProtocol(), HOST, 0))), { loop: () => loop });
    break;
  }
  case 'aio-buffered': {
    const loop = makeLoop(loopName);
    await aio.run(() => serve(() => aio.fromPromise(loop.createServer(() => new BufferedEchoProtocol(), HOST, 0))), { loop: () => loop });
    break;
  }
  case 'aio-streams':
    await aio.run(() => serve(() => aio.startServer(echoClient, HOST, 0)), { loop: () => makeLoop(loopName) });
    break;
  default:
    console.error('usage: server.mjs aio-protocol|aio-buffered|aio-streams default|native | server.mjs node-net | server.mjs c-in-node ADDON');
    process.exit(2);
}
