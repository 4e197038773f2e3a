/**
 * A stream transport over a `node:net` socket (TCP or Unix), shared by both
 * loops until the native loop brings its own uv_tcp transports.
 *
 * Node delivers socket events from its own callbacks, outside any loop
 * iteration. Every protocol callback is therefore moved onto the loop: the
 * socket's events go to an inbox, and one "pump" scheduled with `callSoon`
 * delivers them in order (connectionMade, dataReceived..., eofReceived,
 * connectionLost). Running them inside an iteration is what makes
 * `getRunningLoop()`, `createTask()` and the exception handler work in
 * protocol code, as in asyncio. The inbox is also what makes
 * `pauseReading()` exact: data already read from the kernel but not yet
 * delivered stays in the inbox until `resumeReading()`.
 * @module
 */
import * as net from 'node:net';
import { describe, type EventLoop } from './events.js';
import { isBufferedProtocol, checkProtocol, reportProtocolError, startProtocol, type BaseProtocol, type BufferedProtocol, type Protocol, type ProtocolFactory } from './protocols.js';
import { WriteFlowControl, type SockAddr, type Transport } from './transports.js';

/** The inbox marker for the peer's EOF. */
const EOF = Symbol('eof');

/**
 * @internal What a transport tells the server that accepted it.
 * @example
 * ```ts
 * const owner: ConnectionOwner = { _detach: (t) => live.delete(t) };
 * ```
 */
export interface ConnectionOwner {
  _detach(transport: SocketTransport): void;
}

/**
 * @internal How the transport was made: for `getExtraInfo` of Unix sockets.
 * @example
 * ```ts
 * new SocketTransport(loop, socket, { unixPath: null, side: 'client' });
 * ```
 */
export interface SocketInfo {
  /** The socket path for Unix sockets, else null. */
  unixPath: string | null;
  /** Which end: a Unix server's accepted socket has an unnamed peer. */
  side: 'client' | 'server';
  /** The server that accepted the connection. */
  owner?: ConnectionOwner | null;
}

function sockAddr(address: string | undefined, port: number | undefined, family: string | undefined): SockAddr | undefined {
  if (address === undefined) return undefined;
  return { address, port: port ?? 0, family: family ?? (net.isIPv6(address) ? 'IPv6' : 'IPv4') };
}

/**
 * A Transport over a connected `net.Socket` (asyncio's
 * `_SelectorSocketTransport`). Made by `loop.createConnection()`,
 * `loop.createServer()` and their Unix variants; not constructed directly.
 *
 * Write-buffer accounting is `socket.writableLength`: Node counts a chunk
 * there until libuv reports it written (a write libuv completes at once is
 * subtracted before `write()` returns), so the size is exactly what the
 * kernel has not accepted yet.
 *
 * @example
 * ```ts
 * const [transport] = await loop.createConnection(() => ({}), '127.0.0.1', port);
 * transport.write('hello');
 * transport.close();
 * ```
 */
export class SocketTransport extends WriteFlowControl implements Transport {
  /** @internal */ _socket: net.Socket;
  /** @internal Null until the protocol factory ran on the loop. */
  _protocol: BaseProtocol | null = null;
  /** @internal close(), abort() or connection lost. */
  _closing = false;
  /** @internal */ _aborted = false;
  /** @internal writeEof() was called. */
  _eofWritten = false;
  /** @internal */ _reading = true;
  /** @internal */ _started = false;
  /** @internal Socket events not delivered yet. */
  _inbox: (Buffer | typeof EOF)[] = [];
  /** @internal */ _pumpScheduled = false;
  /** @internal The socket emitted 'close'. */
  _socketClosed = false;
  /** @internal The first socket error (ECONNRESET, EPIPE...). */
  _socketError: Error | null = null;
  /** @internal connectionLost was called. */
  _lostCalled = false;
  /** @internal */ _resumeScheduled = false;
  /** @internal Writes dropped after close (asyncio counts them too). */
  _droppedWrites = 0;
  /** @internal */ readonly _info: SocketInfo;
  /** @internal */ readonly _peername: SockAddr | string | undefined;
  /** @internal */ readonly _sockname: SockAddr | string | undefined;

