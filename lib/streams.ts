/**
 * Streams (asyncio's `streams.py`): `StreamReader`/`StreamWriter` over a
 * transport, and the `openConnection`/`startServer` helpers.
 *
 * Read methods return Futures (like `Lock.acquire()` and `Queue.get()`), so
 * coroutines write `yield* reader.readline()` and async functions
 * `await reader.readline()`. A read that can be answered from the buffer
 * returns a Future that is already done (`yield*` does not suspend).
 * Otherwise the reader keeps one pending read. Data, EOF or an error only
 * wakes it, as asyncio's `_wakeup_waiter` does: the read looks at the buffer
 * again on the next iteration (in the waiting task's own turn), so all that
 * arrived meanwhile counts, as it does for asyncio's resumed read. Bytes stay
 * in the buffer until the read completes, so a read cancelled while it waits
 * loses nothing.
 * @module
 */
import { isCoroutine, isPromiseLike } from './coroutines.js';
import { IncompleteReadError, LimitOverrunError } from './errors.js';
import { _getRunningLoop, describe, getRunningLoop, type EventLoop } from './events.js';
import { Future, FutureHooks, State } from './futures.js';
import { checkOptions, checkPort, checkString } from './net_transport.js';
import type { Protocol } from './protocols.js';
import type { Server, ServerOptions } from './servers.js';
import type { Transport } from './transports.js';
// The global Buffer is an accessor property (read through an IC call in optimized code); the import is a constant.
import { Buffer } from 'node:buffer';

/**
 * Default buffer limit of a StreamReader: 64 KiB (asyncio's `_DEFAULT_LIMIT`).
 *
 * @example
 * ```ts
 * new StreamReader().limit === DEFAULT_LIMIT; // true
 * ```
 */
export const DEFAULT_LIMIT = 64 * 1024;

const EMPTY = Buffer.alloc(0);
/** readline()'s separator. */
const NEWLINE: readonly Buffer[] = [Buffer.from('\n')];

/** A pending read: returns its result, or NOT_YET to keep waiting (throws to fail). */
type ReadOp = () => unknown;
const NOT_YET = Symbol('not yet');

function checkLimit(limit: unknown, method: string): number {
  if (limit === undefined) return DEFAULT_LIMIT;
  if (typeof limit !== 'number') throw new TypeError(`${method}() limit must be a number, not ${describe(limit)}`);
  if (!Number.isInteger(limit) || limit <= 0) throw new RangeError(`${method}() limit must be an integer > 0, not ${limit}`);
  return limit;
}

function toBuffer(data: Uint8Array | string, what: string): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`${what} must be a Uint8Array or a string, not ${describe(data)}`);
}

/**
 * Buffered reading from a stream transport.
 *
 * @example
 * ```ts
 * function* client() {
 *   const [reader, writer] = yield* openConnection('127.0.0.1', port);
 *   writer.write('GET\n');
 *   const line = yield* reader.readline();  // Buffer, '\n' included
 *   const body = yield* reader.readexactly(16);
 *   for await (const l of reader) console.log(String(l));
 * }
 * ```
 */
export class StreamReader {
  /** @internal Received, not yet read. */
  _chunks: Buffer[] = [];
  /** @internal Total bytes in `_chunks`. */
  _size = 0;
  /** @internal */ _eof = false;
  /** @internal */ _exception: unknown = null;
  /** @internal */ _transport: Transport | null = null;
  /** @internal We paused the transport (buffer above 2 × limit). */
  _paused = false;
  /** @internal The waiting read. */
  _op: ReadOp | null = null;
  /** @internal Its Future. */
  _waiter: Future<any> | null = null;
  /**
   * @internal The waiting read is woken: a look at the buffer is queued
   * (`_recheck`), once however many feeds come before it runs. A flag, not
   * the Future's callbacks: a Task waiting on it is off them until its turn.
   */
  _woken = false;
  /** @internal The `n` of the read(n) that `_readSome` serves. */
  _readMax = 0;
  /**
   * @internal read(n)'s operation, made once per reader rather than a
   * closure per read: `read()` is the streams echo's call per request, and
   * a closure stored into the (old) reader is an allocation plus a
   * write-barrier slow path.
   */
  private readonly _readSome: ReadOp = () => {
    if (this._size > 0) return this._take(Math.min(this._readMax, this._size));
    return this._eof ? EMPTY : NOT_YET;
  };
  /** @internal The woken read's look at the buffer (Future._recheckSoon), made once per reader. */
  private readonly _recheck = (fut: Future<any>): void => this._retry(fut);
  /** @internal */ readonly _limit: number;
  /** @internal */ readonly _loop: EventLoop;

