/**
 * Subprocesses over `node:child_process.spawn`, shared by both loops until
 * the native uv_spawn path (asyncio's `base_subprocess.py` and
 * `subprocess.py`).
 *
 * Protocol level: `loop.subprocessExec()` / `loop.subprocessShell()` give a
 * {@link SubprocessTransport} and a SubprocessProtocol. Every event (pipe
 * data, pipe closed, process exited) goes to one inbox and is delivered on
 * the loop in arrival order, as net_transport.ts does for sockets; a
 * protocol callback that throws goes to the exception handler and closes
 * this transport (which kills the process, as asyncio's close does).
 *
 * Stream level: `createSubprocessExec()` / `createSubprocessShell()` give a
 * {@link Process} with StreamWriter/StreamReader pipes, `wait()` and
 * `communicate()`.
 *
 * Reaping: libuv reaps every child as soon as it exits (its SIGCHLD
 * handler), whether or not anyone waits, so no zombie is left while the
 * Node process runs. Cancelling a task waiting on `process.wait()` leaves
 * the child running (as asyncio); cancelling `communicate()` kills it
 * (SIGKILL) and waits until it is reaped before the CancelledError goes on.
 * @module
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { describe, getRunningLoop, _getRunningLoop, type EventLoop } from './events.js';
import { Future } from './futures.js';
import { gather } from './combinators.js';
import { _thenable } from './tasks.js';
import type { Coroutine } from './coroutines.js';
import { callConnectionLost, checkProtocol, reportProtocolError, startProtocol, type BaseProtocol, type ProtocolFactory, type SubprocessProtocol } from './protocols.js';
import { WriteFlowControl, type Transport } from './transports.js';
import { StreamReader, StreamReaderProtocol, StreamWriter } from './streams.js';
import { checkFactory, checkOptions, checkString } from './net_transport.js';
import { signalName, signalNumber } from './signals.js';
import { CancelledError } from './errors.js';

/**
 * What each standard stream of the child is connected to.
 *
 * @example
 * ```ts
 * const opts: SubprocessOptions = { stdin: 'ignore', stdout: 'pipe', stderr: 'inherit' };
 * ```
 */
export type StdioMode = 'pipe' | 'inherit' | 'ignore';

/**
 * The child's stdin, stdout and stderr modes; stderr may also be `'stdout'`
 * (asyncio's `subprocess.STDOUT`): the child's stderr goes wherever its
 * stdout goes, into the same pipe when stdout is piped.
 * @example
 * ```ts
 * const modes: StdioModes = ['ignore', 'pipe', 'stdout'];
 * ```
 */
export type StdioModes = [StdioMode, StdioMode, StdioMode | 'stdout'];

/**
 * Options of `loop.subprocessExec()` / `createSubprocessExec()` and the shell variants.
 *
 * @example
 * ```ts
 * yield* createSubprocessExec('ls', ['-l'], { cwd: '/tmp', env: { ...process.env, LC_ALL: 'C' } });
 * ```
 */
export interface SubprocessOptions {
  /**
   * Default 'pipe' for `loop.subprocessExec()`/`subprocessShell()`, and
   * 'inherit' for `createSubprocessExec()`/`createSubprocessShell()` (as
   * asyncio's loop methods and its `create_subprocess_*`, whose default is
   * `None`). The same holds for stdout and stderr.
   */
  stdin?: StdioMode;
  /** Default: see `stdin`. */
  stdout?: StdioMode;
  /**
   * Default: see `stdin`. `'stdout'` sends the child's stderr wherever its
   * stdout goes (asyncio's `stderr=subprocess.STDOUT`): with `stdout:
   * 'pipe'` both reach the one stdout pipe, in the order written, and there
   * is no stderr pipe.
   */
  stderr?: StdioMode | 'stdout';
  /** The child's environment (default: this process's). */
  env?: Record<string, string | undefined>;
  /** The child's working directory. */
  cwd?: string;
  /** StreamReader limit (stream helpers only; default 64 KiB). */
  limit?: number;
}

/** @internal What a ChildSource reports to its transport. */
export type Item =
  | { kind: 'data'; fd: number; data: Buffer }
  | { kind: 'lost'; fd: number; err: Error | null }
  | { kind: 'exit'; code: number };

const STDIO_MODES = new Set(['pipe', 'inherit', 'ignore']);

/** A string for exec(2): non-empty, no NUL byte (C strings end there). */
function checkExecString(value: unknown, what: string): asserts value is string {
  checkString(value, what);
  if (value.includes('\0')) throw new TypeError(`${what} must not contain NUL bytes`);
}

