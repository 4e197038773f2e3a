/**
 * The native loop's stream transport: a TCP or Unix socket driven by libuv
 * from C++ (native/stream.{h,cc}), fed by the loop's I/O batch
 * (./io.ts). Events arrive on the loop, inside the native loop's wake-up,
 * so data goes straight to the protocol; the inbox of the shared base only
 * holds what arrives while reading is paused.
 * @module
 */
import { describe, type EventLoop } from '../../events.js';
import { isBufferedProtocol, type BaseProtocol, type BufferedProtocol, type ProtocolFactory } from '../../protocols.js';
import { BaseStreamTransport, EOF } from '../../stream_transport.js';
import type { SockAddr } from '../../transports.js';
import type { NativeLoopBinding } from './addon.js';
import type { BatchWriter, NativeIo, StreamOwner } from './io.js';
// The global Buffer is an accessor property (read through an IC call in optimized code); the import is a constant.
import { Buffer } from 'node:buffer';

/**
 * A Transport over a native stream id. Made by the native loop's
 * createConnection/createServer and their Unix variants.
 *
 * Write-buffer size: bytes in the loop's outbound batch (not yet flushed,
 * at most one loop tick) plus bytes libuv queued because the kernel did not
 * take them; both exact.
 *
 * @example
 * ```ts
 * const loop = new NativeLoop();
 * const [transport] = await loop.createConnection(() => ({}), '127.0.0.1', port);
 * transport.write('hello');
 * ```
 */
export class NativeStreamTransport extends BaseStreamTransport implements StreamOwner, BatchWriter {
  /** @internal The native stream id (-1 once closed). */
  _id: number;
  /** @internal */ _unflushed = 0;
  /** @internal */ _queued = 0;
  /** @internal */ _dirty = false;
  /**
   * @internal BufferedProtocol zero copy: the buffer last handed to C++
   * (setReadBuffer), its length then, and the protocol it came from.
   * `_readHeld` while C++ holds it; `_readArmed` from arming it until the
   * read that lands in it is delivered (`_onBuffered`): C++ disarms it as
   * the read lands, and JS arms it again after bufferUpdated.
   */
  _readBuffer: Uint8Array | null = null;
  _readBufferLength = 0;
  _readBufferOwner: BaseProtocol | null = null;
  _readHeld = false;
  _readArmed = false;
  /** @internal Waiting for the connect result (client side). */
  _onConnected: ((status: number) => void) | null = null;
  /** @internal */ readonly _io: NativeIo;
  /** @internal */ readonly _native: NativeLoopBinding;

  /** @internal Use the native loop's createConnection/createServer. */
  constructor(loop: EventLoop, io: NativeIo, native: NativeLoopBinding, id: number) {
    super(loop);
    this._io = io;
    this._native = native;
    this._id = id;
    io.register(id, this);
  }

  /** @internal Record the TCP addresses (once connected). */
  _nameTcp(): void {
    this._peername = sockAddr(this._native.tcpAddress(this._id, true));
    this._sockname = sockAddr(this._native.tcpAddress(this._id, false));
  }

  // -- Events from the I/O batch (on the loop) ---------------------------------

  /** @internal */
  _onData(chunk: Buffer): void {
    if (this._closing) return;
    if (this._reading && this._inbox.length === 0) this._deliverData(chunk);
    else this._inbox.push(chunk);
  }

  /** @internal */
  _onEof(): void {
    if (this._closing) return;
    if (this._reading && this._inbox.length === 0) this._deliverEof();
    else this._inbox.push(EOF);
  }

  /** @internal A read or write failed: C++ is closing the handle; connectionLost(err) follows. */
  _onError(err: Error): void {
    this._lostError ??= err;
    this._closing = true;
    this._inbox.length = 0;
  }

  /** @internal */
  _onClosed(): void {
    this._id = -1;
    this._peerGone = true;
    const connected = this._onConnected;
    if (connected !== null) {
      this._onConnected = null;
      connected(-125); // ECANCELED: closed before the connect completed
      return;
    }
    // A graceful close drained the buffer: a paused protocol hears
    // resumeWriting before connectionLost, as asyncio's _write_ready calls
    // it (C++ reports no write completion for the last writes of a close).
    if (this._protocolPaused && !this._aborted && this._lostError === null) this._maybeResumeProtocol();
    this._pump(); // connectionLost, after whatever the inbox may still deliver
  }

