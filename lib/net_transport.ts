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
import * as dns from 'node:dns';
import * as net from 'node:net';
import { markAsUntransferable } from 'node:worker_threads';
import { describe, type EventLoop } from './events.js';
import type { BaseProtocol, ProtocolFactory } from './protocols.js';
import type { SockAddr, Transport } from './transports.js';
import { BaseStreamTransport, EOF, type ConnectionOwner } from './stream_transport.js';
// The global Buffer is an accessor property (read through an IC call in optimized code); the import is a constant.
import { Buffer } from 'node:buffer';

export type { ConnectionOwner } from './stream_transport.js';

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
  /** Where the socket's reads go when it was made with Node's `onread` option; else null ('data' events). */
  reads?: ReadRoute | null;
}

/** Copies of written data are cut from slabs of this size... */
const COPY_SLAB = 256 * 1024;
/** ...unless bigger than this: those get a Buffer of their own. */
const COPY_SLAB_MAX = 64 * 1024;
/**
 * The current slab's memory (uninitialized: allocUnsafeSlow), where copies
 * are cut as `Buffer.from(memory, offset, n)`, which costs less than
 * `slab.subarray()` (see lib/loops/native/io.ts), and how much is cut.
 */
let copySlabMemory: ArrayBuffer;
let copySlabBase: number;
let copySlabUsed: number;
/** The last copy cut from the slab, and where it starts. */
let lastCopy: Buffer | null = null;
let lastCopyStart = 0;
newCopySlab();

function newCopySlab(): void {
  const slab = Buffer.allocUnsafeSlow(COPY_SLAB);
  // Protocols get views of it (read chunks): transferring a chunk's
  // `.buffer` to a worker would detach the slab under every later copy.
  markAsUntransferable(slab.buffer);
  copySlabMemory = slab.buffer as ArrayBuffer;
  copySlabBase = slab.byteOffset;
  copySlabUsed = 0;
}

/**
 * A copy of `data` in slab memory: a write's copy, which Node may hold until
 * the kernel takes it, or a read's bytes, which a protocol may keep. Cut from a
 * shared slab rather than one Buffer per write: a fresh Buffer per 10 KiB
 * write cost the default loop's echo server about 15% of its speed
 * (bench/echo: 0.78x -> 0.90x of node:net at 10 KiB). A slab lives as long
 * as a write still holds a piece of it.
 *
 * @example
 * ```ts
 * const copy = copyToSlab(data);
 * socket.write(copy);
 * if (socket.writableLength === 0) takeBackCopy(copy); // the kernel has it all
 * ```
 */
function copyToSlab(data: Uint8Array): Buffer {
  const n = data.length;
  if (n > COPY_SLAB_MAX) return Buffer.from(data);
  if (COPY_SLAB - copySlabUsed < n) newCopySlab();
  const copy = Buffer.from(copySlabMemory, copySlabBase + copySlabUsed, n);
  copy.set(data);
  lastCopy = copy;
  lastCopyStart = copySlabUsed;
  copySlabUsed = (copySlabUsed + n + 7) & ~7; // 8-byte aligned pieces
  return copy;
}

/**
 * The last copy went to the kernel before `socket.write()` returned (Node
 * wrote it synchronously and keeps no reference): its piece of the slab is
 * cut again by the next copy. So while writes keep up, copies land in the
 * same few cache-warm KiB instead of walking through fresh slab memory.
 */
function takeBackCopy(copy: Buffer): void {
  // Only the last piece cut can be cut again.
  if (copy === lastCopy) copySlabUsed = lastCopyStart;
  lastCopy = null;
}

/**
 * Every socket read through `onread` lands here, one read at a time (the
 * read's callback copies it out before Node reads again), so its memory
 * stays hot. With 'data' events Node allocates 64 KiB for every read, then
 * copies the bytes into a zero-filled Buffer of their exact size: the
 * default loop's 10 KiB echo read 51-72k req/s in three of six server
 * starts after 1 KiB traffic that way (cold heap memory; node:net:
 * 90-120k), and 84-128k in every start through `onread`.
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);
markAsUntransferable(READ_BUFFER.buffer);

/**
 * @internal Where a socket's reads go (Node's `onread` option): its
 * transport, once made; reads before that wait here.
 *
 * @example
 * ```ts
 * const reads = new ReadRoute();
 * const socket = net.connect({ port, onread: reads.options });
 * new SocketTransport(loop, socket, { unixPath: null, side: 'client', reads });
 * ```
 */
export class ReadRoute {
  private _transport: SocketTransport | null = null;
  private _early: Buffer[] = [];
  readonly options: net.OnReadOpts = {
    buffer: READ_BUFFER,
    callback: (nread: number, buf: Uint8Array): boolean => {
      // The bytes are copied out at once: READ_BUFFER takes the next read.
      const chunk = copyToSlab(nread === buf.length ? buf : buf.subarray(0, nread));
      const transport = this._transport;
      if (transport !== null) transport._onChunk(chunk);
      else this._early.push(chunk);
      return true;
    },
  };