function checkSubprocessOptions(opts: SubprocessOptions | undefined, method: string): StdioModes {
  checkOptions(opts, method);
  const modes = (['stdin', 'stdout', 'stderr'] as const).map((k) => {
    const v = opts?.[k] ?? 'pipe';
    const valid = k === 'stderr' ? "'pipe', 'inherit', 'ignore' or 'stdout'" : "'pipe', 'inherit' or 'ignore'";
    if (typeof v !== 'string') throw new TypeError(`${method}() ${k} must be ${valid}, not ${describe(v)}`);
    if (!STDIO_MODES.has(v) && !(k === 'stderr' && v === 'stdout')) throw new RangeError(`${method}() ${k} must be ${valid}, not ${JSON.stringify(v)}`);
    return v;
  }) as StdioModes;
  if (opts?.env !== undefined && (typeof opts.env !== 'object' || opts.env === null)) {
    throw new TypeError(`${method}() env must be an object, not ${describe(opts.env)}`);
  }
  if (opts?.cwd !== undefined) checkExecString(opts.cwd, `${method}() cwd`);
  return modes;
}

/**
 * @internal The reading end of a child's pipe as its transport drives it
 * (a Node stream on the default loop, a native stream on the native loop).
 * @example
 * ```ts
 * const control: ReadPipeControl = readControl(child.stdout!);
 * ```
 */
export interface ReadPipeControl {
  pause(): void;
  resume(): void;
  destroy(): void;
  /** `getExtraInfo('pipe')`. */
  readonly info: unknown;
}

/**
 * @internal The writing end of a child's stdin, as its transport drives it.
 * @example
 * ```ts
 * const control: WritePipeControl = writeControl(child.stdin!);
 * ```
 */
export interface WritePipeControl {
  /** Queue `data` (a copy is taken); `onWritten` may run once bytes reached the pipe. */
  write(data: Uint8Array | string, onWritten: (err?: Error | null) => void): void;
  /** Flush, then close. */
  end(): void;
  destroy(): void;
  destroyed(): boolean;
  /** Bytes not yet taken by the pipe. */
  bufferSize(): number;
  readonly info: unknown;
}

function readControl(stream: Readable): ReadPipeControl {
  return { pause: () => stream.pause(), resume: () => stream.resume(), destroy: () => stream.destroy(), info: stream };
}

function writeControl(stream: Writable): WritePipeControl {
  return {
    write: (data, onWritten) => stream.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data), onWritten),
    end: () => stream.end(),
    destroy: () => stream.destroy(),
    destroyed: () => stream.destroyed,
    bufferSize: () => stream.writableLength,
    info: stream,
  };
}

/**
 * The reading end of the child's stdout (fd 1) or stderr (fd 2):
 * `transport.getPipeTransport(fd)`.
 *
 * @example
 * ```ts
 * transport.getPipeTransport(1)?.pauseReading();
 * ```
 */
export class ReadPipeTransport {
  /** @internal */ _paused = false;
  /** @internal */ _closing = false;
  /** @internal */
  constructor(
    /** @internal */ readonly _owner: SubprocessTransport,
    /** @internal */ readonly _fd: number,
    /** @internal */ readonly _pipe: ReadPipeControl,
  ) {}
  /** No more `pipeDataReceived` for this fd until `resumeReading()`. */
  pauseReading(): void {
    if (this._closing || this._paused) return;
    this._paused = true;
    this._pipe.pause();
  }
  /** Deliver data again. */
  resumeReading(): void {
    if (this._closing || !this._paused) return;
    this._paused = false;
    this._pipe.resume();
    this._owner._schedulePump();
  }
  /** True unless paused or closing. */
  isReading(): boolean {
    return !this._paused && !this._closing;
  }
  /** Close the pipe; `pipeConnectionLost(fd, null)` follows. */
  close(): void {
    if (this._closing) return;
    this._closing = true;
    this._pipe.destroy();
  }
  /** True once closing. */
  isClosing(): boolean {
    return this._closing;
  }
  /** `pipe` (the Node stream on the default loop); `dflt` otherwise. */
  getExtraInfo(name: string, dflt?: unknown): unknown {
    return name === 'pipe' ? (this._pipe.info ?? dflt) : dflt;
  }
  /** The subprocess protocol. */
  getProtocol(): BaseProtocol {
    return this._owner.getProtocol();
  }
  /** Not supported on a pipe of a subprocess. */
  setProtocol(_protocol: BaseProtocol): void {
    throw new Error('setProtocol() is not supported on a subprocess pipe');
  }
}