  /** @internal */
  _onConnect(status: number): void {
    const connected = this._onConnected;
    this._onConnected = null;
    connected?.(status);
  }

  /**
   * @internal `n` bytes were read straight into the protocol's buffer:
   * asyncio's bufferUpdated(n), then the next buffer for the next read.
   */
  _onBuffered(n: number): void {
    const buf = this._readBuffer!;
    this._readArmed = false;
    if (this._closing) return;
    const protocol = this._protocol;
    if (protocol !== this._readBufferOwner || !isBufferedProtocol(protocol)) {
      // The protocol changed since it gave the buffer: hand the bytes over
      // as data, then arm the new protocol's buffer (if it has one).
      if (!this._readHeld) this._readBuffer = this._readBufferOwner = null;
      this._onData(Buffer.from(buf.subarray(0, n)));
      this._armReadBuffer();
      return;
    }
    try {
      protocol.bufferUpdated(n);
    } catch (exception) {
      this._protocolFailed('bufferUpdated', exception);
      return;
    }
    this._armReadBuffer();
  }

  /**
   * @internal A BufferedProtocol's next read goes straight into its buffer
   * (asyncio's get_buffer before each recv_into); other protocols read
   * through the loop's batch. The buffer C++ already holds, unchanged, is
   * armed again without a new reference (the usual case: one buffer per
   * protocol). A length that changed means the memory may have been
   * detached: it is handed over anew, and checked.
   */
  _armReadBuffer(): void {
    const protocol = this._protocol;
    if (this._closing || this._id < 0 || this._readArmed || !isBufferedProtocol(protocol)) return;
    let buf: Uint8Array;
    try {
      buf = (protocol as BufferedProtocol).getBuffer(-1);
      if (!(buf instanceof Uint8Array)) throw new TypeError(`getBuffer() must return a Uint8Array, not ${describe(buf)}`);
      if (buf.length === 0) throw new RangeError('getBuffer() returned an empty buffer');
    } catch (exception) {
      this._protocolFailed('getBuffer', exception);
      return;
    }
    this._readArmed = true;
    if (this._readHeld && buf === this._readBuffer && buf.length === this._readBufferLength && protocol === this._readBufferOwner) {
      this._native.rearmReadBuffer(this._id);
      return;
    }
    this._readBuffer = buf;
    this._readBufferLength = buf.length;
    this._readBufferOwner = protocol;
    this._readHeld = true;
    this._native.setReadBuffer(this._id, buf);
  }

  /** @internal Start the protocol; a BufferedProtocol then gets zero-copy reads. */
  override _start(factory: ProtocolFactory, done: (err: unknown) => void): void {
    super._start(factory, done);
    this._armReadBuffer();
  }

  /** Switch protocols: later events go to `protocol` (a BufferedProtocol reads zero-copy). */
  override setProtocol(protocol: BaseProtocol): void {
    super.setProtocol(protocol);
    // The next read must not land in the old protocol's buffer.
    if (this._readHeld && this._readBufferOwner !== protocol && this._id >= 0) this._takeBackReadBuffer();
    this._armReadBuffer();
  }

  /**
   * @internal Bytes that reached the loop's batch (before the protocol's
   * buffer was armed, or while reading was paused) go to a BufferedProtocol
   * through getBuffer() and a copy. C++ must not keep a buffer armed across
   * that getBuffer(): a protocol that hands out the free tail of one big
   * buffer returns the same memory for the copy, and the next read would
   * land on top of it. So the armed buffer is taken back first, and armed
   * again, from a new getBuffer(), after the copy.
   */
  override _deliverData(chunk: Buffer): void {
    if (this._readHeld && this._id >= 0 && isBufferedProtocol(this._protocol)) {
      this._takeBackReadBuffer();
      super._deliverData(chunk);
      this._armReadBuffer();
      return;
    }
    super._deliverData(chunk);
  }

