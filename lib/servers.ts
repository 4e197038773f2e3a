/**
 * Servers (asyncio's `Server` of `base_events.py`): a listening socket whose
 * connections become transports with a protocol from the factory. The
 * listening itself is a {@link Listener}: a `net.Server` here (the default
 * loop), a libuv handle on the native loop (lib/loops/native/tcp.ts).
 *
 * The server counts its live connections itself (attached when accepted,
 * detached after their connectionLost ran) so `waitClosed()` resolves after
 * `close()` AND the last connection ended, as in asyncio 3.12+.
 * @module
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { _getRunningLoop, describe, type EventLoop } from './events.js';
import { Flag, Future, FutureHooks, State } from './futures.js';
import type { CancelledError } from './errors.js';
import { SocketTransport, checkFactory, checkOptions, checkPort, checkString, checkUnixPath, readingThroughRoute } from './net_transport.js';
import type { BaseStreamTransport, ConnectionOwner } from './stream_transport.js';
import type { BaseProtocol, ProtocolFactory } from './protocols.js';
import type { SockAddr } from './transports.js';

/** `_flags` of serveForever()'s Future: cancelled, waiting for the connections to end. */
const CLOSING = Flag.FIRST_KIND_BIT;

/**
 * serveForever()'s Future (`_owner`: the Server): a cancel closes the
 * server and completes once its connections have ended, as asyncio's
 * serve_forever() awaits wait_closed() before it re-raises.
 */
const SERVING_FOREVER = new FutureHooks({
  cancel: (fut: Future<any>, reason: string | CancelledError | undefined): boolean => {
    if (fut._state !== State.PENDING) return false;
    const server = fut._owner as Server;
    if (server._serveForeverFut === fut) server._serveForeverFut = null;
    if (fut._flags & CLOSING) return fut._markCancelled(reason); // a second cancel: stop waiting
    fut._flags |= CLOSING;
    server.close();
    server.waitClosed().addDoneCallback(() => fut._markCancelled(reason));
    return true;
  },
});

/**
 * Options of `loop.createServer()` / `loop.createUnixServer()`.
 *
 * @example
 * ```ts
 * await loop.createServer(factory, '127.0.0.1', 0, { backlog: 1024 });
 * ```
 */
export interface ServerOptions {
  /** Listen queue length (default 511, Node's default). */
  backlog?: number;
  /** SO_REUSEPORT (TCP only). Needs Node >= 22.12 / 23.1: an Error on older Node. */
  reusePort?: boolean;
}

/**
 * True when this Node can set SO_REUSEPORT on a listening socket
 * (`server.listen({ reusePort })`, Node 22.12+ and 23.1+).
 *
 * @example
 * ```ts
 * const opts = nodeSupportsReusePort() ? { reusePort: true } : {};
 * ```
 */