  /** @internal Use the loop's createConnection/createServer. */
  constructor(loop: EventLoop, socket: net.Socket, info: SocketInfo) {
    super(loop);
    this._socket = socket;
    this._info = info;
    if (info.unixPath !== null) {
      this._peername = info.side === 'client' ? info.unixPath : '';
      this._sockname = info.side === 'server' ? info.unixPath : '';
    } else {
      this._peername = sockAddr(socket.remoteAddress, socket.remotePort, socket.remoteFamily);
      this._sockname = sockAddr(socket.localAddress, socket.localPort, socket.localFamily);
      // Small writes go out at once (asyncio sets TCP_NODELAY too).
      socket.setNoDelay(true);
    }
    // Listeners go on now, synchronously in Node's callback, so no 'error'
    // is ever unhandled; delivery waits for the loop.
    socket.on('data', (chunk: Buffer) => {
      if (this._lostCalled) return;
      this._inbox.push(chunk);
      this._schedulePump();
    });
    socket.on('end', () => {
      this._inbox.push(EOF);
      this._schedulePump();
    });
    socket.on('error', (err: Error) => {
      this._socketError ??= err;
    });
    socket.on('close', () => {
      this._socketClosed = true;
      this._schedulePump();
    });
  }

  /**
   * @internal Make the protocol and call connectionMade on the loop, then
   * `done(null)` (or `done(error)` when the factory or connectionMade threw).
   */
  _scheduleStart(factory: ProtocolFactory, done: (err: unknown) => void): void {
    if (this._loop.isClosed()) {
      this._socket.destroy();
      done(new Error('Event loop is closed'));
      return;
    }
    this._loop.callSoon(() => this._start(factory, done));
  }

  private _start(factory: ProtocolFactory, done: (err: unknown) => void): void {
    const started = startProtocol(this, this, factory, done, () => {
      this._closing = this._aborted = true;
      this._socket.destroy();
      this._lostCalled = true; // no protocol to tell
      this._info.owner?._detach(this);
    });
    if (started) this._pump();
  }

  private _schedulePump(): void {
    if (this._pumpScheduled || !this._started) return;
    if (this._loop.isClosed()) {
      // Nobody can ever handle this connection: release the socket.
      this._socket.destroy();
      return;
    }
    this._pumpScheduled = true;
    this._loop.callSoon(this._pumpFromLoop);
  }

  private readonly _pumpFromLoop = (): void => {
    this._pumpScheduled = false;
    this._pump();
  };

  /** Deliver what arrived, in order; connectionLost last. */
  private _pump(): void {
    if (this._lostCalled) return;
    const inbox = this._inbox;
    // After close()/abort() asyncio delivers no more data (the reader is removed).
    if (this._closing) inbox.length = 0;
    let i = 0;
    while (this._reading && !this._closing && i < inbox.length) {
      const item = inbox[i++]!;
      if (item === EOF) this._deliverEof();
      else this._deliverData(item);
      if (this._lostCalled) return;
    }
    if (this._closing) inbox.length = 0;
    else if (i > 0) inbox.splice(0, i);
    if (this._socketClosed && inbox.length === 0) this._connectionLost(this._socketError);
  }

  private _deliverData(chunk: Buffer): void {
    const protocol = this._protocol!;
    if (isBufferedProtocol(protocol)) {
      this._deliverBuffered(protocol, chunk);
      return;
    }
    try {
      (protocol as Protocol).dataReceived?.(chunk);
    } catch (exception) {
      this._protocolFailed('dataReceived', exception);
    }
  }