  /**
   * @param opts.limit buffer limit for `readline`/`readuntil` (default 64 KiB)
   * @param opts.loop defaults to the running loop
   */
  constructor(opts?: { limit?: number; loop?: EventLoop }) {
    checkOptions(opts, 'StreamReader');
    this._limit = checkLimit(opts?.limit, 'StreamReader');
    this._loop = opts?.loop ?? getRunningLoop();
  }

  /** The buffer limit. */
  get limit(): number {
    return this._limit;
  }

  /** The error set by `setException()` (connection lost with an error), or null. */
  exception(): unknown {
    return this._exception;
  }

  /**
   * Fail the pending read and every later one with `exc`. A read already
   * woken by data or EOF in this iteration first looks at the buffer, as
   * asyncio's does (read(n) returns what is there); one that would wait for
   * more fails with `exc` (asyncio's would wait on).
   */
  setException(exc: unknown): void {
    this._exception = exc;
    const waiter = this._waiter;
    if (waiter === null || (this._woken && !waiter.done())) return;
    this._clearWaiter();
    if (!waiter.done()) waiter.setException(exc);
  }

  /** @internal Attach the transport (to pause it when the buffer fills). */
  setTransport(transport: Transport): void {
    if (this._transport !== null) throw new Error('Transport already set');
    this._transport = transport;
  }

  /**
   * Add received bytes. A waiting read is woken and looks at everything
   * buffered when its task resumes, so bytes fed by later calls in the same
   * iteration count too (asyncio's feed_data).
   */
  feedData(data: Uint8Array): void {
    this._feed(data, false);
  }

  /**
   * @internal Bytes read from the transport (StreamReaderProtocol, a
   * subprocess pipe). A `read(n)` waiting on an empty buffer takes a chunk
   * of at most `n` bytes at once, as it is. That is what asyncio gives with
   * a socket: the woken task resumes before the socket's next read, so the
   * read returns that one chunk. (Our native loop may deliver a socket's
   * next read in the same batch; it then waits for the next read(), as
   * asyncio's would.) It is also the hot path of the streams echo: a
   * buffered chunk waiting for its task's turn kept its slab alive longer,
   * and with it ~6x the page faults (10 KiB echo: 160k -> 135k req/s).
   */
  _feedFromTransport(data: Uint8Array): void {
    this._feed(data, true);
  }

  /** @internal A handed-over chunk comes back (its reader was cancelled): first in line again. */
  _giveBack(chunk: Buffer): void {
    this._chunks.unshift(chunk);
    this._size += chunk.length;
    this._wake();
  }

  private _feed(data: Uint8Array, fromTransport: boolean): void {
    if (this._eof) throw new Error('feedData after feedEof');
    if (data.length === 0) return;
    const chunk = Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (fromTransport && this._size === 0 && !this._woken && this._op === this._readSome && chunk.length <= this._readMax) {
      const waiter = this._waiter!;
      if (!waiter.done()) {
        this._clearWaiter();
        waiter._hooks = HANDED_OVER;
        waiter._owner = this;
        waiter.setResult(chunk);
        return;
      }
    }
    this._chunks.push(chunk);
    this._size += chunk.length;
    // A waiting read decides about flow control when it has looked (_retry).
    if (this._wake()) return;
    // Push back on the peer while the reader lags (asyncio: 2 × limit).
    if (this._transport !== null && !this._paused && this._size > 2 * this._limit) this._pause();
  }