export function nodeSupportsReusePort(): boolean {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/**
 * @internal How a Server listens: stop, and say where.
 * @example
 * ```ts
 * const listener: Listener = { close: () => netServer.close(), addresses: () => [] };
 * ```
 */
export interface Listener {
  /** Stop accepting (idempotent). */
  close(): void;
  /** Where it listens (empty once closed). */
  addresses(): (SockAddr | string)[];
}

/**
 * A listening server. Made by `loop.createServer()`, `loop.createUnixServer()`,
 * `startServer()` and `startUnixServer()`; it accepts connections at once.
 *
 * @example
 * ```ts
 * const server = await loop.createServer(() => new Echo(), '127.0.0.1', 0);
 * const [{ port }] = server.addresses() as SockAddr[];
 * // ...
 * server.close();
 * await server.waitClosed();
 * ```
 */
export class Server implements ConnectionOwner {
  /** @internal */ readonly _loop: EventLoop;
  /** @internal Set by whoever made the server, once it listens. */
  _listener: Listener | null = null;
  /** @internal */ readonly _factory: ProtocolFactory;
  /** @internal */ _serving = false;
  /** @internal */ _closed = false;
  /** @internal Live connections (accepted, connectionLost not yet run). */
  _transports = new Set<BaseStreamTransport>();
  /** @internal waitClosed() Futures. */
  _waiters: Future<void>[] = [];
  /** @internal The Future of serveForever(), while it waits. */
  _serveForeverFut: Future<void> | null = null;

  /** @internal Use the loop's createServer. */
  constructor(loop: EventLoop, factory: ProtocolFactory) {
    this._loop = loop;
    this._factory = factory;
  }

  /** @internal The listener is up: the server serves. */
  _listening(listener: Listener): this {
    this._listener = listener;
    this._serving = true;
    return this;
  }

  /** @internal True when a new connection must be refused (closed server or loop). */
  _refuses(): boolean {
    return this._closed || this._loop.isClosed();
  }

  /**
   * @internal A connection was accepted (on the loop, or from a Node
   * callback: `start` says how the protocol gets started).
   */
  _attach(transport: BaseStreamTransport, start: (done: (err: unknown) => void) => void): void {
    transport._owner = this;
    this._transports.add(transport);
    start((err) => {
      if (err !== null && transport._protocol === null) {
        // The factory threw: the connection is closed, nothing else can tell.
        this._loop.callExceptionHandler({ message: 'Protocol factory failed', exception: err, transport, server: this });
      }
    });
  }

  /** @internal Accepting failed (EMFILE...): reported, not fatal. */
  _acceptFailed(exception: Error): void {
    if (!this._loop.isClosed()) this._loop.callExceptionHandler({ message: 'Server error', exception, server: this });
  }

  /** @internal A connection ended (after its connectionLost). */
  _detach(transport: BaseStreamTransport): void {
    if (this._transports.delete(transport)) this._wakeup();
  }

  private _wakeup(): void {
    if (!this._closed || this._transports.size > 0) return;
    const waiters = this._waiters;
    this._waiters = [];
    for (const w of waiters) if (!w.done()) w.setResult(undefined);
  }

  /** The loop the server runs on. */
  getLoop(): EventLoop {
    return this._loop;
  }

  /** True while accepting connections. */
  isServing(): boolean {
    return this._serving;
  }

  /**
   * Stop listening. Connections already accepted go on (use
   * `closeClients()`/`abortClients()` to end them); a pending
   * `serveForever()` is cancelled.
   */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    this._serving = false;
    this._listener?.close();
    this._serveForeverFut?.cancel();
    this._wakeup();
  }

  /**
   * A Future that resolves once the server is closed AND all its
   * connections have ended (asyncio 3.12+). Waiting before `close()` waits
   * for the close.
   */
  waitClosed(): Future<void> {
    const fut = new Future<void>({ loop: _getRunningLoop() ?? this._loop });
    if (this._closed && this._transports.size === 0) fut.setResult(undefined);
    else this._waiters.push(fut);
    return fut;
  }

  /**
   * Accept connections until cancelled: a Future that never resolves; it is
   * cancelled by `close()`. Cancelling it (or the task waiting on it)
   * closes the server at once, and the Future ends cancelled once the
   * server's connections have ended too (asyncio 3.12+: `close()`, then
   * `await wait_closed()`); a second cancel stops that wait.
   *
   * @example
   * ```ts
   * const server = yield* fromPromise(loop.createServer(() => new Echo(), '127.0.0.1', 8888));
   * yield* server.serveForever(); // until the task is cancelled, e.g. by SIGINT in run()
   * ```
   */
  serveForever(): Future<void> {
    if (this._serveForeverFut !== null) throw new Error(`server ${this} is already being awaited on serveForever()`);
    if (this._closed) throw new Error(`server ${this} is closed`);
    const fut = new Future<void>({ loop: this._loop });
    fut._hooks = SERVING_FOREVER;
    fut._owner = this;
    this._serveForeverFut = fut;
    return fut;
  }

  /** The bound addresses: `{ address, port, family }`, or the path of a Unix server. */
  addresses(): (SockAddr | string)[] {
    return this._closed || this._listener === null ? [] : this._listener.addresses();
  }

  /** Close every connection (flushing first). */
  closeClients(): void {
    for (const t of [...this._transports]) t.close();
  }

  /** Abort every connection (no flush). */
  abortClients(): void {
    for (const t of [...this._transports]) t.abort();
  }

  toString(): string {
    return `<Server ${this._closed ? 'closed' : 'serving'}>`;
  }
}

/**
 * Listens on a `net.Server` (the default loop); its connections become
 * SocketTransports whose protocol starts on the loop.
 */
function listenNode(server: Server, netServer: net.Server, options: net.ListenOptions, unixPath: string | null): Promise<Server> {
  const listener: Listener = {
    // The callback swallows ERR_SERVER_NOT_RUNNING for a server that never listened.
    close: () => netServer.close(() => {}),
    addresses: () => {
      if (unixPath !== null) return [unixPath];
      const a = netServer.address();
      if (a === null || typeof a === 'string') return a === null ? [] : [a];
      return [{ address: a.address, port: a.port, family: a.family }];
    },
  };
  netServer.on('connection', (accepted: net.Socket) => {
    if (server._refuses()) {
      accepted.destroy();
      return;
    }
    const { socket, reads } = readingThroughRoute(accepted);
    const transport = new SocketTransport(server._loop, socket, { unixPath, side: 'server', reads });
    server._attach(transport, (done) => transport._scheduleStart(server._factory, done));
  });
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server._closed = true;
      reject(err); // Node's error, with its code (EADDRINUSE...)
    };
    netServer.once('error', onError);
    netServer.listen(options, () => {
      netServer.removeListener('error', onError);
      netServer.on('error', (exception: Error) => server._acceptFailed(exception));
      resolve(server._listening(listener));
    });
  });
}