  /** BufferedProtocol: copy into the protocol's buffers until the chunk is used up. */
  private _deliverBuffered(protocol: BufferedProtocol, chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length && !this._closing) {
      let method = 'getBuffer';
      try {
        const buf = protocol.getBuffer(chunk.length - offset);
        if (!(buf instanceof Uint8Array)) throw new TypeError(`getBuffer() must return a Uint8Array, not ${describe(buf)}`);
        if (buf.length === 0) throw new RangeError('getBuffer() returned an empty buffer');
        const n = Math.min(buf.length, chunk.length - offset);
        buf.set(chunk.subarray(offset, offset + n));
        offset += n;
        method = 'bufferUpdated';
        protocol.bufferUpdated(n);
      } catch (exception) {
        this._protocolFailed(method, exception);
        return;
      }
    }
  }

  private _deliverEof(): void {
    let keepOpen: unknown;
    try {
      keepOpen = (this._protocol as Protocol).eofReceived?.();
    } catch (exception) {
      this._protocolFailed('eofReceived', exception);
      return;
    }
    // true keeps our write side open (half-close); else close like asyncio.
    if (keepOpen !== true) this.close();
  }

  private _connectionLost(err: Error | null): void {
    if (this._lostCalled) return;
    this._lostCalled = true;
    this._closing = true;
    const protocol = this._protocol;
    try {
      protocol?.connectionLost?.(err);
    } catch (exception) {
      this._loop.callExceptionHandler({
        message: 'Exception in protocol.connectionLost()',
        exception,
        transport: this,
        protocol,
      });
    } finally {
      this._info.owner?._detach(this);
    }
  }

  /** @internal A protocol callback threw: report it and abort only this transport. */
  _protocolFailed(method: string, exception: unknown): void {
    reportProtocolError(this._loop, this, this._protocol, method, exception);
    this.abort();
  }

  /** @internal */
  _getProtocolForFlow(): BaseProtocol {
    return this._protocol ?? {};
  }

  // -- Writing ---------------------------------------------------------------

  /**
   * Queue `data` for sending (strings as UTF-8). Never blocks; watch
   * `pauseWriting()`/`resumeWriting()` (or `StreamWriter.drain()`) to stay
   * within the water marks. Writes after `close()` are dropped (as asyncio);
   * after `writeEof()` they throw.
   */
  write(data: Uint8Array | string): void {
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      throw new TypeError(`data must be a Uint8Array or a string, not ${describe(data)}`);
    }
    if (this._eofWritten) throw new Error('Cannot call write() after writeEof()');
    if (data.length === 0) return;
    if (this._closing || this._socket.destroyed) {
      this._droppedWrites++;
      return;
    }
    // A copy of binary data: the caller may reuse its buffer at once, as asyncio allows.
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    this._socket.write(buf, this._onWritten);
    this._maybePauseProtocol();
  }

  /** A chunk reached the kernel: check, on the loop, whether the protocol may resume. */
  private readonly _onWritten = (err?: Error | null): void => {
    if (err || !this._protocolPaused || this._resumeScheduled || this._loop.isClosed()) return;
    this._resumeScheduled = true;
    this._loop.callSoon(() => {
      this._resumeScheduled = false;
      if (!this._lostCalled) this._maybeResumeProtocol();
    });
  };

  /** Write each item of `list`, in order. */
  writelines(list: Iterable<Uint8Array | string>): void {
    if (list === null || typeof (list as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
      throw new TypeError(`writelines() needs an iterable, not ${describe(list)}`);
    }
    for (const item of list) this.write(item);
  }

  /** Flush, then send EOF (half-close); reading continues. */
  writeEof(): void {
    if (this._closing || this._eofWritten) return;
    this._eofWritten = true;
    this._socket.end();
  }

  /** TCP and Unix sockets can half-close: always true. */
  canWriteEof(): boolean {
    return true;
  }

  /** Bytes not yet accepted by the kernel. */
  getWriteBufferSize(): number {
    const socket = this._socket;
    return socket.destroyed ? 0 : socket.writableLength;
  }

  // -- Closing ---------------------------------------------------------------

  /** Stop reading, flush what is buffered, then close; `connectionLost(null)` follows. */
  close(): void {
    if (this._closing) return;
    this._closing = true;
    this._inbox.length = 0;
    const socket = this._socket;
    if (socket.destroyed) return;
    socket.resume(); // let Node see the peer's close; data is dropped (closing)
    // end() flushes then sends FIN; with allowHalfOpen the socket would then
    // wait for the peer's FIN, so destroy it once flushed: a full close.
    if (!socket.writableEnded) socket.end();
    if (socket.writableFinished) socket.destroy();
    else socket.once('finish', () => socket.destroy());
  }

  /** Close at once, dropping buffered data; `connectionLost(null)` follows. */
  abort(): void {
    if (this._lostCalled) return;
    this._closing = this._aborted = true;
    this._inbox.length = 0;
    this._socket.destroy();
  }

  /** True once closing (close, abort, EOF handling or connection lost). */
  isClosing(): boolean {
    return this._closing;
  }

  // -- Reading ---------------------------------------------------------------

  /** No more `dataReceived` until `resumeReading()`; the kernel buffer then pushes back on the peer. */
  pauseReading(): void {
    if (this._closing || !this._reading) return;
    this._reading = false;
    this._socket.pause();
  }

  /** Deliver data again (what arrived meanwhile first). */
  resumeReading(): void {
    if (this._closing || this._reading) return;
    this._reading = true;
    this._socket.resume();
    if (this._inbox.length > 0 || this._socketClosed) this._schedulePump();
  }

  /** True unless paused or closing. */
  isReading(): boolean {
    return this._reading && !this._closing;
  }

  // -- Info ------------------------------------------------------------------

  /**
   * `peername` / `sockname` ({@link SockAddr}; the path for Unix sockets,
   * '' for an unnamed end), `socket` (the `net.Socket`); `dflt` otherwise.
   */
  getExtraInfo(name: string, dflt?: unknown): unknown {
    switch (name) {
      case 'peername':
        return this._peername ?? dflt;
      case 'sockname':
        return this._sockname ?? dflt;
      case 'socket':
        return this._socket;
      default:
        return dflt;
    }
  }

  /** The current protocol. */
  getProtocol(): BaseProtocol {
    return this._protocol!;
  }

  /** Switch protocols: later events go to `protocol`. */
  setProtocol(protocol: BaseProtocol): void {
    this._protocol = checkProtocol(protocol);
  }

  override toString(): string {
    const state = this._lostCalled ? 'closed' : this._closing ? 'closing' : 'open';
    return `<SocketTransport ${state}>`;
  }
}

