// The Redis side of examples/resp_server.mjs: the RESP2 wire format (a
// parser and a reply buffer), the keyspace with its expiry timers, and the
// command table. None of it does I/O: a connection hands each received chunk
// to `RespConnection.feed()` and writes back the bytes it returns. That is
// how the aioloop server and its node:net twin (bench/servers/resp_node.mjs)
// share every line of Redis logic and differ only in their I/O layer.
//
// RESP2 in one paragraph: a client sends each command as an array of bulk
// strings, `*<count>\r\n` then per argument `$<length>\r\n<bytes>\r\n`
// (`SET k v` is `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n`); telnet-style
// "inline" commands (`PING\r\n`) are accepted too. Replies are `+simple\r\n`,
// `-ERR message\r\n`, `:integer\r\n`, `$<length>\r\n<bytes>\r\n` (`$-1\r\n`
// is nil) and `*<count>\r\n` followed by that many replies.
//
// Speed notes (redis-benchmark sends tens of thousands of tiny commands a
// second): arguments are offsets into the received chunk rather than
// Buffer slices; the command is found from its bytes, without a string for
// its name; keys and values are 'latin1' strings (one byte per char, so any
// bytes round-trip exactly, and V8 stores them compactly); numbers are
// written digit by digit; all replies of a chunk go into one reusable buffer
// and leave with one write.

const CR = 13;
const LF = 10;
const INCOMPLETE = -1;                    // parse result: wait for more bytes
const MAX_ARGS = 1024 * 1024;             // Redis' limits on a request
const MAX_BULK = 512 * 1024 * 1024;
const MAX_INLINE = 64 * 1024;

/** A malformed request: answered with `-ERR Protocol error: ...`, then the connection closes. */
export class ProtocolError extends Error {}

// -- Replies -------------------------------------------------------------------

const OK = Buffer.from('+OK\r\n');
const PONG = Buffer.from('+PONG\r\n');
const NIL = Buffer.from('$-1\r\n');
const ZERO = Buffer.from(':0\r\n');
const ONE = Buffer.from(':1\r\n');
const EMPTY_ARRAY = Buffer.from('*0\r\n');

/**
 * Replies are appended here, then `take()` hands out the bytes of one chunk's
 * replies. The buffer is reused: the caller must send (or copy) them before
 * the next `feed()`. aioloop's `transport.write()` copies, as asyncio allows
 * callers to reuse their buffers.
 */
class ReplyBuffer {
  buf = Buffer.allocUnsafe(64 * 1024);
  len = 0;

  reserve(n) {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const bigger = Buffer.allocUnsafe(size);
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }

  raw(bytes) {
    this.reserve(bytes.length);
    if (bytes.length > 16) {
      this.len += bytes.copy(this.buf, this.len);
      return;
    }
    const buf = this.buf;                     // a few bytes: a loop beats a native call
    for (let i = 0; i < bytes.length; i++) buf[this.len++] = bytes[i];
  }

  /** A type byte, a decimal integer and CRLF: `:42\r\n`, `$3\r\n`, `*2\r\n`. */
  header(type, n) {
    this.reserve(24);
    const buf = this.buf;
    buf[this.len++] = type;
    if (n < 0) {
      buf[this.len++] = 0x2d; // -
      n = -n;
    }
    // The digits, written in place: no string is made for the number.
    let digits = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
    for (let i = this.len + digits - 1; i >= this.len; i--) {
      buf[i] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    }
    this.len += digits;
    buf[this.len++] = CR;
    buf[this.len++] = LF;
  }

  int(n) {
    if (n === 0) this.raw(ZERO);
    else if (n === 1) this.raw(ONE);
    else this.header(0x3a /* : */, n);
  }

  /** A bulk string from a latin1 string; `undefined` is nil. */
  bulk(s) {
    if (s === undefined) return this.raw(NIL);
    this.header(0x24 /* $ */, s.length);
    this.reserve(s.length + 2);
    const buf = this.buf;
    if (s.length > 32) this.len += buf.latin1Write(s, this.len); // Buffer's write(s, offset, 'latin1')
    else for (let i = 0; i < s.length; i++) buf[this.len++] = s.charCodeAt(i);
    buf[this.len++] = CR;
    buf[this.len++] = LF;
  }

