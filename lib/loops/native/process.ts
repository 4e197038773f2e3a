/**
 * The native loop's child processes: uv_spawn in C++ (native/process.cc)
 * with uv_pipe_t stdio. Each pipe is a native stream transport driven
 * through the shared pipe transports of lib/subprocess.ts (their control
 * interfaces); its protocol is a small adapter that feeds the
 * SubprocessTransport's inbox, so events reach the subprocess protocol on
 * the loop and in order, as on the default loop.
 * @module
 */
import type { EventLoop } from '../../events.js';
import type { Protocol } from '../../protocols.js';
import { signalNumber } from '../../signals.js';
import { ReadPipeTransport, WritePipeTransport, type ChildSource, type Spawner, type StdioMode, type SubprocessTransport } from '../../subprocess.js';
import type { NativeLoopBinding } from './addon.js';
import type { NativeIo, StreamOwner } from './io.js';
import { NativeStreamTransport } from './stream_transport.js';

/** The modes native/process.cc takes (3: stderr to wherever stdout goes). */
const MODE: Record<StdioMode | 'stdout', number> = { ignore: 0, inherit: 1, pipe: 2, stdout: 3 };

/** A uv_process_t as the SubprocessTransport sees it. */
class NativeChild implements ChildSource, StreamOwner {
  private _exited = false;
  private _transport: SubprocessTransport | null = null;
  readonly info: { pid: number };

  constructor(
    private readonly _loop: EventLoop,
    private readonly _io: NativeIo,
    private readonly _native: NativeLoopBinding,
    private readonly _id: number,
    readonly pid: number,
    private readonly _pipeIds: [number, number, number],
  ) {
    this.info = { pid };
    _io.register(_id, this);
  }

  exited(): boolean {
    return this._exited;
  }

  kill(signal: NodeJS.Signals): void {
    if (!this._exited) this._native.kill(this._id, signalNumber(signal));
  }

  attach(t: SubprocessTransport): void {
    this._transport = t;
    this._pipeIds.forEach((id, fd) => {
      if (id < 0) return;
      const pipe = new NativeStreamTransport(this._loop, this._io, this._native, id);
      pipe._started = true;
      const lost = (err: Error | null) => t._push({ kind: 'lost', fd, err });
      if (fd === 0) {
        pipe._reading = false; // we only write the child's stdin
        const stdin = new WritePipeTransport(t, {
          write: (data) => pipe.write(data),
          end: () => pipe.close(),
          destroy: () => pipe.abort(),
          destroyed: () => pipe._id < 0,
          bufferSize: () => pipe.getWriteBufferSize(),
          info: undefined,
        });
        // The native pipe reports its drain; the pipe transport pauses by its size.
        const writer: Protocol = { connectionLost: lost, resumeWriting: () => stdin._onWritten() };
        pipe._protocol = writer;
        t._pipes.set(0, stdin);
      } else {
        const reader: Protocol = { dataReceived: (data) => t._push({ kind: 'data', fd, data }), connectionLost: lost };
        pipe._protocol = reader;
        t._pipes.set(fd, new ReadPipeTransport(t, fd, {
          pause: () => pipe.pauseReading(),
          resume: () => pipe.resumeReading(),
          destroy: () => pipe.abort(),
          info: undefined,
        }));
        this._native.readStart(id);
      }
      t._openPipes.add(fd);
    });
  }

  /** @internal The child exited: asyncio's returncode, `-signal` when killed. */
  _onExit(status: number, signal: number): void {
    this._exited = true;
    const t = this._transport;
    if (t === null) return;
    t._push({ kind: 'exit', code: signal !== 0 ? -signal : status });
    // Nobody reads the child's stdin any more: close it, as Node does when
    // a child exits (its 'close' then ends the pipe).
    (t._pipes.get(0) as WritePipeTransport | undefined)?.close();
  }

  /** @internal The process handle closed (after the exit). */
  _onClosed(): void {}
}

/**
 * @internal The native loop's Spawner (uv_spawn). A missing program rejects
 * with an Error whose code is 'ENOENT', as node:child_process does.
 * @example
 * ```ts
 * const spawner = nativeSpawner(loop, io, native);
 * ```
 */
export function nativeSpawner(loop: EventLoop, io: NativeIo, native: NativeLoopBinding): Spawner {
  return async (file, args, modes, opts) => {
    let env: string[] | null = null;
    if (opts?.env !== undefined) {
      env = [];
      for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env.push(`${k}=${v}`);
    }
    const [id, pid, stdin, stdout, stderr] = native.spawn(file, [file, ...args], env, opts?.cwd ?? null, modes.map((m) => MODE[m]));
    return new NativeChild(loop, io, native, id, pid, [stdin, stdout, stderr]);
  };
}
