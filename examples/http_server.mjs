/**
 * An HTTP/1.1 keep-alive server on aioloop's Protocol API, with a small
 * hand-written request parser. Every path answers with the same 1 KiB text.
 *
 *   npm run example:http -- --port 8080 --loop native
 *   node examples/http_server.mjs [--port N] [--host ADDR] [--loop default|native] [--idle-timeout MS]
 *
 *   curl -i http://127.0.0.1:8080/
 *   wrk -t1 -c50 -d5s http://127.0.0.1:8080/
 *
 * What it handles: the request line and headers; bodies with Content-Length
 * (read and ignored); keep-alive (HTTP/1.1 by default, HTTP/1.0 with
 * `Connection: keep-alive`); `Connection: close`; pipelined requests (all
 * requests of a chunk are answered with one write, in order); HEAD.
 * Malformed requests get `400 Bad Request` and the connection closes;
 * `Transfer-Encoding` request bodies get 501. Connections idle for
 * --idle-timeout ms (default 5000, like node:http) are closed.
 *
 * Prints one line when it listens; SIGINT (Ctrl-C) or SIGTERM closes the
 * server and its connections and exits with code 0.
 */
import { run, getRunningLoop, currentTask, fromPromise, sleep, CancelledError } from '../dist/index.js';
import { serverArgs, loopName } from './_server_args.mjs';

const args = serverArgs('http_server.mjs', 8080, { 'idle-timeout': 5000 });

const MAX_HEAD = 16 * 1024;          // request line + headers
const MAX_BODY = 1024 * 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n');

// The 1 KiB body: 16 lines of 64 bytes.
const BODY = Buffer.from(
  Array.from({ length: 16 }, (_, i) => `${`line ${String(i + 1).padStart(2)} of the 1 KiB answer from aioloop`.padEnd(63, '.')}\n`).join(''),
);

// -- Responses ----------------------------------------------------------------------

// Response heads carry the Date header, which changes once a second: the
// heads are rebuilt when the second changes, not for every request.
let headsSecond = -1;
let heads = null;

function responseHead(keepAlive, http10) {
  const second = Math.floor(Date.now() / 1000);
  if (second !== headsSecond) {
    headsSecond = second;
    const common = `Date: ${new Date(second * 1000).toUTCString()}\r\nContent-Type: text/plain\r\nContent-Length: ${BODY.length}\r\n`;
    heads = {
      keepAlive11: Buffer.from(`HTTP/1.1 200 OK\r\n${common}\r\n`),
      keepAlive10: Buffer.from(`HTTP/1.1 200 OK\r\n${common}Connection: keep-alive\r\n\r\n`),
      close: Buffer.from(`HTTP/1.1 200 OK\r\n${common}Connection: close\r\n\r\n`),
    };
  }
  if (!keepAlive) return heads.close;
  return http10 ? heads.keepAlive10 : heads.keepAlive11;
}