  array(count) {
    if (count === 0) this.raw(EMPTY_ARRAY);
    else this.header(0x2a /* * */, count);
  }

  simple(s) {
    this.text(0x2b /* + */, s);
  }

  error(message) {
    this.text(0x2d /* - */, message);
  }

  text(type, s) {
    s = s.replace(/[\r\n]+/g, ' ');         // a simple string cannot hold a line break
    this.reserve(s.length + 3);
    this.buf[this.len++] = type;
    this.len += this.buf.write(s, this.len, 'latin1');
    this.buf[this.len++] = CR;
    this.buf[this.len++] = LF;
  }

  take() {
    const out = this.buf.subarray(0, this.len);
    this.len = 0;
    return out;
  }
}

/** One for everybody: connections take turns (feed() runs to completion). */
const reply = new ReplyBuffer();

// -- The request parser -------------------------------------------------------------

/**
 * Parses requests out of a byte buffer. After a successful `parse()`,
 * argument i is the bytes `buf[start[i] .. end[i])` of `count` arguments.
 */
class RequestParser {
  buf = null;
  count = 0;
  start = [];
  end = [];
  /** After INCOMPLETE: how many bytes the request needs at least (0: unknown). */
  needed = 0;
  /** The number parsed by the last `readInt`. */
  intValue = 0;

  /**
   * Argument i as a latin1 string. latin1Slice is what
   * `buf.toString('latin1', start, end)` calls after checking its
   * arguments; called directly it is a good deal cheaper.
   */
  str(i) {
    return this.buf.latin1Slice(this.start[i], this.end[i]);
  }

  /** Argument i as an integer, or NaN unless it is one (Redis' string2ll: optional '-', digits, no '+', no leading zeros). */
  int(i) {
    const s = this.str(i);
    return /^(0|-?[1-9][0-9]{0,18})$/.test(s) ? Number(s) : NaN;
  }

  /** Argument i equals `upper` (ASCII letters, case-insensitively)? */
  is(i, upper) {
    const buf = this.buf;
    const s = this.start[i];
    if (this.end[i] - s !== upper.length) return false;
    for (let j = 0; j < upper.length; j++) if ((buf[s + j] & 0xdf) !== upper.charCodeAt(j)) return false;
    return true;
  }

  /** Parse one request at `pos` of `buf`: the offset after it, or INCOMPLETE. Throws ProtocolError. */
  parse(buf, pos) {
    this.buf = buf;
    this.needed = 0;
    return buf[pos] === 0x2a /* * */ ? this.parseArray(buf, pos) : this.parseInline(buf, pos);
  }

  parseArray(buf, pos) {
    let p = this.readInt(buf, pos + 1);
    if (p === INCOMPLETE) return INCOMPLETE;
    const n = this.intValue;
    if (n > MAX_ARGS) throw new ProtocolError('invalid multibulk length');
    for (let i = 0; i < n; i++) {
      if (p >= buf.length) return INCOMPLETE;
      if (buf[p] !== 0x24 /* $ */) throw new ProtocolError(`expected '$', got '${String.fromCharCode(buf[p])}'`);
      p = this.readInt(buf, p + 1);
      if (p === INCOMPLETE) return INCOMPLETE;
      const len = this.intValue;
      if (len < 0 || len > MAX_BULK) throw new ProtocolError('invalid bulk length');
      if (p + len + 2 > buf.length) {
        this.needed = p + len + 2 - pos; // a big value: no need to look again before it is all here
        return INCOMPLETE;
      }
      if (buf[p + len] !== CR || buf[p + len + 1] !== LF) throw new ProtocolError('expected CRLF after a bulk string');
      this.start[i] = p;
      this.end[i] = p + len;
      p += len + 2;
    }
    this.count = Math.max(n, 0); // `*0` and `*-1` are empty requests
    return p;
  }

  /** `<digits>\r\n` at p (an optional '-' first): the offset after it, or INCOMPLETE. */
  readInt(buf, p) {
    const first = p;
    let negative = false;
    if (buf[p] === 0x2d /* - */) {
      negative = true;
      p++;
    }
    let n = 0;
    for (; p < buf.length; p++) {
      const c = buf[p];
      if (c >= 0x30 && c <= 0x39) {
        n = n * 10 + (c - 0x30);
        if (n > MAX_BULK) throw new ProtocolError('invalid length');
      } else if (c === CR) {
        if (p + 1 >= buf.length) return INCOMPLETE;
        if (buf[p + 1] !== LF || p === first || (negative && p === first + 1)) throw new ProtocolError('invalid length');
        this.intValue = negative ? -n : n;
        return p + 2;
      } else {
        throw new ProtocolError('invalid length');
      }
    }
    return INCOMPLETE;
  }