  /** Deliver to `transport` from now on (and what came before it). */
  attach(transport: SocketTransport): void {
    this._transport = transport;
    const early = this._early;
    this._early = [];
    for (const chunk of early) transport._onChunk(chunk);
  }
}

/**
 * @internal A socket a server accepted (paused: `pauseOnConnect`) made
 * again around the same libuv handle with Node's `onread` option, which
 * `net.Server` cannot give its connections; `reads` is null where this
 * Node's internals are not as expected, and the socket then reads through
 * 'data' events, resumed.
 *
 * @example
 * ```ts
 * const { socket, reads } = readingThroughRoute(accepted);
 * new SocketTransport(loop, socket, { unixPath: null, side: 'server', reads });
 * ```
 */
export function readingThroughRoute(accepted: net.Socket): { socket: net.Socket; reads: ReadRoute | null } {
  const shell = accepted as net.Socket & { _handle?: { useUserBuffer?: unknown; readStart?: unknown } | null };
  const handle = shell._handle;
  if (handle == null || typeof handle.useUserBuffer !== 'function' || typeof handle.readStart !== 'function' || accepted.destroyed) {
    accepted.resume();
    return { socket: accepted, reads: null };
  }
  const reads = new ReadRoute();
  let socket: net.Socket;
  try {
    socket = new net.Socket({ handle, allowHalfOpen: true, readable: true, writable: true, onread: reads.options } as net.SocketConstructorOpts);
  } catch {
    // A Node whose Socket refuses the handle: the accepted socket keeps it.
    accepted.resume();
    return { socket: accepted, reads: null };
  }
  // The new socket owns the handle; the old one is destroyed without it
  // (its server's connection count drops, its handle stays open).
  shell._handle = null;
  accepted.destroy();
  return { socket, reads };
}

/** A loop that can run I/O callbacks from Node's callbacks (DrivenLoop._runIo, lib/loops/driver.ts). */
interface IoLoop {
  _runIo<A>(fn: (arg: A) => void, arg: A): boolean;
}

function sockAddr(address: string | undefined, port: number | undefined, family: string | undefined): SockAddr | undefined {
  if (address === undefined) return undefined;
  return { address, port: port ?? 0, family: family ?? (net.isIPv6(address) ? 'IPv6' : 'IPv4') };
}