  /** The peer sent EOF (called by the protocol). */
  feedEof(): void {
    this._eof = true;
    this._wake();
  }

  /** True once EOF arrived and the buffer is empty. */
  atEof(): boolean {
    return this._eof && this._size === 0;
  }

  /**
   * Up to `n` bytes; `n = -1` reads until EOF. An empty Buffer means EOF.
   */
  read(n = -1): Future<Buffer> {
    if (typeof n !== 'number' || !Number.isInteger(n)) throw new TypeError(`read() n must be an integer, not ${describe(n)}`);
    // read(-1) moves what arrives out of the buffer as it comes (asyncio
    // reads `limit`-sized blocks), so the buffer never fills up and pauses
    // the transport while this very read waits for EOF.
    if (n < 0) {
      const blocks: Buffer[] = [];
      return this._start('read', () => {
        if (this._size > 0) blocks.push(this._take(this._size));
        return this._eof ? (blocks.length === 1 ? blocks[0]! : Buffer.concat(blocks)) : NOT_YET;
      });
    }
    if (n === 0) return this._start('read', () => EMPTY);
    return this._start('read', this._readSome, n);
  }

  /**
   * Exactly `n` bytes; `IncompleteReadError` (with the bytes read) when EOF
   * comes first.
   */
  readexactly(n: number): Future<Buffer> {
    if (typeof n !== 'number' || !Number.isInteger(n)) throw new TypeError(`readexactly() n must be an integer, not ${describe(n)}`);
    if (n < 0) throw new RangeError('readexactly() size can not be less than zero');
    return this._start('readexactly', () => {
      if (this._size >= n) return this._take(n);
      if (this._eof) throw new IncompleteReadError(this._take(this._size), n);
      return NOT_YET;
    });
  }

  /**
   * Bytes up to and including `separator` (default '\n').
   * `IncompleteReadError` at EOF without it (`partial` holds the rest);
   * `LimitOverrunError` when more than `limit` bytes come without it (the
   * data stays in the buffer).
   *
   * `separator` may also be an array of separators (asyncio 3.13's tuple):
   * the read then ends at the first place where any of them ends, the
   * shortest result. When several end there, the shortest separator is the
   * one that matched (its start is what the limit is checked against, and
   * `LimitOverrunError.consumed`). Each separator is a non-empty string
   * (UTF-8) or Uint8Array; an empty one, or an empty array, is a RangeError.
   *
   * @example
   * ```ts
   * // Buffer holds 'line 1\nline 2\r'
   * yield* reader.readuntil(['\r', '\n']); // 'line 1\n'
   * yield* reader.readuntil(['\r', '\n']); // 'line 2\r'
   * // Buffer holds 'ABCDEFG': 'BCDE' ends first, though 'DEF' starts later
   * yield* reader.readuntil(['DEF', 'BCDE']); // 'ABCDE'
   * ```
   */
  readuntil(separator: Uint8Array | string | readonly (Uint8Array | string)[] = '\n'): Future<Buffer> {
    let seps: Buffer[];
    if (Array.isArray(separator)) {
      if (separator.length === 0) throw new RangeError('Separator should contain at least one element');
      // Shortest first (a stable sort, as asyncio's sorted(key=len)): it wins a tie.
      seps = separator.map((s) => toBuffer(s, 'readuntil() separator')).sort((x, y) => x.length - y.length);
    } else {
      seps = [toBuffer(separator as Uint8Array | string, 'readuntil() separator')];
    }
    if (seps[0]!.length === 0) throw new RangeError('Separator should be at least one-byte string');
    return this._start('readuntil', () => this._readuntil(seps));
  }