/**
 * The writing end of the child's stdin (fd 0): `transport.getPipeTransport(0)`.
 * Flow control calls `pauseWriting()`/`resumeWriting()` of the subprocess protocol.
 *
 * @example
 * ```ts
 * const stdin = transport.getPipeTransport(0) as WritePipeTransport;
 * stdin.write('data\n');
 * stdin.close();
 * ```
 */
export class WritePipeTransport extends WriteFlowControl {
  /** @internal */ _closing = false;
  /** @internal */ _droppedWrites = 0;
  /** @internal */
  constructor(
    /** @internal */ readonly _owner: SubprocessTransport,
    /** @internal */ readonly _pipe: WritePipeControl,
  ) {
    super(_owner._loop);
  }
  /** Queue bytes (strings as UTF-8); dropped after close (as asyncio). */
  write(data: Uint8Array | string): void {
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      throw new TypeError(`data must be a Uint8Array or a string, not ${describe(data)}`);
    }
    if (data.length === 0) return;
    if (this._closing || this._pipe.destroyed()) {
      this._droppedWrites++;
      return;
    }
    this._pipe.write(data, this._onWritten);
    this._maybePauseProtocol();
  }
  /** @internal Some bytes reached the pipe: on the loop, the protocol may resume. */
  readonly _onWritten = (err?: Error | null): void => {
    if (err || !this._protocolPaused || this._loop.isClosed()) return;
    this._loop.callSoon(() => this._maybeResumeProtocol());
  };
  /** Write each item. */
  writelines(list: Iterable<Uint8Array | string>): void {
    for (const item of list) this.write(item);
  }
  /** Close stdin after what is buffered (the child sees EOF). */
  writeEof(): void {
    this.close();
  }
  /** True. */
  canWriteEof(): boolean {
    return true;
  }
  /** Flush, then close; `pipeConnectionLost(0, null)` follows. */
  close(): void {
    if (this._closing) return;
    this._closing = true;
    if (!this._pipe.destroyed()) this._pipe.end();
  }
  /** Close at once, dropping buffered data. */
  abort(): void {
    this._closing = true;
    this._pipe.destroy();
  }
  /** True once closing. */
  isClosing(): boolean {
    return this._closing;
  }
  /** Bytes not yet taken by the pipe. */
  getWriteBufferSize(): number {
    return this._pipe.destroyed() ? 0 : this._pipe.bufferSize();
  }
  // A StreamWriter may call these (it is typed for full transports): a write pipe does not read.
  /** @internal */ pauseReading(): void {}
  /** @internal */ resumeReading(): void {}
  /** @internal */ isReading(): boolean {
    return false;
  }
  /** `pipe` (the Node stream on the default loop); `dflt` otherwise. */
  getExtraInfo(name: string, dflt?: unknown): unknown {
    return name === 'pipe' ? (this._pipe.info ?? dflt) : dflt;
  }
  /** The subprocess protocol. */
  getProtocol(): BaseProtocol {
    return this._owner.getProtocol();
  }
  /** Not supported on a pipe of a subprocess. */
  setProtocol(_protocol: BaseProtocol): void {
    throw new Error('setProtocol() is not supported on a subprocess pipe');
  }
  /** @internal */
  _getProtocolForFlow(): BaseProtocol {
    return this._owner._protocol ?? {};
  }
  /** @internal */
  _protocolFailed(method: string, exception: unknown): void {
    this._owner._protocolFailed(method, exception);
  }
}

/**
 * @internal A started child process as the transport sees it: node's
 * ChildProcess (the default loop) or a uv_process_t (the native loop).
 * @example
 * ```ts
 * const source = nodeChild(spawn('ls'));
 * ```
 */
export interface ChildSource {
  readonly pid: number;
  /** True once the child exited (signals are then not sent). */
  exited(): boolean;
  /** Send `signal` unless the child exited. */
  kill(signal: NodeJS.Signals): void;
  /** Make `transport`'s pipe transports and route pipe and exit events to `transport._push`. */
  attach(transport: SubprocessTransport): void;
  /** `getExtraInfo('subprocess')`. */
  readonly info: unknown;
}

/**
 * @internal Starts a child: `file` with `args` (argv[1:]).
 * @example
 * ```ts
 * const source = await nodeSpawner('ls', ['-l'], ['pipe', 'pipe', 'pipe'], undefined);
 * ```
 */
export type Spawner = (file: string, args: string[], modes: StdioModes, opts: SubprocessOptions | undefined) => Promise<ChildSource>;