// ---------------------------------------------------------------------------
// Argument checks shared with servers.ts.

/**
 * @internal TypeError unless a function.
 * @example
 * ```ts
 * checkFactory(factory, 'createServer');
 * ```
 */
export function checkFactory(factory: unknown, method: string): asserts factory is ProtocolFactory {
  if (typeof factory !== 'function') {
    throw new TypeError(`${method}() protocolFactory must be a function, not ${describe(factory)}`);
  }
}

/**
 * @internal TypeError unless an integer number, RangeError outside [min, 65535].
 * @example
 * ```ts
 * checkPort(port, 'createConnection', 1);
 * ```
 */
export function checkPort(port: unknown, method: string, min: number): asserts port is number {
  if (typeof port !== 'number') throw new TypeError(`${method}() port must be a number, not ${describe(port)}`);
  if (!Number.isInteger(port) || port < min || port > 65535) {
    throw new RangeError(`${method}() port must be an integer in [${min}, 65535], not ${port}`);
  }
}

/**
 * @internal TypeError unless a non-empty string.
 * @example
 * ```ts
 * checkString(path, 'createUnixServer() path');
 * ```
 */
export function checkString(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string, not ${describe(value)}`);
  if (value === '') throw new TypeError(`${what} must not be empty`);
}

/**
 * @internal TypeError unless undefined or an object.
 * @example
 * ```ts
 * checkOptions(opts, 'createServer');
 * ```
 */
export function checkOptions(opts: unknown, method: string): void {
  if (opts !== undefined && (typeof opts !== 'object' || opts === null)) {
    throw new TypeError(`${method}() options must be an object, not ${describe(opts)}`);
  }
}

/**
 * Options of `loop.createConnection()`.
 *
 * @example
 * ```ts
 * await loop.createConnection(factory, '127.0.0.1', 80, { localAddr: ['127.0.0.1', 0] });
 * ```
 */
export interface ConnectionOptions {
  /** Bind the local end to `[host, port]` first. */
  localAddr?: [string, number];
}

function connect<P extends BaseProtocol>(
  loop: EventLoop,
  factory: ProtocolFactory<P>,
  options: net.NetConnectOpts,
  unixPath: string | null,
): Promise<[Transport, P]> {
  if (loop.isClosed()) throw new Error('Event loop is closed');
  return new Promise((resolve, reject) => {
    const socket = net.connect({ ...options, allowHalfOpen: true });
    const onError = (err: Error) => {
      socket.destroy();
      reject(err); // Node's error, with its `code` (ECONNREFUSED, ENOTFOUND...)
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.removeListener('error', onError);
      const transport = new SocketTransport(loop, socket, { unixPath, side: 'client' });
      transport._scheduleStart(factory, (err) => {
        if (err !== null) reject(err);
        else resolve([transport, transport._protocol as P]);
      });
    });
  });
}

/**
 * @internal `loop.createConnection()`: connect to `host:port`, make the
 * protocol and call its connectionMade on the loop, then resolve.
 * @example
 * ```ts
 * const [transport, protocol] = await createConnection(loop, () => new Client(), '127.0.0.1', 8888);
 * ```
 */
export function createConnection<P extends BaseProtocol>(
  loop: EventLoop,
  factory: ProtocolFactory<P>,
  host: string,
  port: number,
  opts?: ConnectionOptions,
): Promise<[Transport, P]> {
  checkFactory(factory, 'createConnection');
  checkString(host, 'createConnection() host');
  checkPort(port, 'createConnection', 1);
  checkOptions(opts, 'createConnection');
  const options: net.TcpNetConnectOpts = { host, port, noDelay: true };
  if (opts?.localAddr !== undefined) {
    const la = opts.localAddr;
    if (!Array.isArray(la) || la.length !== 2) {
      throw new TypeError(`createConnection() localAddr must be [host, port], not ${describe(la)}`);
    }
    checkString(la[0], 'createConnection() localAddr host');
    checkPort(la[1], 'createConnection', 0);
    options.localAddress = la[0];
    if (la[1] !== 0) options.localPort = la[1];
  }
  return connect(loop, factory, options, null);
}

/**
 * @internal `loop.createUnixConnection()`.
 * @example
 * ```ts
 * const [transport] = await createUnixConnection(loop, () => new Client(), '/tmp/app.sock');
 * ```
 */
export function createUnixConnection<P extends BaseProtocol>(
  loop: EventLoop,
  factory: ProtocolFactory<P>,
  path: string,
): Promise<[Transport, P]> {
  checkFactory(factory, 'createUnixConnection');
  checkString(path, 'createUnixConnection() path');
  return connect(loop, factory, { path }, path);
}