  /** asyncio's readuntil() on the buffer as it is now (`seps` shortest first). */
  private _readuntil(seps: readonly Buffer[]): unknown {
    const buf = this._flatten();
    if (buf.length >= seps[0]!.length) {
      // The match that ends first; among those, the shortest separator's.
      let start = -1;
      let end = -1;
      for (let k = 0; k < seps.length; k++) {
        const sep = seps[k]!;
        const i = buf.indexOf(sep);
        if (i >= 0 && (end < 0 || i + sep.length < end)) {
          start = i;
          end = i + sep.length;
        }
      }
      if (end >= 0) {
        if (start > this._limit) throw new LimitOverrunError('Separator is found, but chunk is longer than limit', start);
        return this._take(end);
      }
      // No separator ends in the buffer: none starts before `offset`.
      const offset = Math.max(0, buf.length + 1 - seps[seps.length - 1]!.length);
      if (offset > this._limit) throw new LimitOverrunError('Separator is not found, and chunk exceed the limit', offset);
    }
    if (this._eof) throw new IncompleteReadError(this._take(this._size), null);
    return NOT_YET;
  }

  /**
   * One line, '\n' included; at EOF the rest without '\n' (an empty Buffer
   * when nothing is left). Past the limit it throws `LimitOverrunError`
   * after discarding the long line (asyncio raises ValueError there).
   */
  readline(): Future<Buffer> {
    return this._start('readline', () => {
      try {
        return this._readuntil(NEWLINE);
      } catch (e) {
        if (e instanceof IncompleteReadError) return e.partial;
        if (e instanceof LimitOverrunError) {
          // Discard the line (or all of it, if its end is not here yet), as asyncio does.
          if (this._flatten()[e.consumed] === 0x0a) this._take(e.consumed + 1);
          else this._take(this._size);
        }
        throw e;
      }
    });
  }

  /** `for await (const line of reader)`: lines until EOF. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    for (;;) {
      const line = await this.readline();
      if (line.length === 0) return;
      yield line;
    }
  }

  /** Run `op` now, or keep it as the pending read (`readMax`: `_readSome`'s n). */
  private _start(method: string, op: ReadOp, readMax = 0): Future<Buffer> {
    if (this._waiter !== null && !this._waiter.done()) {
      throw new Error(`${method}() called while another coroutine is already waiting for incoming data`);
    }
    // Only now: a read refused above must not change the waiting one's n.
    this._readMax = readMax;
    // Inside the loop (the usual case) the Future finds it itself: no options object.
    const fut = _getRunningLoop() !== null ? new Future<Buffer>() : new Future<Buffer>({ loop: this._loop });
    // asyncio checks the stored error first, even for read(0) and readexactly(0).
    if (this._exception !== null) {
      fut.setException(this._exception);
      return fut;
    }
    let result: unknown;
    try {
      result = op();
    } catch (e) {
      fut.setException(e);
      this._maybeResume(); // readline discarded a long line
      return fut;
    }
    if (result !== NOT_YET) {
      fut.setResult(result as Buffer);
      this._maybeResume();
      return fut;
    }
    this._op = op;
    this._waiter = fut;
    this._woken = false; // a look queued for an earlier (cancelled) read is not this one's
    // asyncio's _wait_for_data: a read needs data, never wait on a paused transport.
    if (this._paused) this._resume();
    return fut;
  }

  /**
   * Data, EOF or an error for the waiting read (asyncio's `_wakeup_waiter`):
   * queue one look at the buffer for the next iteration. True if a read waits.
   */
  private _wake(): boolean {
    const waiter = this._waiter;
    if (waiter === null) return false;
    if (waiter.done()) {
      // Cancelled while waiting: nothing was taken from the buffer.
      this._clearWaiter();
      return false;
    }
    if (!this._woken) {
      this._woken = true;
      waiter._recheckSoon(this._recheck);
    }
    return true;
  }