/**
 * A ChildProcess as a ChildSource (the default loop). `mergedOut` is our
 * end of the socket pair the child writes its stdout and stderr to
 * (`stderr: 'stdout'` with a piped stdout; `child.stdout` is then null).
 */
function nodeChild(child: ChildProcess, mergedOut: net.Socket | null = null): ChildSource {
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  return {
    pid: child.pid!,
    info: child,
    exited,
    kill(signal) {
      if (!exited()) child.kill(signal);
    },
    attach(t) {
      child.on('error', () => {}); // kill() failures; spawn errors are handled by the spawner
      if (child.stdin) {
        const stdin = child.stdin;
        t._pipes.set(0, new WritePipeTransport(t, writeControl(stdin)));
        t._openPipes.add(0);
        let err: Error | null = null;
        stdin.on('error', (e: Error) => (err ??= e));
        stdin.on('close', () => t._push({ kind: 'lost', fd: 0, err }));
      }
      for (const [fd, stream] of [[1, child.stdout ?? mergedOut], [2, child.stderr]] as const) {
        if (!stream) continue;
        t._pipes.set(fd, new ReadPipeTransport(t, fd, readControl(stream)));
        t._openPipes.add(fd);
        let err: Error | null = null;
        stream.on('data', (data: Buffer) => t._push({ kind: 'data', fd, data }));
        stream.on('error', (e: Error) => (err ??= e));
        stream.on('close', () => t._push({ kind: 'lost', fd, err }));
      }
      child.on('exit', (code, signal) => {
        t._push({ kind: 'exit', code: code ?? (signal !== null ? -signalNumber(signal) : -1) });
      });
    },
  };
}

/**
 * @internal Spawns with node:child_process (the default loop's Spawner).
 * @example
 * ```ts
 * const source = await nodeSpawner('true', [], ['ignore', 'ignore', 'ignore'], undefined);
 * ```
 */
export const nodeSpawner: Spawner = async (file, args, modes, opts) => {
  const [stdin, stdout, stderr] = modes;
  // stderr 'stdout': the child's fd 2 is what its fd 1 is. Into a pipe, that
  // takes one socket for both (Node's spawn cannot point two of a child's
  // fds at one pipe it makes): the child gets one end, we read the other.
  let pair: [net.Socket, net.Socket] | null = null;
  let stdio: StdioOptions = modes as StdioMode[];
  if (stderr === 'stdout') {
    if (stdout === 'pipe') {
      pair = await socketPair();
      stdio = [stdin, pair[1], pair[1]];
    } else {
      stdio = [stdin, stdout, stdout === 'inherit' ? 1 : 'ignore'];
    }
  }
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(file, args, { stdio, env: opts?.env ?? process.env, cwd: opts?.cwd });
    } catch (err) {
      pair?.[0].destroy();
      reject(err);
      return;
    } finally {
      // The child has its copy (spawn forks before it returns): ours must go,
      // or our end never reads EOF.
      pair?.[1].destroy();
    }
    const onError = (err: Error) => {
      pair?.[0].destroy();
      reject(err); // ENOENT, EACCES... (Node's error, with its code)
    };
    child.once('error', onError);
    child.once('spawn', () => {
      child.removeListener('error', onError);
      resolve(nodeChild(child, pair?.[0] ?? null));
    });
  });
};

/**
 * A connected pair of Unix stream sockets: Node has no socketpair(2), so one
 * connection to a listener in a new private (0700) temporary directory,
 * which goes at once with its listener.
 */
