/**
 * Pipe transports (asyncio's `connect_read_pipe` / `connect_write_pipe`)
 * over a Node stream or a file descriptor (wrapped in a `net.Socket`, or an
 * fs stream when the fd is not a pipe/socket), shared by both loops.
 * Events reach the protocol on the loop through an inbox and `callSoon`, as
 * in net_transport.ts; a protocol callback that throws goes to the exception
 * handler and aborts only this transport.
 * @module
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { describe, type EventLoop } from './events.js';
import { callConnectionLost, checkProtocol, startProtocol, type BaseProtocol, type Protocol, type ProtocolFactory } from './protocols.js';
import { ProtocolTransport, type ReadTransport, type WriteTransport } from './transports.js';
import { checkFactory } from './net_transport.js';

const EOF = Symbol('eof');

function checkPipe(pipe: unknown, method: string, want: 'readable' | 'writable'): void {
  if (typeof pipe === 'number') {
    if (!Number.isInteger(pipe) || pipe < 0) throw new RangeError(`${method}() fd must be an integer >= 0, not ${pipe}`);
    return;
  }
  const ok =
    typeof pipe === 'object' &&
    pipe !== null &&
    (want === 'readable' ? typeof (pipe as Readable).on === 'function' && typeof (pipe as Readable).pause === 'function' : typeof (pipe as Writable).write === 'function');
  if (!ok) throw new TypeError(`${method}() pipe must be a file descriptor or a ${want} Node stream, not ${describe(pipe)}`);
}

function openFd(fd: number, want: 'readable' | 'writable'): Readable | Writable {
  try {
    return new net.Socket({ fd, readable: want === 'readable', writable: want === 'writable' });
  } catch {
    // Not a pipe, socket or tty (a regular file): fs streams read/write it.
    return want === 'readable' ? fs.createReadStream('', { fd, autoClose: true }) : fs.createWriteStream('', { fd, autoClose: true });
  }
}

/** Shared protocol bookkeeping of both pipe transports. */
abstract class PipeBase extends ProtocolTransport<BaseProtocol> {
  /** @internal */ _closing = false;
  /** @internal */ _started = false;
  /** @internal */ _lostCalled = false;
  /** @internal */ _pumpScheduled = false;

  /** @internal */
  abstract _pump(): void;

  /** @internal */
  _schedulePump(): void {
    if (this._pumpScheduled || !this._started || this._lostCalled || this._loop.isClosed()) return;
    this._pumpScheduled = true;
    this._loop.callSoon(() => {
      this._pumpScheduled = false;
      this._pump();
    });
  }

  /** @internal */
  _start(factory: ProtocolFactory, done: (err: unknown) => void): void {
    const started = startProtocol(this, this, factory, done, () => {
      this._lostCalled = true;
      this.abort();
    });
    if (started) this._pump();
  }

  /** @internal */
  _connectionLost(err: Error | null): void {
    if (this._lostCalled) return;
    this._lostCalled = this._closing = true;
    callConnectionLost(this._loop, this, this._protocol, err);
  }

  /** True once closing. */
  isClosing(): boolean {
    return this._closing;
  }

  /** The current protocol. */
  getProtocol(): BaseProtocol {
    return this._protocol!;
  }

  /** Switch protocols. */
  setProtocol(protocol: BaseProtocol): void {
    this._protocol = checkProtocol(protocol);
  }
}

/**
 * The read end of a pipe (`loop.connectReadPipe()`): `dataReceived`, then
 * `eofReceived` and `connectionLost(null)` at EOF (a read pipe closes at EOF).
 *
 * @example
 * ```ts
 * const [t, p] = await loop.connectReadPipe(() => new Collector(), child.stdout!);
 * ```
 */
export class PipeReadTransport extends PipeBase implements ReadTransport {
  /** @internal */ _inbox: (Buffer | typeof EOF)[] = [];
  /** @internal */ _reading = true;
  /** @internal */ _streamClosed = false;

  /** @internal Use loop.connectReadPipe(). */
  constructor(
    loop: EventLoop,
    /** @internal */ readonly _stream: Readable,
  ) {
    super(loop);
    _stream.on('data', (chunk: Buffer | string) => {
      this._inbox.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      this._schedulePump();
    });
    _stream.on('end', () => {
      this._inbox.push(EOF);
      this._schedulePump();
    });
    _stream.on('error', (err: Error) => (this._lostError ??= err));
    _stream.on('close', () => {
      this._streamClosed = true;
      this._schedulePump();
    });
  }

  /** @internal */
  _pump(): void {
    if (this._lostCalled) return;
    const inbox = this._inbox;
    let i = 0;
    while (this._reading && !this._closing && i < inbox.length) {
      const item = inbox[i++]!;
      const protocol = this._protocol as Protocol;
      const method = item === EOF ? 'eofReceived' : 'dataReceived';
      try {
        if (item === EOF) protocol.eofReceived?.();
        else protocol.dataReceived?.(item);
      } catch (exception) {
        this._protocolFailed(method, exception);
        return;
      }
    }
    if (this._closing) inbox.length = 0;
    else inbox.splice(0, i);
    if (this._streamClosed && inbox.length === 0) this._connectionLost(this._lostError);
  }

  /** No more `dataReceived` until `resumeReading()`. */
  pauseReading(): void {
    if (this._closing || !this._reading) return;
    this._reading = false;
    this._stream.pause();
  }