  /** The woken read looks at everything that arrived: it completes, fails or waits on. */
  private _retry(fut: Future<any>): void {
    if (fut !== this._waiter) return; // an earlier read's, cancelled, and since replaced
    this._woken = false;
    const peak = this._size;
    if (fut.done()) {
      // Cancelled while woken: the buffer is untouched.
      this._clearWaiter();
      this._flowControl(peak);
      return;
    }
    let result: unknown;
    try {
      result = this._op!();
    } catch (e) {
      this._clearWaiter();
      fut.setException(e);
      this._flowControl(peak);
      return;
    }
    if (result === NOT_YET) {
      if (this._exception !== null) {
        this._clearWaiter();
        fut.setException(this._exception);
      } else if (this._paused) {
        this._resume(); // waits on: asyncio's _wait_for_data resumes reading
      }
      return;
    }
    this._clearWaiter();
    fut.setResult(result);
    this._flowControl(peak);
  }

  private _clearWaiter(): void {
    this._op = this._waiter = null;
    this._woken = false;
  }

  /**
   * After a woken read took its bytes (or gave up): asyncio's feed_data
   * paused the transport once the buffer passed 2 × limit (`peak`: the
   * buffer before the read), and its read resumes it once the buffer is
   * down to the limit.
   */
  private _flowControl(peak: number): void {
    if (this._transport === null) return;
    if (this._paused) this._maybeResume();
    else if (peak > 2 * this._limit && this._size > this._limit) this._pause();
  }

  private _pause(): void {
    try {
      this._transport!.pauseReading();
      this._paused = true;
    } catch {
      // A transport that cannot pause: keep buffering.
    }
  }

  private _resume(): void {
    this._paused = false;
    this._transport!.resumeReading();
  }

  private _maybeResume(): void {
    if (this._paused && this._size <= this._limit && this._transport !== null) this._resume();
  }

  /** The buffer as one Buffer (merging chunks only when there are several). */
  private _flatten(): Buffer {
    const chunks = this._chunks;
    if (chunks.length === 0) return EMPTY;
    if (chunks.length > 1) this._chunks = [Buffer.concat(chunks, this._size)];
    return this._chunks[0]!;
  }

  /** Remove and return the first `n` bytes. */
  private _take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const chunks = this._chunks;
    const first = chunks[0]!;
    let out: Buffer;
    if (first.length === n) {
      // The usual read: the whole chunk, as the transport delivered it (no new view).
      out = first;
      chunks.shift();
    } else if (first.length > n) {
      out = first.subarray(0, n);
      chunks[0] = first.subarray(n);
    } else {
      const buf = this._flatten();
      out = buf.subarray(0, n);
      if (buf.length === n) this._chunks = [];
      else this._chunks = [buf.subarray(n)];
    }
    this._size -= n;
    return out;
  }

  toString(): string {
    return `<StreamReader ${this._size} bytes${this._eof ? ' eof' : ''}>`;
  }
}

/**
 * A read(n) Future completed with a chunk straight from the transport
 * (`_owner`: the reader). If its task is cancelled before it resumes, the
 * chunk goes back to the front of the buffer: asyncio's read would not have
 * taken it yet, and no byte may be lost.
 */
const HANDED_OVER = new FutureHooks({
  throw: (fut) => {
    if (fut._state !== State.FINISHED) return;
    fut._hooks = null; // once
    (fut._owner as StreamReader)._giveBack(fut._result as Buffer);
  },
});

/**
 * The protocol between a transport and a StreamReader/StreamWriter
 * (asyncio's `StreamReaderProtocol`): feeds the reader, wakes `drain()`
 * waiters, and runs the server's `onClient`.
 *
 * @example
 * ```ts
 * const reader = new StreamReader();
 * const [transport, protocol] = await loop.createConnection(() => new StreamReaderProtocol(reader), host, port);
 * const writer = new StreamWriter(transport, protocol, reader);
 * ```
 */
export class StreamReaderProtocol implements Protocol {
  /** @internal */ _reader: StreamReader;
  /** @internal */ _transport: Transport | null = null;
  /** @internal */ _paused = false;
  /** @internal */ _drainWaiters: Future<void>[] = [];
  /** @internal drain()'s shared done Future (see `_drainHelper`). */
  _drained: Future<void> | null = null;
  /** @internal */ _connectionLost = false;
  /** @internal Resolved (or failed) on connectionLost: waitClosed(). */
  _closed: Future<void>;
  /** @internal */ readonly _onClient: OnClient | null;