async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'aioloop-'));
  const server = net.createServer();
  try {
    const file = path.join(dir, 'stdout');
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(file, resolve);
    });
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const client = net.connect(file);
    await new Promise<void>((resolve, reject) => {
      client.once('error', reject);
      client.once('connect', resolve);
    });
    return [await accepted, client];
  } finally {
    server.close();
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

/**
 * The transport of a child process (asyncio's SubprocessTransport). Made by
 * `loop.subprocessExec()` / `loop.subprocessShell()`.
 *
 * @example
 * ```ts
 * const [t, p] = await loop.subprocessExec(() => new Collector(), 'ls', ['-l'], {});
 * console.log(t.getPid());
 * ```
 */
export class SubprocessTransport {
  /** @internal */ _protocol: SubprocessProtocol | null = null;
  /** @internal */ _returncode: number | null = null;
  /** @internal */ _exitWaiters: Future<number>[] = [];
  /** @internal */ _pipes = new Map<number, ReadPipeTransport | WritePipeTransport>();
  /** @internal */ _openPipes = new Set<number>();
  /** @internal */ _inbox: Item[] = [];
  /** @internal */ _pumpScheduled = false;
  /** @internal */ _started = false;
  /** @internal */ _closed = false;
  /** @internal */ _lostCalled = false;
  /** @internal */ _exitSeen = false;

  /** @internal Use loop.subprocessExec(). */
  constructor(
    /** @internal */ readonly _loop: EventLoop,
    /** @internal */ readonly _child: ChildSource,
  ) {
    _child.attach(this);
  }

  /** @internal A pipe or exit event; delivered on the loop, in order. */
  _push(item: Item): void {
    this._inbox.push(item);
    this._schedulePump();
  }

  /** @internal */
  _schedulePump(): void {
    if (this._pumpScheduled || !this._started || this._lostCalled) return;
    if (this._loop.isClosed()) return;
    this._pumpScheduled = true;
    this._loop.callSoon(this._pumpFromLoop);
  }

  private readonly _pumpFromLoop = (): void => {
    this._pumpScheduled = false;
    this._pump();
  };

  /** @internal Make the protocol and call connectionMade on the loop. */
  _start(factory: ProtocolFactory, done: (err: unknown) => void): void {
    const started = startProtocol(this, this, factory, done, () => {
      this._lostCalled = true;
      this._kill();
    });
    if (started) this._pump();
  }

  private _pump(): void {
    if (this._lostCalled) return;
    const inbox = this._inbox;
    this._inbox = [];
    const keep: Item[] = [];
    for (const item of inbox) {
      if (this._lostCalled) return;
      if (item.kind === 'data') {
        const pipe = this._pipes.get(item.fd) as ReadPipeTransport;
        if (pipe._paused) {
          keep.push(item);
          continue;
        }
        if (pipe._closing) continue;
        this._call('pipeDataReceived', item.fd, item.data);
      } else if (item.kind === 'lost') {
        if (keep.some((k) => k.kind === 'data' && k.fd === item.fd)) {
          keep.push(item);
          continue;
        }
        this._openPipes.delete(item.fd);
        this._call('pipeConnectionLost', item.fd, item.err);
        this._tryFinish();
      } else {
        this._returncode = item.code;
        this._exitSeen = true;
        this._call('processExited');
        const waiters = this._exitWaiters;
        this._exitWaiters = [];
        for (const w of waiters) if (!w.done()) w.setResult(item.code);
        this._tryFinish();
      }
    }
    if (keep.length > 0) this._inbox.unshift(...keep);
  }

  private _call(method: 'pipeDataReceived' | 'pipeConnectionLost' | 'processExited', ...args: unknown[]): void {
    try {
      (this._protocol as unknown as Record<string, ((...a: unknown[]) => void) | undefined>)[method]?.(...args);
    } catch (exception) {
      this._protocolFailed(method, exception);
    }
  }

  private _tryFinish(): void {
    if (this._lostCalled || !this._exitSeen || this._openPipes.size > 0) return;
    this._lostCalled = true;
    callConnectionLost(this._loop, this, this._protocol, null);
  }

  /** @internal */
  _protocolFailed(method: string, exception: unknown): void {
    reportProtocolError(this._loop, this, this._protocol, method, exception);
    this.close();
  }

  /** @internal SIGKILL unless it exited. */
  _kill(): void {
    if (this._returncode === null) this._child.kill('SIGKILL');
  }

  /** @internal A Future (of the running loop) of the exit code. */
  _wait(): Future<number> {
    const fut = new Future<number>({ loop: _getRunningLoop() ?? this._loop });
    if (this._returncode !== null) fut.setResult(this._returncode);
    else this._exitWaiters.push(fut);
    return fut;
  }

  /** The child's process id. */
  getPid(): number {
    return this._child.pid;
  }

  /** null while running; the exit code; `-signal` when killed by a signal. */
  getReturncode(): number | null {
    return this._returncode;
  }

  /** The transport of pipe `fd` (0 stdin, 1 stdout, 2 stderr), or null when not piped. */
  getPipeTransport(fd: number): ReadPipeTransport | WritePipeTransport | null {
    if (fd !== 0 && fd !== 1 && fd !== 2) throw new RangeError(`getPipeTransport() fd must be 0, 1 or 2, not ${describe(fd)}`);
    return this._pipes.get(fd) ?? null;
  }

  /**
   * Send `signal` (name or number) to the child; nothing once it exited.
   * Signal 0 sends nothing (kill(2)'s existence probe: the child is ours
   * and not reaped while `returncode` is null).
   */
  sendSignal(signal: NodeJS.Signals | number): void {
    if (signal === 0) return;
    const name = signalName(signal, 'sendSignal');
    if (this._returncode !== null) return;
    this._child.kill(name);
  }

  /** SIGTERM. */
  terminate(): void {
    this.sendSignal('SIGTERM');
  }

  /** SIGKILL. */
  kill(): void {
    this.sendSignal('SIGKILL');
  }

  /** Close the pipes and kill the child if it still runs (as asyncio). */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    for (const pipe of this._pipes.values()) pipe.close();
    this._kill();
  }

  /** True after close(). */
  isClosing(): boolean {
    return this._closed;
  }

  /** `subprocess` (the ChildProcess on the default loop; `{ pid }` on the native loop); `dflt` otherwise. */
  getExtraInfo(name: string, dflt?: unknown): unknown {
    return name === 'subprocess' ? this._child.info : dflt;
  }

  /** The protocol. */
  getProtocol(): BaseProtocol {
    return this._protocol!;
  }

  /** Switch protocols. */
  setProtocol(protocol: BaseProtocol): void {
    this._protocol = checkProtocol(protocol);
  }

  toString(): string {
    return `<SubprocessTransport pid=${this._child.pid} returncode=${this._returncode}>`;
  }
}