/** @internal The backlog option, checked. */
export function checkBacklog(opts: ServerOptions | undefined, method: string): number | undefined {
  checkOptions(opts, method);
  const backlog = opts?.backlog;
  if (backlog === undefined) return undefined;
  if (typeof backlog !== 'number') throw new TypeError(`${method}() backlog must be a number, not ${describe(backlog)}`);
  if (!Number.isInteger(backlog) || backlog < 0) throw new RangeError(`${method}() backlog must be an integer >= 0, not ${backlog}`);
  // listen(2) caps it at the system's somaxconn anyway (asyncio passes any
  // int); capped here too, both loops hand the same number on.
  return Math.min(backlog, MAX_BACKLOG);
}

/** The largest backlog handed to listen() (Linux caps it lower, at net.core.somaxconn). */
const MAX_BACKLOG = 65535;

/**
 * @internal `loop.createServer()`. `host` null/undefined listens on all interfaces.
 * @example
 * ```ts
 * const server = await createServer(loop, () => new Echo(), '127.0.0.1', 0);
 * ```
 */
export function createServer<P extends BaseProtocol>(
  loop: EventLoop,
  factory: ProtocolFactory<P>,
  host: string | null | undefined,
  port: number | null | undefined,
  opts?: ServerOptions,
): Promise<Server> {
  const args = checkServerArgs(factory, host, port, opts);
  if (args.reusePort && !nodeSupportsReusePort()) {
    throw new Error(
      `createServer() reusePort needs Node >= 22.12 or 23.1 on the default loop (SO_REUSEPORT); this is Node ${process.versions.node}. The native loop supports it.`,
    );
  }
  if (loop.isClosed()) throw new Error('Event loop is closed');
  // Paused: each connection is made again to read through Node's `onread` (readingThroughRoute).
  const netServer = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true });
  const server = new Server(loop, factory);
  const options: net.ListenOptions & { reusePort?: boolean } = { port: args.port };
  if (args.host !== null) options.host = args.host;
  if (args.backlog !== undefined) options.backlog = args.backlog;
  if (args.reusePort) options.reusePort = true;
  return listenNode(server, netServer, options, null);
}

/**
 * @internal The argument checks of `loop.createServer()` (both loops).
 * @example
 * ```ts
 * const { host, port, backlog, reusePort } = checkServerArgs(factory, host, port, opts);
 * ```
 */
export function checkServerArgs(
  factory: unknown,
  host: unknown,
  port: unknown,
  opts: ServerOptions | undefined,
): { host: string | null; port: number; backlog: number | undefined; reusePort: boolean } {
  checkFactory(factory, 'createServer');
  if (host !== null && host !== undefined) checkString(host, 'createServer() host');
  if (port !== null && port !== undefined) checkPort(port, 'createServer', 0);
  const backlog = checkBacklog(opts, 'createServer');
  const reusePort = opts?.reusePort;
  if (reusePort !== undefined && typeof reusePort !== 'boolean') {
    throw new TypeError(`createServer() reusePort must be a boolean, not ${describe(reusePort)}`);
  }
  return { host: (host as string | null | undefined) ?? null, port: (port as number | null | undefined) ?? 0, backlog, reusePort: reusePort === true };
}

/**
 * @internal The argument checks of `loop.createUnixServer()` (both loops),
 * then the removal of a stale socket file at `path` (asyncio does the same).
 * Returns the backlog.
 * @example
 * ```ts
 * const backlog = prepareUnixServer(loop, factory, path, opts);
 * ```
 */
export function prepareUnixServer(loop: EventLoop, factory: unknown, path: unknown, opts: ServerOptions | undefined): number | undefined {
  checkFactory(factory, 'createUnixServer');
  checkUnixPath(path, 'createUnixServer() path');
  const backlog = checkBacklog(opts, 'createUnixServer');
  if (opts?.reusePort) throw new TypeError('createUnixServer() does not take reusePort (TCP only)');
  if (loop.isClosed()) throw new Error('Event loop is closed');
  if (path[0] === '\0') return backlog; // the abstract namespace has no files
  try {
    if (fs.statSync(path).isSocket()) fs.unlinkSync(path);
  } catch {
    // Nothing there (or not ours to remove): listen() reports real problems.
  }
  return backlog;
}

/**
 * @internal `loop.createUnixServer()`. libuv unlinks the socket file on close.
 * @example
 * ```ts
 * const server = await createUnixServer(loop, () => new Echo(), '/tmp/app.sock');
 * ```
 */
export function createUnixServer<P extends BaseProtocol>(
  loop: EventLoop,
  factory: ProtocolFactory<P>,
  path: string,
  opts?: ServerOptions,
): Promise<Server> {
  const backlog = prepareUnixServer(loop, factory, path, opts);
  const netServer = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  const server = new Server(loop, factory);
  const options: net.ListenOptions = { path };
  if (backlog !== undefined) options.backlog = backlog;
  return listenNode(server, netServer, options, path);
}