  constructor(reader: StreamReader, onClient?: OnClient | null) {
    this._reader = reader;
    this._onClient = onClient ?? null;
    this._closed = new Future<void>({ loop: reader._loop });
  }

  connectionMade(transport: Transport): void {
    this._transport = transport;
    this._reader.setTransport(transport);
    if (this._onClient !== null) {
      const writer = new StreamWriter(transport, this, this._reader);
      runClient(this._reader._loop, this._onClient, this._reader, writer, transport);
    }
  }

  connectionLost(err: Error | null): void {
    this._connectionLost = true;
    if (err === null) this._reader.feedEof();
    else this._reader.setException(err);
    if (!this._closed.done()) {
      if (err === null) this._closed.setResult(undefined);
      else {
        this._closed.setException(err);
        this._closed.exception(); // waitClosed() reports it; nobody waiting is fine
      }
    }
    const waiters = this._drainWaiters;
    this._drainWaiters = [];
    for (const w of waiters) {
      if (w.done()) continue;
      if (err === null) w.setResult(undefined);
      else w.setException(err);
    }
  }

  dataReceived(data: Buffer): void {
    this._reader._feedFromTransport(data);
  }

  eofReceived(): boolean {
    this._reader.feedEof();
    return true; // keep the write side open: the writer decides when to close
  }

  pauseWriting(): void {
    this._paused = true;
  }

  resumeWriting(): void {
    this._paused = false;
    const waiters = this._drainWaiters;
    this._drainWaiters = [];
    for (const w of waiters) if (!w.done()) w.setResult(undefined);
  }

  /**
   * @internal `StreamWriter.drain()`. While the transport is not paused the
   * answer is one shared, already-done Future (one per protocol and loop):
   * `yield* writer.drain()` after every write is the common idiom, and it
   * then costs no allocation.
   */
  _drainHelper(): Future<void> {
    const loop = _getRunningLoop() ?? this._reader._loop;
    if (!this._paused && !this._connectionLost) {
      let done = this._drained;
      if (done === null || done._loop !== loop) {
        done = this._drained = new Future<void>({ loop });
        done.setResult(undefined);
      }
      return done;
    }
    const fut = new Future<void>({ loop });
    if (this._connectionLost) fut.setException(Object.assign(new Error('Connection lost'), { code: 'ECONNRESET' }));
    else this._drainWaiters.push(fut);
    return fut;
  }
}

/**
 * Writing to a stream transport, with `drain()` for flow control.
 *
 * @example
 * ```ts
 * writer.write(bigChunk);
 * yield* writer.drain(); // waits while the buffer is above the high-water mark
 * writer.close();
 * yield* writer.waitClosed();
 * ```
 */
export class StreamWriter {
  /** @internal */ readonly _transport: Transport;
  /** @internal */ readonly _protocol: StreamReaderProtocol;
  /** @internal */ readonly _reader: StreamReader | null;

  constructor(transport: Transport, protocol: StreamReaderProtocol, reader: StreamReader | null) {
    this._transport = transport;
    this._protocol = protocol;
    this._reader = reader;
  }

  /** The underlying transport. */
  get transport(): Transport {
    return this._transport;
  }

  /** Queue bytes (strings as UTF-8). */
  write(data: Uint8Array | string): void {
    this._transport.write(data);
  }

  /** Queue each item. */
  writelines(list: Iterable<Uint8Array | string>): void {
    this._transport.writelines(list);
  }

  /** Half-close: send EOF after what is buffered. */
  writeEof(): void {
    this._transport.writeEof();
  }

  /** True when `writeEof()` is possible. */
  canWriteEof(): boolean {
    return this._transport.canWriteEof();
  }

  /** Close the transport (after flushing). */
  close(): void {
    this._transport.close();
  }

