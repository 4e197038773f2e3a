/**
 * A line-based chat server on aioloop's streams, in asyncio style: one task
 * per connection, and inside it a TaskGroup with a reader (the connection
 * task itself) and a writer task fed by the client's bounded Queue.
 *
 *   npm run example:chat -- --port 7000 --loop native
 *   node examples/chat_server.mjs [--port N] [--host ADDR] [--loop default|native] [--idle-timeout MS]
 *
 * Talk to it with examples/chat_client.mjs (or `nc 127.0.0.1 7000`):
 *
 *   node examples/chat_client.mjs --port 7000 --nick alice
 *
 * Each line a client sends goes to everybody else as `<nick>: <line>`.
 * Server notices start with `* `. Commands:
 *   /nick NAME   rename (letters, digits, _ and -, up to 32)
 *   /who         list who is here
 *   /quit        leave
 * A client that sends nothing for --idle-timeout ms (default 300000) is
 * told so and disconnected. A client too slow to read its messages (its
 * queue of OUTBOX_SIZE lines is full) is disconnected rather than slowing
 * everybody down.
 *
 * Prints one line when it listens; SIGINT (Ctrl-C) or SIGTERM tells every
 * client, closes the server and the connections, and exits with code 0.
 */
import {
  run, startServer, taskGroup, timeout, sleep, getRunningLoop, currentTask, Queue,
  CancelledError, TimeoutError, QueueFull, QueueShutDown, LimitOverrunError,
} from '../dist/index.js';
import { serverArgs, loopName } from './_server_args.mjs';

const args = serverArgs('chat_server.mjs', 7000, { 'idle-timeout': 300_000 });

const OUTBOX_SIZE = 100;          // lines waiting for a client before it counts as too slow
const NICK = /^[A-Za-z0-9_-]{1,32}$/;

/** One connected client. */
class Client {
  constructor(nick, writer) {
    this.nick = nick;
    this.writer = writer;
    this.outbox = new Queue(OUTBOX_SIZE); // lines for the writer task
  }

  /** Queue a line for this client (never waits: a full queue means a stuck client). */
  send(line) {
    try {
      this.outbox.putNowait(`${line}\n`);
    } catch (e) {
      if (e instanceof QueueShutDown) return; // leaving already
      if (!(e instanceof QueueFull)) throw e;
      // Too slow: drop what it has not received and let it go. abort(), not
      // close(): close() would first flush to a client that does not read.
      this.outbox.shutdown(true);
      this.writer.transport.abort();
    }
  }

  /** Send what is queued, then close the connection (the writer task does both). */
  leave(lastLine) {
    if (lastLine !== undefined) this.send(lastLine);
    this.outbox.shutdown(); // the writer drains the queue, then closes
  }
}

/** Everybody connected. */
class Room {
  clients = new Set();
  guests = 0;

  broadcast(line, except = null) {
    for (const c of this.clients) if (c !== except) c.send(line);
  }

  byNick(nick) {
    for (const c of this.clients) if (c.nick === nick) return c;
    return null;
  }
}

/**
 * The writer task: takes lines off the client's queue and writes them,
 * waiting for the socket to drain when its buffer is full. When the queue
 * is shut down and empty, it closes the connection.
 */
function* writeLoop(client) {
  const { outbox, writer } = client;
  try {
    for (;;) {
      const line = yield* outbox.get();           // QueueShutDown once shut down and empty
      writer.write(line);
      yield* writer.drain();
    }
  } catch (e) {
    if (!(e instanceof QueueShutDown) && !isConnectionError(e)) throw e;
  } finally {
    writer.close();                               // after flushing what was written
  }
}

/** The peer went away (ECONNRESET, EPIPE...): not an error of ours. */
function isConnectionError(e) {
  return typeof e?.code === 'string';
}

/** The reader: lines from the client until /quit, EOF or the idle timeout. */
function* readLoop(reader, client, room) {
  for (;;) {
    let data;
    try {
      // asyncio.timeout(): a silent client is cancelled out of readline().
      data = yield* timeout(args['idle-timeout'], function* () {
        return yield* reader.readline();
      });
    } catch (e) {
      if (e instanceof TimeoutError) return client.leave(`* idle for ${args['idle-timeout'] / 1000} s, bye`);
      if (e instanceof LimitOverrunError) {
        client.send('* line too long, dropped');
        continue;
      }
      if (isConnectionError(e)) return client.leave();
      throw e;
    }
    if (data.length === 0) return client.leave(); // EOF
    const line = data.toString('utf8').replace(/\r?\n$/, '');
    if (line === '') continue;

    if (line === '/quit') return client.leave('* bye');
    if (line === '/who') {
      client.send(`* here: ${[...room.clients].map((c) => c.nick).join(', ')}`);
    } else if (line.startsWith('/nick')) {
      const nick = line.slice(5).trim();
      if (!NICK.test(nick)) client.send('* usage: /nick NAME (letters, digits, _ and -, up to 32)');
      else if (room.byNick(nick) !== null) client.send(`* ${nick} is taken`);
      else {
        room.broadcast(`* ${client.nick} is now ${nick}`);
        client.nick = nick;
      }
    } else if (line.startsWith('/')) {
      client.send(`* unknown command ${line.split(' ')[0]}; try /nick NAME, /who, /quit`);
    } else {
      room.broadcast(`${client.nick}: ${line}`, client);
    }
  }
}

/** startServer runs this as a new task for each connection. */
function makeHandler(room) {
  return function* handleClient(reader, writer) {
    const client = new Client(`guest${++room.guests}`, writer);
    room.clients.add(client);
    try {
      client.send(`* welcome ${client.nick}; /nick NAME to rename, /who, /quit to leave`);
      room.broadcast(`* ${client.nick} joined`, client);
      // asyncio.TaskGroup: the writer runs next to the reader; the group
      // waits for both, and an error in one cancels the other.
      yield* taskGroup(function* (tg) {
        tg.createTask(writeLoop(client), { name: `writer ${client.nick}` });
        yield* readLoop(reader, client, room);
      });
    } finally {
      room.clients.delete(client);
      client.outbox.shutdown(true);
      writer.close();
      room.broadcast(`* ${client.nick} left`);
    }
  };
}

function* main() {
  const loop = getRunningLoop();
  const room = new Room();
  const server = yield* startServer(makeHandler(room), args.host, args.port);

  // Ctrl-C: run() cancels this main task on the first SIGINT (as
  // asyncio.run does); SIGTERM is turned into the same cancellation.
  // (Installed before the listening line: whoever waits for that line may
  // send a signal at once.)
  const mainTask = currentTask();
  loop.addSignalHandler('SIGTERM', () => mainTask.cancel('SIGTERM'));
  try {
    const { address, port } = server.addresses()[0];
    console.log(`chat server listening on ${address}:${port} (loop: ${loopName(loop)})`);
    // Serve until cancelled. Not serveForever(): cancelling that waits for
    // every connection to end first (asyncio 3.12+), and the clients are
    // closed below.
    yield* sleep(Infinity);
  } catch (e) {
    if (!(e instanceof CancelledError)) throw e;
  } finally {
    loop.removeSignalHandler('SIGTERM');
    server.close();                                // no new clients
    for (const c of room.clients) c.leave('* server shutting down');
    // The writers flush and close their connections; give them 2 s at most.
    try {
      yield* timeout(2000, function* () {
        yield* server.waitClosed();
      });
    } catch (e) {
      if (!(e instanceof TimeoutError)) throw e;
      server.abortClients();
      yield* server.waitClosed();
    }
  }
}

await run(main, { loop: args.loop });