  /**
   * C++ lets go of the buffer it holds for the next read. If a read already
   * landed in it, its event is still queued behind the current one: its
   * bytes are copied now (the protocol may write over that memory before
   * the event is handled), and _onBuffered hands them over as data.
   */
  private _takeBackReadBuffer(): void {
    const stillArmed = this._native.setReadBuffer(this._id, null);
    this._readHeld = false;
    if (stillArmed || !this._readArmed) {
      this._readArmed = false;
      this._readBuffer = this._readBufferOwner = null;
    } else {
      this._readBuffer = Uint8Array.from(this._readBuffer!);
      this._readBufferOwner = null; // _onBuffered: not the protocol's buffer any more
    }
  }

  /** @internal */
  _onWritten(queued: number): void {
    this._queued = queued;
    this._maybeResumeProtocol();
  }


  /** @internal BatchWriter: the loop's batch was flushed. */
  _flushed(): void {
    if (this._protocolPaused) this._maybeResumeProtocol();
    else this._maybePauseProtocol(); // a big direct write may still sit in libuv
  }

  // -- Writing ---------------------------------------------------------------

  /**
   * Queue `data` for sending (strings as UTF-8); it goes out with the loop's
   * next flush (at the end of the current loop tick). Never blocks; watch
   * `pauseWriting()`/`resumeWriting()` (or `StreamWriter.drain()`). Writes
   * after `close()` are dropped (as asyncio); after `writeEof()` they throw.
   */
  write(data: Uint8Array | string): void {
    if (!this._acceptsWrite(data)) return;
    if (this._id < 0) {
      this._droppedWrites++;
      return;
    }
    this._io.write(this, data);
    // Past the high-water mark, hand the batch to the kernel before deciding
    // to pause: asyncio pauses only for what the kernel refused, and so do we.
    if (this._unflushed + this._queued > this._highWater) this._io.flush();
    this._maybePauseProtocol();
  }

  /** Flush, then send EOF (half-close); reading continues. */
  writeEof(): void {
    if (this._closing || this._eofWritten) return;
    this._eofWritten = true;
    this._io.flush(); // libuv's shutdown waits for queued writes, not for our batch
    this._native.shutdown(this._id);
  }

  /** Bytes not yet accepted by the kernel. */
  getWriteBufferSize(): number {
    // abort() drops the buffer at once (asyncio), though libuv has yet to close.
    return this._id < 0 || this._aborted ? 0 : this._unflushed + this._queued;
  }

  // -- Closing ---------------------------------------------------------------

  /** Stop reading, flush what is buffered, then close; `connectionLost(null)` follows. */
  close(): void {
    if (this._closing) return;
    this._closing = true;
    this._inbox.length = 0;
    if (this._id < 0) return;
    this._io.flush();
    this._native.closeStream(this._id, false);
  }

  /** Close at once, dropping buffered data; `connectionLost(null)` follows. */
  abort(): void {
    if (this._lostCalled) return;
    this._closing = this._aborted = true;
    this._inbox.length = 0;
    // asyncio's write() sends at once when nothing is buffered, so abort()
    // drops only what the kernel did not take: writes still in the batch
    // go to the kernel first (as on the default loop, whose writes reach
    // Node's socket at once).
    if (this._id >= 0 && this._unflushed > 0) this._io.flush();
    this._destroy();
  }

  /** @internal */
  _destroy(): void {
    if (this._id >= 0) this._native.closeStream(this._id, true);
  }

  // -- Reading ---------------------------------------------------------------

  /** No more `dataReceived` until `resumeReading()`; the kernel buffer then pushes back on the peer. */
  pauseReading(): void {
    if (this._closing || !this._reading) return;
    this._reading = false;
    this._native.readStop(this._id);
  }

  /** Deliver data again (what arrived meanwhile first). */
  resumeReading(): void {
    if (this._closing || this._reading) return;
    this._reading = true;
    this._native.readStart(this._id);
    if (this._inbox.length > 0 || this._peerGone) this._schedulePump();
  }

  /** @internal The 'socket' extra info: `{ fileno() }`, as asyncio's TransportSocket offers. */
  _socketInfo(): unknown {
    const native = this._native;
    const id = this._id;
    return id < 0 ? undefined : { fileno: () => native.fileno(id) };
  }
}

/** `[address, port, family]` from C++ as a SockAddr. */
export function sockAddr(a: [string, number, 'IPv4' | 'IPv6'] | null): SockAddr | undefined {
  return a === null ? undefined : { address: a[0], port: a[1], family: a[2] };
}