function errorResponse(status, reason) {
  return Buffer.from(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length + 1}\r\nConnection: close\r\n\r\n${reason}\n`);
}
const BAD_REQUEST = errorResponse(400, 'Bad Request');
const TOO_LARGE = errorResponse(413, 'Payload Too Large');
const HEADERS_TOO_LARGE = errorResponse(431, 'Request Header Fields Too Large');
const NOT_IMPLEMENTED = errorResponse(501, 'Not Implemented');

/** The replies to one chunk's requests, copied into one reusable buffer and sent with one write. */
const out = {
  buf: Buffer.allocUnsafe(64 * 1024),
  len: 0,
  add(bytes) {
    if (this.len + bytes.length > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + bytes.length));
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
    }
    this.len += bytes.copy(this.buf, this.len);
  },
  take() {
    const bytes = this.buf.subarray(0, this.len);
    this.len = 0;
    return bytes; // transport.write() copies: the buffer can be reused at once
  },
};

// -- The request parser -------------------------------------------------------------

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Parse the head (request line and headers, without the blank line) into
 * `{ method, http10, keepAlive, contentLength }`, or return an error
 * response for a request we cannot serve.
 */
function parseHead(head) {
  let eol = head.indexOf('\r\n');
  if (eol === -1) eol = head.length;
  // Request line: METHOD SP request-target SP HTTP/1.x
  const line = head.slice(0, eol);
  const sp1 = line.indexOf(' ');
  const sp2 = line.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 === -1 || sp2 === sp1 + 1 || line.indexOf(' ', sp2 + 1) !== -1) return BAD_REQUEST;
  const method = line.slice(0, sp1);
  const version = line.slice(sp2 + 1);
  if (!TOKEN.test(method) || (version !== 'HTTP/1.1' && version !== 'HTTP/1.0')) return BAD_REQUEST;
  const http10 = version === 'HTTP/1.0';
  let keepAlive = !http10;
  let contentLength = 0;
  let sawLength = false;
  // Header lines: name ":" value. Only three names matter to this server.
  for (let start = eol + 2; start < head.length; ) {
    let end = head.indexOf('\r\n', start);
    if (end === -1) end = head.length;
    const colon = head.indexOf(':', start);
    if (colon <= start || colon > end) return BAD_REQUEST;
    const nameLength = colon - start;
    if (nameLength === 14 || nameLength === 10 || nameLength === 17) {
      const name = head.slice(start, colon).toLowerCase();
      const value = head.slice(colon + 1, end).trim();
      if (name === 'content-length') {
        if (!/^[0-9]{1,10}$/.test(value) || (sawLength && Number(value) !== contentLength)) return BAD_REQUEST;
        contentLength = Number(value);
        sawLength = true;
        if (contentLength > MAX_BODY) return TOO_LARGE;
      } else if (name === 'connection') {
        const v = value.toLowerCase();
        if (v.includes('close')) keepAlive = false;
        else if (v.includes('keep-alive')) keepAlive = true;
      } else if (name === 'transfer-encoding') {
        return NOT_IMPLEMENTED; // chunked request bodies: not in this small server
      }
    } else if (!TOKEN.test(head.slice(start, colon))) {
      return BAD_REQUEST;
    }
    start = end + 2;
  }
  return { method, http10, keepAlive, contentLength };
}

// -- The protocol ---------------------------------------------------------------------

/** One connection: parse what arrives, answer every complete request, keep the rest. */
class HttpProtocol {
  constructor(connections) {
    this.connections = connections;
    this.transport = null;
    this.pending = null;   // the start of a request that has not fully arrived
    this.needed = 0;       // bytes it needs (head and body) before parsing again
    this.idleTicks = 0;    // sweeps since the last data (see main)
  }

  connectionMade(transport) {
    this.transport = transport;
    this.connections.add(this);
  }

  connectionLost() {
    this.connections.delete(this);
  }

  dataReceived(chunk) {
    this.idleTicks = 0;
    let buf = chunk;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
      if (buf.length < this.needed) {
        this.pending = buf; // a large body, still arriving
        return;
      }
    }
    let pos = 0;
    let close = false;
    while (pos < buf.length) {
      const headEnd = buf.indexOf(CRLFCRLF, pos);
      if (headEnd === -1) {
        if (buf.length - pos > MAX_HEAD) {
          out.add(HEADERS_TOO_LARGE);
          close = true;
        } else {
          this.pending = buf.subarray(pos);
          this.needed = 0;
        }
        break;
      }
      if (headEnd - pos > MAX_HEAD) {
        out.add(HEADERS_TOO_LARGE);
        close = true;
        break;
      }
      const req = parseHead(buf.toString('latin1', pos, headEnd));
      if (Buffer.isBuffer(req)) {
        out.add(req); // 400, 413 or 501: answer, then close (we cannot find the next request)
        close = true;
        break;
      }
      const end = headEnd + 4 + req.contentLength; // the body is read and ignored
      if (end > buf.length) {
        this.pending = buf.subarray(pos);
        this.needed = end - pos;
        break;
      }
      pos = end;
      out.add(responseHead(req.keepAlive, req.http10));
      if (req.method !== 'HEAD') out.add(BODY);
      if (!req.keepAlive) {
        close = true;
        break;
      }
    }
    if (out.len > 0) this.transport.write(out.take()); // one write for the whole chunk
    if (close) this.transport.close();                  // after flushing what was written
  }

  // Flow control: a client that pipelines without reading the answers.
  pauseWriting() {
    this.transport.pauseReading();
  }

  resumeWriting() {
    this.transport.resumeReading();
  }
}

function* main() {
  const loop = getRunningLoop();
  const connections = new Set();
  const server = yield* fromPromise(loop.createServer(() => new HttpProtocol(connections), args.host, args.port));

  // Idle connections: rather than a timer per connection, re-armed on every
  // request, one timer sweeps them all once a second. dataReceived resets a
  // connection's tick count; a connection silent for idle-timeout is closed.
  const SWEEP_MS = Math.min(1000, Math.max(10, args['idle-timeout']));
  const maxTicks = Math.max(1, Math.ceil(args['idle-timeout'] / SWEEP_MS));
  let sweeper = null;
  const sweep = () => {
    for (const conn of connections) if (++conn.idleTicks > maxTicks) conn.transport.close();
    sweeper = loop.callLater(SWEEP_MS, sweep);
  };
  if (args['idle-timeout'] > 0) sweeper = loop.callLater(SWEEP_MS, sweep);

  // Ctrl-C: run() cancels this main task on the first SIGINT (asyncio.run
  // does the same); SIGTERM is turned into the same cancellation here.
  // (Installed before the listening line: whoever waits for that line may
  // send a signal at once.)
  const mainTask = currentTask();
  loop.addSignalHandler('SIGTERM', () => mainTask.cancel('SIGTERM'));
  try {
    const { address, port } = server.addresses()[0];
    console.log(`http server listening on ${address}:${port} (loop: ${loopName(loop)})`);
    // Serve until cancelled. Not serveForever(): cancelling that waits for
    // every connection to end first (asyncio 3.12+), and the clients are
    // closed below.
    yield* sleep(Infinity);
  } catch (e) {
    if (!(e instanceof CancelledError)) throw e;
  } finally {
    loop.removeSignalHandler('SIGTERM');
    sweeper?.cancel();
    server.close();
    server.closeClients();
    yield* server.waitClosed();
  }
}

await run(main, { loop: args.loop });