  /** A telnet-style line: arguments separated by spaces. */
  parseInline(buf, pos) {
    const nl = buf.indexOf(LF, pos);
    if (nl === -1) {
      if (buf.length - pos > MAX_INLINE) throw new ProtocolError('too big inline request');
      return INCOMPLETE;
    }
    const lineEnd = nl > pos && buf[nl - 1] === CR ? nl - 1 : nl;
    let n = 0;
    for (let p = pos; p < lineEnd; ) {
      while (p < lineEnd && (buf[p] === 0x20 || buf[p] === 0x09)) p++;
      if (p === lineEnd) break;
      this.start[n] = p;
      while (p < lineEnd && buf[p] !== 0x20 && buf[p] !== 0x09) p++;
      this.end[n++] = p;
    }
    this.count = n;
    return nl + 1;
  }
}

// -- The keyspace -------------------------------------------------------------------

/**
 * Keys and values (latin1 strings), and one timer per key with a time to
 * live. `clock` schedules the expiry: the running aioloop loop
 * (`loop.callLater(ms, cb, key)` returns a TimerHandle with `cancel()` and
 * `when()`, in `loop.time()` milliseconds), or anything with the same three
 * methods (the node:net twin wraps setTimeout).
 */
export class Keyspace {
  data = new Map();
  timers = new Map();

  constructor(clock) {
    this.clock = clock;
  }

  /** The value, or undefined. A key past its deadline is gone even if its timer has not run yet. */
  get(key) {
    if (this.timers.size !== 0) this.expireIfDue(key);
    return this.data.get(key);
  }

  has(key) {
    return this.get(key) !== undefined;
  }

  /** Set a value; `ttlMs` null removes any time to live (as SET does). */
  set(key, value, ttlMs = null) {
    this.data.set(key, value);
    if (ttlMs !== null) this.expireIn(key, ttlMs);
    else if (this.timers.size !== 0) this.persist(key);
  }

  /** Set the value, keeping the key's time to live (INCR). */
  update(key, value) {
    this.data.set(key, value);
  }

  delete(key) {
    if (this.timers.size !== 0) this.persist(key);
    return this.data.delete(key);
  }

  /** Expire `key` in `ms` milliseconds: a loop timer, replacing the old one. */
  expireIn(key, ms) {
    this.persist(key);
    if (ms <= 0) {
      this.data.delete(key);
      return;
    }
    this.timers.set(key, this.clock.callLater(ms, this.expireNow, key));
  }

  /** Remove the time to live: cancel the key's timer. True if it had one. */
  persist(key) {
    const timer = this.timers.get(key);
    if (timer === undefined) return false;
    timer.cancel();
    this.timers.delete(key);
    return true;
  }

  /** The timer callback (also the lazy path of get()). */
  expireNow = (key) => {
    this.timers.delete(key);
    this.data.delete(key);
  };

  expireIfDue(key) {
    const timer = this.timers.get(key);
    if (timer !== undefined && timer.when() <= this.clock.time()) {
      timer.cancel();
      this.expireNow(key);
    }
  }

  /** Milliseconds left: -2 when there is no such key, -1 when it never expires. */
  ttlMs(key) {
    if (!this.has(key)) return -2;
    const timer = this.timers.get(key);
    return timer === undefined ? -1 : Math.max(0, timer.when() - this.clock.time());
  }

  clear() {
    for (const timer of this.timers.values()) timer.cancel();
    this.timers.clear();
    this.data.clear();
  }
}

// -- Commands -------------------------------------------------------------------------

const WRONG_TYPE_INT = 'ERR value is not an integer or out of range';

/** Server settings redis-benchmark asks for (`CONFIG GET save`, `CONFIG GET appendonly`). */
const CONFIG = new Map([
  ['save', ''],
  ['appendonly', 'no'],
  ['databases', '1'],
]);

