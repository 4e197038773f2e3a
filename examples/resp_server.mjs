/**
 * A Redis-protocol (RESP2) key-value server on aioloop's Protocol API.
 *
 *   npm run example:resp -- --port 6380 --loop native
 *   node examples/resp_server.mjs [--port N] [--host ADDR] [--loop default|native]
 *
 * Then talk to it with the real Redis tools:
 *
 *   redis-cli -p 6380 SET greeting hello EX 60
 *   redis-cli -p 6380 GET greeting
 *   redis-benchmark -p 6380 -t set,get -q
 *
 * Commands: PING, ECHO, GET, SET (NX, XX, EX seconds, PX milliseconds), DEL,
 * EXISTS, INCR, MGET, MSET, EXPIRE, TTL, PTTL, PERSIST, DBSIZE, FLUSHALL,
 * SELECT 0, CONFIG GET, COMMAND, QUIT. Pipelining works: every complete
 * command of a received chunk runs, in order, and their replies leave in one
 * write.
 *
 * Why the Protocol API rather than streams: a key-value server does a tiny
 * amount of work per request, so per-request overhead is everything.
 * asyncio's Protocol is called with each chunk as it arrives
 * (`dataReceived`), and a parser state machine answers every command in it
 * without creating a task, a Future or a coroutine. (examples/chat_server.mjs
 * shows the streams side: one task per connection, readline, drain.)
 *
 * Key expiry uses the loop's timers: `SET k v EX 10` schedules
 * `loop.callLater(10_000, expire, 'k')` and keeps the TimerHandle, which is
 * cancelled when the key is overwritten, deleted or given another TTL
 * (examples/_resp.mjs holds the RESP parser, the keyspace and the commands).
 *
 * Prints one line when it listens; SIGINT (Ctrl-C) or SIGTERM closes the
 * server and its connections and exits with code 0.
 */
import { run, getRunningLoop, currentTask, fromPromise, sleep, CancelledError } from '../dist/index.js';
import { Keyspace, RespConnection } from './_resp.mjs';
import { serverArgs, loopName } from './_server_args.mjs';

const args = serverArgs('resp_server.mjs', 6380);

/**
 * One client connection. The transport calls these methods on the loop:
 * connectionMade, then dataReceived for each chunk, then connectionLost.
 */
class RespProtocol {
  constructor(keyspace) {
    this.conn = new RespConnection(keyspace);
    this.transport = null;
  }

  connectionMade(transport) {
    this.transport = transport;
  }

  dataReceived(chunk) {
    const replies = this.conn.feed(chunk);      // all complete commands, in order
    if (replies.length > 0) this.transport.write(replies); // one write per chunk
    if (this.conn.quit) this.transport.close(); // QUIT or a protocol error: flush, then close
  }

  // Flow control: a client that pipelines without reading its replies makes
  // our write buffer grow. Stop reading its requests until the buffer drains.
  pauseWriting() {
    this.transport.pauseReading();
  }

  resumeWriting() {
    this.transport.resumeReading();
  }

  // eofReceived() returns nothing, so the transport closes when the client
  // half-closes, as Redis does. connectionLost needs no cleanup here.
}

function* main() {
  const loop = getRunningLoop();
  const keyspace = new Keyspace(loop);           // expiry timers: loop.callLater
  const server = yield* fromPromise(loop.createServer(() => new RespProtocol(keyspace), args.host, args.port));

  // Ctrl-C: run() turns the first SIGINT into cancellation of this main
  // task, as asyncio.run() does. SIGTERM (kill, docker stop) does the same.
  // (Installed before the listening line: whoever waits for that line may
  // send a signal at once.)
  const mainTask = currentTask();
  loop.addSignalHandler('SIGTERM', () => mainTask.cancel('SIGTERM'));
  try {
    const { address, port } = server.addresses()[0];
    console.log(`resp server listening on ${address}:${port} (loop: ${loopName(loop)})`);
    // Serve until cancelled. Not serveForever(): cancelling that waits for
    // every connection to end first (asyncio 3.12+), and the clients are
    // closed below.
    yield* sleep(Infinity);
  } catch (e) {
    if (!(e instanceof CancelledError)) throw e;  // a signal: shut down normally
  } finally {
    loop.removeSignalHandler('SIGTERM');
    server.close();                               // stop listening
    server.closeClients();                        // flush and close every connection
    yield* server.waitClosed();                   // until the last one is gone
    keyspace.clear();                             // cancel the expiry timers
  }
}

await run(main, { loop: args.loop });