function launch<P extends BaseProtocol>(
  loop: EventLoop,
  factory: ProtocolFactory<P>,
  file: string,
  args: string[],
  modes: StdioModes,
  opts: SubprocessOptions | undefined,
  spawner: Spawner,
): Promise<[SubprocessTransport, P]> {
  if (loop.isClosed()) throw new Error('Event loop is closed');
  return spawner(file, args, modes, opts).then(
    (child) =>
      new Promise((resolve, reject) => {
        const transport = new SubprocessTransport(loop, child);
        if (loop.isClosed()) {
          transport._lostCalled = true;
          child.kill('SIGKILL');
          reject(new Error('Event loop is closed'));
          return;
        }
        loop.callSoon(() =>
          transport._start(factory, (err) => {
            if (err !== null) reject(err);
            else resolve([transport, transport._protocol as unknown as P]);
          }),
        );
      }),
  );
}

/**
 * @internal `loop.subprocessExec()`.
 * @example
 * ```ts
 * const [t, p] = await subprocessExec(loop, () => new Collector(), 'ls', ['-l'], {});
 * ```
 */
export function subprocessExec<P extends BaseProtocol>(
  loop: EventLoop,
  factory: ProtocolFactory<P>,
  program: string,
  args: readonly string[] = [],
  opts?: SubprocessOptions,
  spawner: Spawner = nodeSpawner,
): Promise<[SubprocessTransport, P]> {
  checkFactory(factory, 'subprocessExec');
  checkExecString(program, 'subprocessExec() program');
  if (!Array.isArray(args)) throw new TypeError(`subprocessExec() args must be an array of strings, not ${describe(args)}`);
  for (const a of args) {
    if (typeof a !== 'string') throw new TypeError(`subprocessExec() args must be strings, not ${describe(a)}`);
    if (a.includes('\0')) throw new TypeError('subprocessExec() args must not contain NUL bytes');
  }
  const modes = checkSubprocessOptions(opts, 'subprocessExec');
  return launch(loop, factory, program, [...args], modes, opts, spawner);
}

/**
 * @internal `loop.subprocessShell()`: `cmd` run by `/bin/sh -c`.
 * @example
 * ```ts
 * const [t, p] = await subprocessShell(loop, () => new Collector(), 'echo $HOME', {});
 * ```
 */
export function subprocessShell<P extends BaseProtocol>(
  loop: EventLoop,
  factory: ProtocolFactory<P>,
  cmd: string,
  opts?: SubprocessOptions,
  spawner: Spawner = nodeSpawner,
): Promise<[SubprocessTransport, P]> {
  checkFactory(factory, 'subprocessShell');
  checkExecString(cmd, 'subprocessShell() cmd');
  const modes = checkSubprocessOptions(opts, 'subprocessShell');
  if (process.platform === 'win32') return launch(loop, factory, process.env.ComSpec ?? 'cmd.exe', ['/d', '/s', '/c', cmd], modes, opts, spawner);
  return launch(loop, factory, '/bin/sh', ['-c', cmd], modes, opts, spawner);
}

// ---------------------------------------------------------------------------
// Streams (asyncio.subprocess)

/**
 * The SubprocessProtocol behind {@link Process}: feeds the stdout/stderr
 * StreamReaders and gives stdin flow control to its StreamWriter.
 *
 * @example
 * ```ts
 * const [t, p] = await loop.subprocessExec(() => new SubprocessStreamProtocol(loop), 'cat', [], {});
 * ```
 */