/** SET key value [NX|XX] [EX seconds|PX milliseconds] */
function set(req, db) {
  let ttl = null;
  let nx = false;
  let xx = false;
  for (let i = 3; i < req.count; i++) {
    if (req.is(i, 'NX')) nx = true;
    else if (req.is(i, 'XX')) xx = true;
    else if ((req.is(i, 'EX') || req.is(i, 'PX')) && i + 1 < req.count && ttl === null) {
      const n = req.int(i + 1);
      if (!(n > 0)) return reply.error("ERR invalid expire time in 'set' command");
      ttl = req.is(i, 'EX') ? n * 1000 : n;
      i++;
    } else return reply.error('ERR syntax error');
  }
  if (nx && xx) return reply.error('ERR syntax error');
  const key = req.str(1);
  if ((nx || xx) && db.has(key) === nx) return reply.raw(NIL); // NX on an existing key, XX on a missing one
  db.set(key, req.str(2), ttl);
  reply.raw(OK);
}

function incr(req, db) {
  const key = req.str(1);
  const old = db.get(key);
  const n = old === undefined ? 0 : /^(0|-?[1-9][0-9]{0,18})$/.test(old) ? Number(old) : NaN;
  if (!Number.isSafeInteger(n)) return reply.error(WRONG_TYPE_INT);
  if (n + 1 > Number.MAX_SAFE_INTEGER) return reply.error('ERR increment or decrement would overflow');
  db.update(key, String(n + 1));
  reply.int(n + 1);
}

function expire(req, db) {
  const seconds = req.int(2);
  if (!Number.isSafeInteger(seconds)) return reply.error(WRONG_TYPE_INT);
  const key = req.str(1);
  if (!db.has(key)) return reply.int(0);
  db.expireIn(key, seconds * 1000);
  reply.int(1);
}

function configGet(req) {
  if (!req.is(1, 'GET')) {
    if (req.is(1, 'RESETSTAT') || req.is(1, 'SET')) return reply.raw(OK);
    return reply.error(`ERR unknown subcommand '${req.str(1)}'. Try CONFIG HELP.`);
  }
  const found = [];
  for (let i = 2; i < req.count; i++) {
    const name = req.str(i).toLowerCase();
    if (CONFIG.has(name)) found.push(name, CONFIG.get(name));
  }
  reply.array(found.length);
  for (const s of found) reply.bulk(s);
}

/**
 * name -> [arity, handler(request, keyspace, connection)]. Arity as in
 * Redis: n means exactly n arguments (the name included), -n at least n.
 */
const COMMANDS = new Map([
  ['PING', [-1, (req) => (req.count === 1 ? reply.raw(PONG) : reply.bulk(req.str(1)))]],
  ['ECHO', [2, (req) => reply.bulk(req.str(1))]],
  ['GET', [2, (req, db) => reply.bulk(db.get(req.str(1)))]],
  ['SET', [-3, set]],
  ['DEL', [-2, (req, db) => {
    let n = 0;
    for (let i = 1; i < req.count; i++) if (db.delete(req.str(i))) n++;
    reply.int(n);
  }]],
  ['EXISTS', [-2, (req, db) => {
    let n = 0;
    for (let i = 1; i < req.count; i++) if (db.has(req.str(i))) n++;
    reply.int(n);
  }]],
  ['INCR', [2, incr]],
  ['MGET', [-2, (req, db) => {
    reply.array(req.count - 1);
    for (let i = 1; i < req.count; i++) reply.bulk(db.get(req.str(i)));
  }]],
  ['MSET', [-3, (req, db) => {
    if (req.count % 2 === 0) return reply.error("ERR wrong number of arguments for 'mset' command");
    for (let i = 1; i < req.count; i += 2) db.set(req.str(i), req.str(i + 1));
    reply.raw(OK);
  }]],
  ['EXPIRE', [3, expire]],
  ['TTL', [2, (req, db) => {
    const ms = db.ttlMs(req.str(1));
    reply.int(ms < 0 ? ms : Math.round(ms / 1000));
  }]],
  ['PTTL', [2, (req, db) => {
    const ms = db.ttlMs(req.str(1));
    reply.int(ms < 0 ? ms : Math.round(ms));
  }]],
  ['PERSIST', [2, (req, db) => reply.int(db.has(req.str(1)) && db.persist(req.str(1)) ? 1 : 0)]],
  ['DBSIZE', [1, (req, db) => reply.int(db.data.size)]],
  ['FLUSHALL', [-1, (req, db) => {
    db.clear();
    reply.raw(OK);
  }]],
  ['FLUSHDB', [-1, (req, db) => {
    db.clear();
    reply.raw(OK);
  }]],
  ['SELECT', [2, (req) => (req.is(1, '0') ? reply.raw(OK) : reply.error('ERR DB index is out of range'))]],
  ['CONFIG', [-2, configGet]],
  // redis-cli asks for the command docs when it starts interactively: none here.
  ['COMMAND', [-1, () => reply.array(0)]],
  ['QUIT', [1, (req, db, conn) => {
    conn.quit = true;
    reply.raw(OK);
  }]],
]);