  /** Deliver data again. */
  resumeReading(): void {
    if (this._closing || this._reading) return;
    this._reading = true;
    this._stream.resume();
    this._schedulePump();
  }

  /** True unless paused or closing. */
  isReading(): boolean {
    return this._reading && !this._closing;
  }

  /** Close the pipe; `connectionLost(null)` follows. */
  close(): void {
    if (this._closing) return;
    this._closing = true;
    this._inbox.length = 0;
    this._stream.destroy();
    if (this._stream.closed) {
      this._streamClosed = true;
      this._schedulePump();
    }
  }

  /** As close(). */
  abort(): void {
    this.close();
  }

  /** Read pipes buffer nothing for writing: 0. */
  getWriteBufferSize(): number {
    return 0;
  }

  /** `pipe` (the Node stream); `dflt` otherwise. */
  getExtraInfo(name: string, dflt?: unknown): unknown {
    return name === 'pipe' ? this._stream : dflt;
  }
}

/**
 * The write end of a pipe (`loop.connectWritePipe()`), with write flow
 * control (`pauseWriting`/`resumeWriting` on the protocol). `connectionLost`
 * comes after `close()`/`abort()`, or with the error when the reader went away.
 *
 * @example
 * ```ts
 * const [t] = await loop.connectWritePipe(() => ({}), child.stdin!);
 * t.write('data\n');
 * t.close();
 * ```
 */
export class PipeWriteTransport extends PipeBase implements WriteTransport {
  /** @internal */ _streamClosed = false;
  /** @internal */ _droppedWrites = 0;

  /** @internal Use loop.connectWritePipe(). */
  constructor(
    loop: EventLoop,
    /** @internal */ readonly _stream: Writable,
  ) {
    super(loop);
    _stream.on('error', (err: Error) => (this._lostError ??= err));
    _stream.on('close', () => {
      this._streamClosed = true;
      this._schedulePump();
    });
  }

  /** @internal */
  _pump(): void {
    if (this._streamClosed) this._connectionLost(this._lostError);
  }

  /** Queue bytes (strings as UTF-8); dropped after close (as asyncio). */
  write(data: Uint8Array | string): void {
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      throw new TypeError(`data must be a Uint8Array or a string, not ${describe(data)}`);
    }
    if (data.length === 0) return;
    if (this._closing || this._stream.destroyed) {
      this._droppedWrites++;
      return;
    }
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    this._stream.write(buf, (err?: Error | null) => {
      if (err || !this._protocolPaused || this._loop.isClosed()) return;
      this._loop.callSoon(() => this._maybeResumeProtocol());
    });
    this._maybePauseProtocol();
  }

  /** Write each item. */
  writelines(list: Iterable<Uint8Array | string>): void {
    for (const item of list) this.write(item);
  }

  /** Close after what is buffered (the reader sees EOF). */
  writeEof(): void {
    this.close();
  }

  /** True. */
  canWriteEof(): boolean {
    return true;
  }

  /** Flush, then close; `connectionLost(null)` follows. */
  close(): void {
    if (this._closing) return;
    this._closing = true;
    if (!this._stream.destroyed) this._stream.end(() => this._stream.destroy());
  }

  /** Close at once, dropping buffered data. */
  abort(): void {
    this._closing = true;
    this._stream.destroy();
  }

  /** Bytes not yet taken by the pipe. */
  getWriteBufferSize(): number {
    return this._stream.destroyed ? 0 : this._stream.writableLength;
  }

  /** `pipe` (the Node stream); `dflt` otherwise. */
  getExtraInfo(name: string, dflt?: unknown): unknown {
    return name === 'pipe' ? this._stream : dflt;
  }
}

function connect<T extends PipeBase, P extends BaseProtocol>(loop: EventLoop, transport: T, factory: ProtocolFactory<P>): Promise<[T, P]> {
  return new Promise((resolve, reject) => {
    loop.callSoon(() =>
      transport._start(factory, (err) => {
        if (err !== null) reject(err);
        else resolve([transport, transport._protocol as P]);
      }),
    );
  });
}

/**
 * @internal `loop.connectReadPipe()`.
 * @example
 * ```ts
 * const [t, p] = await connectReadPipe(loop, () => new Collector(), child.stdout!);
 * ```
 */
export function connectReadPipe<P extends BaseProtocol>(loop: EventLoop, factory: ProtocolFactory<P>, pipe: number | Readable): Promise<[ReadTransport, P]> {
  checkFactory(factory, 'connectReadPipe');
  checkPipe(pipe, 'connectReadPipe', 'readable');
  if (loop.isClosed()) throw new Error('Event loop is closed');
  const stream = typeof pipe === 'number' ? (openFd(pipe, 'readable') as Readable) : pipe;
  return connect(loop, new PipeReadTransport(loop, stream), factory);
}

/**
 * @internal `loop.connectWritePipe()`.
 * @example
 * ```ts
 * const [t] = await connectWritePipe(loop, () => ({}), child.stdin!);
 * ```
 */
export function connectWritePipe<P extends BaseProtocol>(loop: EventLoop, factory: ProtocolFactory<P>, pipe: number | Writable): Promise<[WriteTransport, P]> {
  checkFactory(factory, 'connectWritePipe');
  checkPipe(pipe, 'connectWritePipe', 'writable');
  if (loop.isClosed()) throw new Error('Event loop is closed');
  const stream = typeof pipe === 'number' ? (openFd(pipe, 'writable') as Writable) : pipe;
  return connect(loop, new PipeWriteTransport(loop, stream), factory);
}