export class SubprocessStreamProtocol implements SubprocessProtocol {
  stdin: StreamWriter | null = null;
  stdout: StreamReader | null = null;
  stderr: StreamReader | null = null;
  /** @internal */ _stdinProto: StreamReaderProtocol | null = null;
  /** @internal */ readonly _loop: EventLoop;
  /** @internal */ readonly _limit: number | undefined;

  constructor(loop: EventLoop, limit?: number) {
    this._loop = loop;
    this._limit = limit;
  }

  connectionMade(t: unknown): void {
    const transport = t as SubprocessTransport;
    const loop = this._loop;
    for (const fd of [1, 2] as const) {
      const pipe = transport.getPipeTransport(fd);
      if (pipe === null) continue;
      const reader = new StreamReader({ limit: this._limit, loop });
      reader.setTransport(pipe as unknown as Transport);
      if (fd === 1) this.stdout = reader;
      else this.stderr = reader;
    }
    const stdinPipe = transport.getPipeTransport(0);
    if (stdinPipe !== null) {
      const proto = new StreamReaderProtocol(new StreamReader({ loop }));
      proto.connectionMade(stdinPipe as unknown as Transport);
      this._stdinProto = proto;
      this.stdin = new StreamWriter(stdinPipe as unknown as Transport, proto, null);
    }
  }

  pipeDataReceived(fd: number, data: Buffer): void {
    (fd === 1 ? this.stdout : this.stderr)?._feedFromTransport(data);
  }

  pipeConnectionLost(fd: number, err: Error | null): void {
    if (fd === 0) {
      this._stdinProto?.connectionLost(err);
      return;
    }
    const reader = fd === 1 ? this.stdout : this.stderr;
    if (reader === null) return;
    if (err === null) reader.feedEof();
    else reader.setException(err);
  }

  pauseWriting(): void {
    this._stdinProto?.pauseWriting();
  }

  resumeWriting(): void {
    this._stdinProto?.resumeWriting();
  }
}

/**
 * A running child with stream pipes (asyncio.subprocess.Process), from
 * `createSubprocessExec()` / `createSubprocessShell()`.
 *
 * @example
 * ```ts
 * function* main() {
 *   const proc = yield* createSubprocessExec('sort', [], { stdin: 'pipe', stdout: 'pipe' });
 *   const [out] = yield* proc.communicate('b\na\n');
 *   console.log(String(out), proc.returncode); // "a\nb\n" 0
 * }
 * ```
 */
export class Process {
  /** @internal */ readonly _transport: SubprocessTransport;
  /** @internal */ readonly _protocol: SubprocessStreamProtocol;
  readonly pid: number;
  readonly stdin: StreamWriter | null;
  readonly stdout: StreamReader | null;
  readonly stderr: StreamReader | null;

  /** @internal Use createSubprocessExec(). */
  constructor(transport: SubprocessTransport, protocol: SubprocessStreamProtocol) {
    this._transport = transport;
    this._protocol = protocol;
    this.pid = transport.getPid();
    this.stdin = protocol.stdin;
    this.stdout = protocol.stdout;
    this.stderr = protocol.stderr;
  }

  /** null while running; the exit code; `-signal` (e.g. -9) when killed by a signal. */
  get returncode(): number | null {
    return this._transport.getReturncode();
  }

  /**
   * Wait for the child to exit; resolves with its returncode. Cancelling the
   * waiting task does not kill the child (as asyncio); libuv still reaps it
   * when it exits, so it never stays a zombie.
   */
  wait(): Future<number> {
    return this._transport._wait();
  }

  /**
   * Send `input` (if any) to stdin and close it, read stdout and stderr to
   * EOF, all concurrently (no deadlock however much the child writes), then
   * wait for exit. Returns `[stdout, stderr]` (null for a stream that is not
   * piped). A broken stdin pipe (the child exited early) is ignored.
   * Cancelling it kills the child (SIGKILL) and waits until it is reaped
   * before the CancelledError goes on.
   */
  communicate(input?: Uint8Array | string | null): Coroutine<[Buffer | null, Buffer | null]> & PromiseLike<[Buffer | null, Buffer | null]> {
    if (input !== undefined && input !== null && typeof input !== 'string' && !(input instanceof Uint8Array)) {
      throw new TypeError(`communicate() input must be a Uint8Array, a string or null, not ${describe(input)}`);
    }
    // Without a stdin pipe the input is ignored, as in asyncio.
    return _thenable(this._communicate(this.stdin === null ? null : (input ?? null)));
  }