/**
 * Finding the command without making a string of its name: a number made
 * of the name's length and its first, second and last letters (upper-cased
 * with `& 0xdf`) picks the candidate, and a byte comparison confirms it.
 */
function nameCode(buf, start, end) {
  const len = end - start;
  if (len < 2 || len > 16) return -1;
  return len * 0x1000000 + (buf[start] & 0xdf) * 0x10000 + (buf[start + 1] & 0xdf) * 0x100 + (buf[end - 1] & 0xdf);
}

const BY_CODE = new Map();
for (const [name, [arity, run]] of COMMANDS) {
  const code = nameCode(Buffer.from(name), 0, name.length);
  if (BY_CODE.has(code)) throw new Error(`command codes of ${name} and ${BY_CODE.get(code).name} collide`);
  BY_CODE.set(code, { name, lowerName: name.toLowerCase(), arity, run });
}

function findCommand(req) {
  const command = BY_CODE.get(nameCode(req.buf, req.start[0], req.end[0]));
  return command !== undefined && req.is(0, command.name) ? command : undefined;
}

function quoteArg(s) {
  return `'${s.length > 128 ? `${s.slice(0, 128)}...` : s}'`;
}

// -- A connection ----------------------------------------------------------------------

/**
 * The Redis state of one client connection: the bytes of a request that has
 * not fully arrived yet, and whether the client asked to QUIT.
 */
export class RespConnection {
  parser = new RequestParser();
  /** Received bytes not parsed yet (the start of an incomplete request). */
  pending = [];
  pendingSize = 0;
  /** Bytes needed before parsing again is worth it. */
  needed = 0;
  /** Close after sending the replies (QUIT or a protocol error). */
  quit = false;

  constructor(keyspace) {
    this.db = keyspace;
  }

  /**
   * Handle one received chunk: run every complete request in it, in order,
   * and return their replies as one Buffer (empty when none is complete
   * yet). The Buffer is only valid until the next feed() of ANY connection.
   */
  feed(chunk) {
    let buf = chunk;
    if (this.pendingSize > 0) {
      this.pending.push(chunk);
      this.pendingSize += chunk.length;
      if (this.pendingSize < this.needed) return reply.take(); // a big value, still arriving
      buf = Buffer.concat(this.pending, this.pendingSize);
      this.pending = [];
      this.pendingSize = 0;
    }
    const req = this.parser;
    let pos = 0;
    while (pos < buf.length && !this.quit) {
      let next;
      try {
        next = req.parse(buf, pos);
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
        reply.error(`ERR Protocol error: ${e.message}`);
        this.quit = true;
        break;
      }
      if (next === INCOMPLETE) {
        this.pending.push(buf.subarray(pos)); // keep the partial request for the next chunk
        this.pendingSize = buf.length - pos;
        this.needed = req.needed;
        break;
      }
      pos = next;
      if (req.count > 0) this.execute(req);
    }
    req.buf = null; // do not keep the chunk alive
    return reply.take();
  }

  execute(req) {
    const command = findCommand(req);
    if (command === undefined) {
      const args = [];
      for (let i = 1; i < req.count && i < 4; i++) args.push(quoteArg(req.str(i)));
      return reply.error(`ERR unknown command ${quoteArg(req.str(0))}, with args beginning with: ${args.join(' ')}`);
    }
    const arity = command.arity;
    if (arity > 0 ? req.count !== arity : req.count < -arity) {
      return reply.error(`ERR wrong number of arguments for '${command.lowerName}' command`);
    }
    command.run(req, this.db, this);
  }
}