  /** True once closing. */
  isClosing(): boolean {
    return this._transport.isClosing();
  }

  /** Resolves once the connection is closed (fails with its error, if it was lost with one). */
  waitClosed(): Future<void> {
    const closed = this._protocol._closed;
    const fut = new Future<void>({ loop: _getRunningLoop() ?? closed.getLoop() });
    const settle = () => {
      if (fut.done()) return;
      const e = closed.exception();
      if (e === null) fut.setResult(undefined);
      else fut.setException(e);
    };
    if (closed.done()) settle();
    else closed.addDoneCallback(settle);
    return fut;
  }

  /**
   * Wait until the write buffer is below its high-water mark. Fails with
   * the reader's error, or `Error('Connection lost')` once the connection
   * is gone.
   */
  drain(): Future<void> {
    const reader = this._reader;
    if (reader !== null && reader._exception !== null) {
      const fut = new Future<void>({ loop: _getRunningLoop() ?? reader._loop });
      fut.setException(reader._exception);
      return fut;
    }
    return this._protocol._drainHelper();
  }

  /** As `transport.getExtraInfo(name, dflt)`. */
  getExtraInfo(name: string, dflt?: unknown): unknown {
    return this._transport.getExtraInfo(name, dflt);
  }

  toString(): string {
    return `<StreamWriter ${this._transport}>`;
  }
}

/**
 * The per-connection callback of `startServer`: a plain function, a
 * generator function (its coroutine runs as a Task) or an async function.
 *
 * @example
 * ```ts
 * const onClient: OnClient = function* (reader, writer) {
 *   writer.write(yield* reader.readline());
 *   writer.close();
 * };
 * ```
 */
export type OnClient = (reader: StreamReader, writer: StreamWriter) => unknown;

function runClient(loop: EventLoop, onClient: OnClient, reader: StreamReader, writer: StreamWriter, transport: Transport): void {
  const fail = (exception: unknown) => {
    loop.callExceptionHandler({ message: 'Unhandled exception in client_connected_cb', exception, transport });
    transport.close();
  };
  let res: unknown;
  try {
    res = onClient(reader, writer);
  } catch (exception) {
    fail(exception);
    return;
  }
  if (isCoroutine(res) || isPromiseLike(res)) {
    const task = loop.createTask(res as never);
    task.addDoneCallback((t) => {
      if (t.cancelled()) return;
      const exception = t.exception();
      if (exception !== null) fail(exception);
    });
  }
}

/**
 * Options of `openConnection` / `startServer` (and their Unix forms).
 *
 * @example
 * ```ts
 * yield* openConnection('127.0.0.1', port, { limit: 1 << 20 });
 * ```
 */
export interface StreamOptions {
  /** Buffer limit of the StreamReader (default 64 KiB). */
  limit?: number;
}

function connectStreams(
  makeConnection: (loop: EventLoop, factory: () => StreamReaderProtocol) => Promise<[Transport, StreamReaderProtocol]>,
  opts: StreamOptions | undefined,
  method: string,
): Future<[StreamReader, StreamWriter]> {
  checkOptions(opts, method);
  const limit = checkLimit(opts?.limit, method);
  const loop = getRunningLoop();
  const reader = new StreamReader({ limit, loop });
  const protocol = new StreamReaderProtocol(reader);
  const fut = new Future<[StreamReader, StreamWriter]>({ loop });
  makeConnection(loop, () => protocol).then(
    ([transport]) => {
      if (fut.done()) transport.close(); // the caller gave up (cancelled)
      else fut.setResult([reader, new StreamWriter(transport, protocol, reader)]);
    },
    (err) => {
      if (!fut.done()) fut.setException(err);
    },
  );
  return fut;
}