  private *_communicate(input: Uint8Array | string | null): Coroutine<[Buffer | null, Buffer | null]> {
    const stdin = this.stdin;
    const feed = function* (): Coroutine<void> {
      if (stdin === null) return;
      try {
        if (input !== null && input.length > 0) {
          stdin.write(input);
          yield* stdin.drain();
        }
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code !== 'EPIPE' && code !== 'ECONNRESET') throw e;
      }
      stdin.close();
    };
    const read = function* (reader: StreamReader | null): Coroutine<Buffer | null> {
      if (reader === null) return null;
      return yield* reader.read();
    };
    try {
      const [, out, err] = yield* gather([feed(), read(this.stdout), read(this.stderr)]);
      yield* this.wait();
      return [out as Buffer | null, err as Buffer | null];
    } catch (e) {
      if (e instanceof CancelledError && this.returncode === null) {
        this._transport._kill();
        yield* this.wait();
      }
      throw e;
    }
  }

  /** Send `signal` (name or number); nothing once the child exited. */
  sendSignal(signal: NodeJS.Signals | number): void {
    this._transport.sendSignal(signal);
  }

  /** SIGTERM. */
  terminate(): void {
    this._transport.terminate();
  }

  /** SIGKILL. */
  kill(): void {
    this._transport.kill();
  }

  toString(): string {
    return `<Process ${this.pid}>`;
  }
}

/** The stream helpers' defaults: what is not asked for is inherited (asyncio's `None`). */
function inheritByDefault(opts: SubprocessOptions | undefined): SubprocessOptions {
  return { ...opts, stdin: opts?.stdin ?? 'inherit', stdout: opts?.stdout ?? 'inherit', stderr: opts?.stderr ?? 'inherit' };
}

function streamsOf(
  method: string,
  opts: SubprocessOptions | undefined,
  start: (loop: EventLoop, factory: () => SubprocessStreamProtocol) => Promise<[SubprocessTransport, SubprocessStreamProtocol]>,
): Future<Process> {
  const loop = getRunningLoop();
  const limit = opts?.limit;
  if (limit !== undefined && (typeof limit !== 'number' || !Number.isInteger(limit) || limit <= 0)) {
    throw new RangeError(`${method}() limit must be a positive integer, not ${describe(limit)}`);
  }
  const fut = new Future<Process>({ loop });
  start(loop, () => new SubprocessStreamProtocol(loop, limit)).then(
    ([transport, protocol]) => {
      if (fut.done()) transport.close(); // the caller gave up: do not leave the child behind
      else fut.setResult(new Process(transport, protocol));
    },
    (err) => {
      if (!fut.done()) fut.setException(err);
    },
  );
  return fut;
}

/**
 * Start `program` with `args` (no shell) and return a {@link Process} (a
 * Future: `yield*` or `await` it). A missing program fails with Node's
 * error, `code` 'ENOENT'. The child inherits stdin, stdout and stderr
 * unless `opts` asks for `'pipe'` (or `'ignore'`), as in asyncio.
 *
 * @example
 * ```ts
 * function* main() {
 *   const proc = yield* createSubprocessExec('ls', ['-l'], { stdout: 'pipe' });
 *   const line = yield* proc.stdout!.readline();
 *   console.log(String(line), yield* proc.wait());
 * }
 * ```
 */
export function createSubprocessExec(program: string, args: readonly string[] = [], opts?: SubprocessOptions): Future<Process> {
  // Bad arguments throw synchronously (the loop method validates at once).
  checkString(program, 'createSubprocessExec() program');
  checkSubprocessOptions(opts, 'createSubprocessExec');
  const o = inheritByDefault(opts);
  return streamsOf('createSubprocessExec', o, (l, f) => l.subprocessExec(f, program, args, o));
}

/**
 * Run `cmd` with `/bin/sh -c` and return a {@link Process}.
 *
 * @example
 * ```ts
 * function* main() {
 *   const proc = yield* createSubprocessShell('echo hi; exit 3', { stdout: 'pipe', stderr: 'ignore' });
 *   const [out] = yield* proc.communicate();
 *   console.log(String(out), proc.returncode); // "hi\n" 3
 * }
 * ```
 */
export function createSubprocessShell(cmd: string, opts?: SubprocessOptions): Future<Process> {
  checkString(cmd, 'createSubprocessShell() cmd');
  checkSubprocessOptions(opts, 'createSubprocessShell');
  const o = inheritByDefault(opts);
  return streamsOf('createSubprocessShell', o, (l, f) => l.subprocessShell(f, cmd, o));
}