/**
 * A Transport over a connected `net.Socket` (asyncio's
 * `_SelectorSocketTransport`), the default loop's. Made by
 * `loop.createConnection()`, `loop.createServer()` and their Unix variants;
 * not constructed directly.
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
export class SocketTransport extends BaseStreamTransport {
  /** @internal */ _socket: net.Socket;
  /** @internal */ _resumeScheduled = false;
  private readonly _deliverNow = (chunk: Buffer): void => this._deliverData(chunk);

  /** @internal Use the loop's createConnection/createServer. */
  constructor(loop: EventLoop, socket: net.Socket, info: SocketInfo) {
    super(loop);
    this._socket = socket;
    this._owner = info.owner ?? null;
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
    // is ever unhandled; delivery waits for the loop (the pump).
    if (info.reads) info.reads.attach(this);
    else socket.on('data', (chunk: Buffer) => this._onChunk(chunk));
    socket.on('end', () => {
      this._inbox.push(EOF);
      this._schedulePump();
    });
    socket.on('error', (err: Error) => {
      this._lostError ??= err;
    });
    socket.on('close', () => {
      this._peerGone = true;
      this._schedulePump();
    });
  }

  /** @internal Bytes read (a 'data' event, or a read through a ReadRoute). */
  _onChunk(chunk: Buffer): void {
    if (this._lostCalled) return;
    // Nothing waits before it: deliver at once, on the loop (see _runIo).
    if (this._inbox.length === 0 && this._started && this._reading && !this._closing && !this._pumpScheduled) {
      const loop = this._loop as Partial<IoLoop>;
      if (loop._runIo !== undefined && loop._runIo(this._deliverNow, chunk)) return;
    }
    this._inbox.push(chunk);
    this._schedulePump();
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

  /** @internal */
  _destroy(): void {
    this._socket.destroy();
  }

  /** @internal The `net.Socket`. */
  _socketInfo(): unknown {
    return this._socket;
  }

  // -- Writing ---------------------------------------------------------------

  /**
   * Queue `data` for sending (strings as UTF-8). Never blocks; watch
   * `pauseWriting()`/`resumeWriting()` (or `StreamWriter.drain()`) to stay
   * within the water marks. Writes after `close()` are dropped (as asyncio);
   * after `writeEof()` they throw.
   */
  write(data: Uint8Array | string): void {
    if (!this._acceptsWrite(data)) return;
    if (this._socket.destroyed) {
      this._droppedWrites++;
      return;
    }
    // A copy: the caller may reuse its buffer at once, as asyncio allows.
    // Strings are encoded here, not by Node, so that writableLength (the
    // write buffer size) counts bytes, not UTF-16 units.
    const socket = this._socket;
    if (typeof data === 'string') {
      socket.write(Buffer.from(data, 'utf8'), this._onWritten);
    } else {
      const copy = copyToSlab(data);
      socket.write(copy, this._onWritten);
      // Nothing left in Node's buffer: the kernel took all of it, this copy included.
      if (socket.writableLength === 0) takeBackCopy(copy);
    }
    this._maybePauseProtocol();
  }

  /** A chunk reached the kernel: check, on the loop, whether the protocol may resume. */
  private readonly _onWritten = (err?: Error | null): void => {
    if (err || !this._protocolPaused || this._resumeScheduled || this._loop.isClosed()) return;
    this._resumeScheduled = true;
    this._loop.callSoon(() => {
      this._resumeScheduled = false;
      // After abort() the buffer is gone, not drained: no resumeWriting (asyncio).
      if (!this._lostCalled && !this._aborted) this._maybeResumeProtocol();
    });
  };

  /** Flush, then send EOF (half-close); reading continues. */
  writeEof(): void {
    if (this._closing || this._eofWritten) return;
    this._eofWritten = true;
    this._socket.end();
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
    if (this._inbox.length > 0 || this._peerGone) this._schedulePump();
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

/** The most bytes of a Unix socket path (sun_path holds 108, with the trailing NUL). */
const UNIX_PATH_MAX = 107;

/**
 * @internal A Unix socket path both loops accept: a non-empty string of at
 * most UNIX_PATH_MAX bytes, without NUL bytes except a leading one (a name
 * in Linux's abstract namespace, as asyncio and Node take it). A longer
 * path is a RangeError rather than the silent truncation Node and libuv's
 * uv_pipe_bind apply (which listens on, or connects to, another path).
 * @example
 * ```ts
 * checkUnixPath(path, 'createUnixServer() path');
 * ```
 */
export function checkUnixPath(value: unknown, what: string): asserts value is string {
  checkString(value, what);
  if (value.indexOf('\0', 1) !== -1) throw new TypeError(`${what} must not contain NUL bytes (but a leading one, for the abstract namespace)`);
  const bytes = Buffer.byteLength(value);
  if (bytes > UNIX_PATH_MAX) throw new RangeError(`${what} is ${bytes} bytes long; a Unix socket path holds at most ${UNIX_PATH_MAX}`);
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
    const reads = new ReadRoute();
    const socket = net.connect({ ...options, allowHalfOpen: true, onread: reads.options });
    const onError = (err: Error) => {
      socket.destroy();
      reject(err); // Node's error, with its `code` (ECONNREFUSED, ENOTFOUND...)
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.removeListener('error', onError);
      const transport = new SocketTransport(loop, socket, { unixPath, side: 'client', reads });
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
  const localAddr = checkConnectionArgs(factory, host, port, opts);
  if (loop.isClosed()) throw new Error('Event loop is closed');
  const options: net.TcpNetConnectOpts = { host, port, noDelay: true };
  if (localAddr === undefined) return connect(loop, factory, options, null);
  if (localAddr[1] !== 0) options.localPort = localAddr[1];
  // Node takes only an IP address here; asyncio (and the native loop) resolve a name.
  return resolveHost(localAddr[0]).then((address) => {
    options.localAddress = address;
    return connect(loop, factory, options, null);
  });
}

/**
 * @internal `host` as an IP address: itself, or the first address the
 * system resolver gives for the name.
 * @example
 * ```ts
 * const address = await resolveHost('localhost'); // '127.0.0.1'
 * ```
 */
export async function resolveHost(host: string): Promise<string> {
  if (net.isIP(host) !== 0) return host;
  const { address } = await dns.promises.lookup(host);
  return address;
}

/**
 * @internal The argument checks of `loop.createConnection()` (both loops);
 * returns the checked `localAddr`.
 * @example
 * ```ts
 * const localAddr = checkConnectionArgs(factory, host, port, opts);
 * ```
 */
export function checkConnectionArgs(
  factory: unknown,
  host: unknown,
  port: unknown,
  opts: ConnectionOptions | undefined,
): [string, number] | undefined {
  checkFactory(factory, 'createConnection');
  checkString(host, 'createConnection() host');
  checkPort(port, 'createConnection', 1);
  checkOptions(opts, 'createConnection');
  if (opts?.localAddr === undefined) return undefined;
  const la = opts.localAddr;
  if (!Array.isArray(la) || la.length !== 2) {
    throw new TypeError(`createConnection() localAddr must be [host, port], not ${describe(la)}`);
  }
  checkString(la[0], 'createConnection() localAddr host');
  checkPort(la[1], 'createConnection', 0);
  return la;
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
  checkUnixPath(path, 'createUnixConnection() path');
  return connect(loop, factory, { path }, path);
}