/**
 * Connect to `host:port` and return `[reader, writer]` (a Future: `yield*`
 * or `await` it). Fails with Node's error (`code` ECONNREFUSED, ENOTFOUND...).
 *
 * @example
 * ```ts
 * function* main() {
 *   const [reader, writer] = yield* openConnection('127.0.0.1', 8888);
 *   writer.write('ping\n');
 *   console.log(String(yield* reader.readline()));
 *   writer.close();
 *   yield* writer.waitClosed();
 * }
 * ```
 */
export function openConnection(host: string, port: number, opts?: StreamOptions): Future<[StreamReader, StreamWriter]> {
  checkString(host, 'openConnection() host');
  checkPort(port, 'openConnection', 1);
  return connectStreams((loop, f) => loop.createConnection(f, host, port), opts, 'openConnection');
}

/**
 * `openConnection` for a Unix socket at `path`.
 *
 * @example
 * ```ts
 * const [reader, writer] = yield* openUnixConnection('/tmp/app.sock');
 * ```
 */
export function openUnixConnection(path: string, opts?: StreamOptions): Future<[StreamReader, StreamWriter]> {
  checkString(path, 'openUnixConnection() path');
  return connectStreams((loop, f) => loop.createUnixConnection(f, path), opts, 'openUnixConnection');
}

function checkOnClient(onClient: unknown, method: string): asserts onClient is OnClient {
  if (typeof onClient !== 'function') throw new TypeError(`${method}() onClient must be a function, not ${describe(onClient)}`);
}

/** The server as a Future of the running loop (closed again if the caller gave up). */
function serveStreams(loop: EventLoop, pending: Promise<Server>): Future<Server> {
  const fut = new Future<Server>({ loop });
  pending.then(
    (server) => {
      if (fut.done()) server.close();
      else fut.setResult(server);
    },
    (err) => {
      if (!fut.done()) fut.setException(err);
    },
  );
  return fut;
}

/**
 * Listen on `host:port` (`port` 0 picks a free one; `host` null means all
 * interfaces) and call `onClient(reader, writer)` for each connection. An
 * error thrown by `onClient` (or its task) goes to the loop's exception
 * handler and closes that connection.
 *
 * @example
 * ```ts
 * function* main() {
 *   const server = yield* startServer(function* (reader, writer) {
 *     for (;;) { const line = yield* reader.readline(); if (!line.length) break; writer.write(line); }
 *     writer.close();
 *   }, '127.0.0.1', 8888);
 *   yield* server.serveForever();
 * }
 * ```
 */
export function startServer(
  onClient: OnClient,
  host: string | null | undefined,
  port: number | null | undefined,
  opts?: StreamOptions & ServerOptions,
): Future<Server> {
  checkOnClient(onClient, 'startServer');
  checkOptions(opts, 'startServer');
  const limit = checkLimit(opts?.limit, 'startServer');
  const serverOpts: ServerOptions = {};
  if (opts?.backlog !== undefined) serverOpts.backlog = opts.backlog;
  if (opts?.reusePort !== undefined) serverOpts.reusePort = opts.reusePort;
  const loop = getRunningLoop();
  // Validate synchronously: bad arguments throw here, not in the Future.
  const pending = loop.createServer(() => new StreamReaderProtocol(new StreamReader({ limit, loop }), onClient), host, port, serverOpts);
  return serveStreams(loop, pending);
}

/**
 * `startServer` on a Unix socket at `path`.
 *
 * @example
 * ```ts
 * const server = yield* startUnixServer(handle, '/tmp/app.sock');
 * ```
 */
export function startUnixServer(onClient: OnClient, path: string, opts?: StreamOptions & ServerOptions): Future<Server> {
  checkOnClient(onClient, 'startUnixServer');
  checkOptions(opts, 'startUnixServer');
  const limit = checkLimit(opts?.limit, 'startUnixServer');
  const serverOpts: ServerOptions = {};
  if (opts?.backlog !== undefined) serverOpts.backlog = opts.backlog;
  const loop = getRunningLoop();
  const pending = loop.createUnixServer(() => new StreamReaderProtocol(new StreamReader({ limit, loop }), onClient), path, serverOpts);
  return serveStreams(loop, pending);
}
