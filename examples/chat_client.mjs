/**
 * The client of examples/chat_server.mjs: sends the lines you type (stdin)
 * and prints the lines the server sends, until the server closes the
 * connection (after /quit, an idle timeout, or a shutdown).
 *
 *   node examples/chat_client.mjs [--port 7000] [--host 127.0.0.1] [--nick NAME] [--loop default|native]
 *   printf 'hello\n/quit\n' | node examples/chat_client.mjs --port 7000 --nick bob
 *
 * At the end of its input (Ctrl-D, or the end of a pipe) the client
 * half-closes the connection; the server then says goodbye and closes it.
 *
 * Two things happen at once, so there are two tasks in a TaskGroup: one
 * copies stdin to the server, the other (the group's body) prints what the
 * server says. stdin is read the asyncio way: `loop.connectReadPipe()` with
 * a StreamReaderProtocol turns it into a StreamReader.
 */
import { parseArgs } from 'node:util';
import {
  run, openConnection, taskGroup, getRunningLoop, fromPromise, StreamReader, StreamReaderProtocol,
} from '../dist/index.js';
import { loopFromArgs } from './_loop.mjs';

const usage = 'usage: node examples/chat_client.mjs [--port N] [--host ADDR] [--nick NAME] [--loop default|native]';
let values;
try {
  ({ values } = parseArgs({
    options: { port: { type: 'string', default: '7000' }, host: { type: 'string', default: '127.0.0.1' }, nick: { type: 'string' }, loop: { type: 'string' } },
  }));
} catch (e) {
  console.error(`${e.message}\n${usage}`);
  process.exit(2);
}
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`bad --port ${values.port}\n${usage}`);
  process.exit(2);
}

/** Copy stdin lines to the server; at the end of stdin, half-close (writeEof). */
function* forwardInput(stdin, writer) {
  for (;;) {
    const line = yield* stdin.readline();
    if (line.length === 0) break;                  // EOF on stdin
    writer.write(line);
    try {
      yield* writer.drain();
    } catch (e) {
      if (typeof e?.code !== 'string') throw e;
      return;                                      // the connection is gone: the reader says so
    }
  }
  if (!writer.isClosing()) writer.writeEof();      // "no more from me"; keep reading
}

function* main() {
  const loop = getRunningLoop();
  const [reader, writer] = yield* openConnection(values.host, port);
  if (values.nick !== undefined) writer.write(`/nick ${values.nick}\n`);

  const stdin = new StreamReader();
  const [stdinTransport] = yield* fromPromise(loop.connectReadPipe(() => new StreamReaderProtocol(stdin), process.stdin));
  try {
    yield* taskGroup(function* (tg) {
      const typing = tg.createTask(forwardInput(stdin, writer), { name: 'stdin' });
      for (;;) {
        let line;
        try {
          line = yield* reader.readline();         // what the server says
        } catch (e) {
          if (typeof e?.code !== 'string') throw e;
          console.error(`connection lost: ${e.code}`); // ECONNRESET...
          break;
        }
        if (line.length === 0) break;              // it closed the connection
        process.stdout.write(line);
      }
      typing.cancel();                             // nothing more can be sent
    });
  } finally {
    stdinTransport.close();                        // let the process exit
    writer.close();
    try {
      yield* writer.waitClosed();
    } catch (e) {
      if (typeof e?.code !== 'string') throw e;    // lost with an error: reported above
    }
  }
}

await run(main, { loop: loopFromArgs() });
