/** Streams (asyncio's test_streams) over real sockets, on every loop, plus Python asyncio peers. */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  IncompleteReadError,
  LimitOverrunError,
  StreamReader,
  TimeoutError,
  createTask,
  fromPromise,
  gather,
  openConnection,
  openUnixConnection,
  sleep,
  startServer,
  startUnixServer,
  waitFor,
  type Coroutine,
  type EventLoop,
  type ExceptionContext,
  type Future,
  type Server,
  type SockAddr,
  type StreamWriter,
  type Transport,
} from '../../lib/index.js';
import { LOOPS, withLoop } from '../loops.js';

const HOST = '127.0.0.1';
const run = <T>(loop: EventLoop, main: () => Coroutine<T>) => loop.runUntilComplete(main());
const portOf = (server: Server) => (server.addresses()[0] as SockAddr).port;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let unixCounter = 0;
const unixPath = () => path.join(os.tmpdir(), `aioloop-s-${process.pid}-${++unixCounter}.sock`);

/** A server that writes `script` and closes. */
function* scripted(script: string | Buffer, opts?: { limit?: number }): Coroutine<Server> {
  return yield* startServer(
    (_r, w) => {
      w.write(script);
      w.close();
    },
    HOST,
    0,
    opts,
  );
}

/** Echo every line back until EOF (a generator onClient). */
function* echoLines(reader: StreamReader, writer: StreamWriter): Coroutine<void> {
  for (;;) {
    const line = yield* reader.readline();
    if (line.length === 0) break;
    writer.write(line);
    yield* writer.drain();
  }
  writer.close();
}

interface PyResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `python3 -c code`; `onLine` sees stdout lines as they come; `kill()` ends it. */
function python(code: string, onLine?: (line: string) => void): { done: Promise<PyResult>; kill(): void } {
  const child = spawn('python3', ['-c', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  const done = new Promise<PyResult>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      partial += d;
      let i: number;
      while ((i = partial.indexOf('\n')) >= 0) {
        onLine?.(partial.slice(0, i));
        partial = partial.slice(i + 1);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { done, kill: () => child.kill('SIGKILL') };
}

describe.each(LOOPS)('$name loop: StreamReader over TCP', (kind) => {
  it('readline, readexactly, readuntil, read and atEof', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const server = yield* scripted('line1\nline2\nABCDEF--END--tail');
        const [reader, writer] = yield* openConnection(HOST, portOf(server));
        const out: string[] = [];
        out.push(String(yield* reader.readline()));
        out.push(String(yield* reader.readexactly(3)));
        out.push(String(yield* reader.readuntil('2\n')));
        out.push(String(yield* reader.readuntil(Buffer.from('--END--'))));
        out.push(String(yield* reader.read(2)));
        out.push(String(yield* reader.read()));
        out.push(String(yield* reader.read()));
        out.push(String(yield* reader.readexactly(0)));
        expect(reader.atEof()).toBe(true);
        writer.close();
        yield* writer.waitClosed();
        server.close();
        yield* server.waitClosed();
        return out;
      }
      expect(await run(loop, main)).toEqual(['line1\n', 'lin', 'e2\n', 'ABCDEF--END--', 'ta', 'il', '', '']);
    }));

  it('works with await from an async function too', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const server = yield* scripted('a\nbb\n');
        const port = portOf(server);
        const lines = yield* fromPromise(
          (async () => {
            const [reader, writer] = await openConnection(HOST, port);
            const got = [String(await reader.readline()), String(await reader.readline()), String(await reader.readline())];
            writer.close();
            await writer.waitClosed();
            return got;
          })(),
        );
        server.close();
        yield* server.waitClosed();
        return lines;
      }
      expect(await run(loop, main)).toEqual(['a\n', 'bb\n', '']);
    }));

  it('IncompleteReadError on a short read, with the partial bytes', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const server = yield* scripted('0123456789');
        const port = portOf(server);
        const errors: unknown[] = [];
        let [reader, writer] = yield* openConnection(HOST, port);
        try {
          yield* reader.readexactly(100);
        } catch (e) {
          errors.push([(e as Error).name, String((e as IncompleteReadError).partial), (e as IncompleteReadError).expected]);
        }
        writer.close();
        [reader, writer] = yield* openConnection(HOST, port);
        try {
          yield* reader.readuntil('\n');
        } catch (e) {
          expect(e).toBeInstanceOf(IncompleteReadError);
          errors.push([String((e as IncompleteReadError).partial), (e as IncompleteReadError).expected]);
        }
        expect(reader.atEof()).toBe(true);
        writer.close();
        server.close();
        yield* server.waitClosed();
        return errors;
      }
      expect(await run(loop, main)).toEqual([
        ['IncompleteReadError', '0123456789', 100],
        ['0123456789', null],
      ]);
    }));

  it('LimitOverrunError past the limit; readline discards the long line', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const long = 'x'.repeat(40);
        const server = yield* scripted(`${long}\nshort\n${long}`);
        const [reader, writer] = yield* openConnection(HOST, portOf(server), { limit: 16 });
        expect(reader.limit).toBe(16);
        const out: unknown[] = [];
        yield* sleep(20); // let everything arrive
        try {
          yield* reader.readuntil('\n');
        } catch (e) {
          expect(e).toBeInstanceOf(LimitOverrunError);
          out.push((e as LimitOverrunError).consumed);
        }
        try {
          yield* reader.readline();
        } catch (e) {
          out.push((e as Error).name);
        }
        out.push(String(yield* reader.readline()));
        try {
          yield* reader.readline();
        } catch (e) {
          out.push((e as Error).name);
        }
        out.push(String(yield* reader.readline()));
        writer.close();
        server.close();
        yield* server.waitClosed();
        return out;
      }
      expect(await run(loop, main)).toEqual([40, 'LimitOverrunError', 'short\n', 'LimitOverrunError', '']);
    }));

  it('iterates lines with for await', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const server = yield* scripted('one\ntwo\nthree');
        const port = portOf(server);
        const lines = yield* fromPromise(
          (async () => {
            const [reader] = await openConnection(HOST, port);
            const got: string[] = [];
            for await (const line of reader) got.push(String(line));
            return got;
          })(),
        );
        server.close();
        yield* server.waitClosed();
        return lines;
      }
      expect(await run(loop, main)).toEqual(['one\n', 'two\n', 'three']);
    }));

  it('a read cancelled while waiting loses no data; a large readexactly does not stall on flow control', () =>
    withLoop(kind, async (loop) => {
      const big = randomBytes(1024 * 1024);
      function* main(): Coroutine<unknown> {
        const gate = loop.createFuture<void>();
        const server = yield* startServer(function* (_r, w): Coroutine<void> {
          w.write('par');
          yield* gate;
          w.write('tial line\n');
          w.write(big);
          w.close();
        }, HOST, 0);
        const [reader, writer] = yield* openConnection(HOST, portOf(server));
        let timedOut = false;
        try {
          yield* waitFor(reader.readline(), 30);
        } catch (e) {
          timedOut = e instanceof TimeoutError;
        }
        gate.setResult();
        const line = String(yield* reader.readline());
        const got = yield* reader.readexactly(big.length); // 16 × the limit
        const rest = yield* reader.read();
        writer.close();
        server.close();
        yield* server.waitClosed();
        return [timedOut, line, sha(got) === sha(big), rest.length];
      }
      expect(await run(loop, main)).toEqual([true, 'partial line\n', true, 0]);
    }));

  it('read(n) takes a waiting chunk whole, splits a longer one, and a cancelled read(n) loses nothing', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const gates = [loop.createFuture<void>(), loop.createFuture<void>(), loop.createFuture<void>()];
        const server = yield* startServer(function* (_r, w): Coroutine<void> {
          yield* gates[0]!;
          w.write('first');
          yield* gates[1]!;
          w.write('0123456789');
          yield* gates[2]!;
          w.write('last');
          w.close();
        }, HOST, 0);
        const [reader, writer] = yield* openConnection(HOST, portOf(server));
        // Waiting on an empty buffer when the chunk comes: the chunk, whole.
        const pending = reader.read(100);
        gates[0]!.setResult();
        const first = String(yield* pending);
        // A chunk longer than n: n bytes now, the rest buffered.
        const waiting = reader.read(4);
        gates[1]!.setResult();
        const head = String(yield* waiting);
        const tail = String(yield* reader.read(100));
        // Cancelled while waiting: the chunk that comes next is kept for the next read.
        let timedOut = false;
        try {
          yield* waitFor(reader.read(100), 20);
        } catch (e) {
          timedOut = e instanceof TimeoutError;
        }
        gates[2]!.setResult();
        yield* sleep(20);
        const last = String(yield* reader.read(100));
        const eof = (yield* reader.read(100)).length;
        writer.close();
        server.close();
        yield* server.waitClosed();
        return [first, head, tail, timedOut, last, eof];
      }
      expect(await run(loop, main)).toEqual(['first', '0123', '456789', true, 'last', 0]);
    }));

  it('a refused second read leaves the waiting read(n) its own n', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string[]> {
        const server = yield* startServer((_r, w) => {
          w.write('abcdefgh');
          w.close();
        }, HOST, 0);
        const [reader, writer] = yield* openConnection(HOST, portOf(server));
        const pending = reader.read(5);
        expect(() => reader.read(1)).toThrow(/already waiting/);
        const first = (yield* pending).toString();
        const rest = (yield* reader.read(100)).toString();
        writer.close();
        server.close();
        yield* server.waitClosed();
        return [first, rest];
      }
      expect(await run(loop, main)).toEqual(['abcde', 'fgh']);
    }));

  it('rejects a second concurrent read and bad read arguments', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<void> {
        const server = yield* startServer(() => {}, HOST, 0);
        const [reader, writer] = yield* openConnection(HOST, portOf(server));
        const pending = reader.readline();
        expect(() => reader.read(1)).toThrow(/already waiting/);
        expect(() => reader.readexactly(-1)).toThrow(RangeError);
        expect(() => reader.readuntil('')).toThrow(RangeError);
        expect(() => reader.read('x' as never)).toThrow(TypeError);
        pending.cancel();
        writer.close();
        server.close();
        server.abortClients();
        yield* server.waitClosed();
      }
      await run(loop, main);
      expect(() => openConnection(HOST, 0)).toThrow(); // no running loop / bad port
    }));
});

/** An error to store with setException() (asyncio's tests use ValueError). */
class StoredError extends Error {}

/** Outcome of a settled read Future, for comparing with asyncio's. */
function outcome(fut: Future<Buffer>): string {
  if (!fut.done()) return 'pending';
  if (fut.cancelled()) return 'cancelled';
  const e = fut.exception();
  if (e === null) return `ok ${JSON.stringify(fut.result().toString('latin1'))}`;
  if (e instanceof LimitOverrunError) return `LimitOverrunError ${e.consumed} ${e.message}`;
  if (e instanceof IncompleteReadError) return `IncompleteReadError ${JSON.stringify(e.partial.toString('latin1'))} ${e.expected}`;
  return `${(e as Error).constructor.name} ${(e as Error).message}`;
}

/** What is left in a reader, read without waiting. */
const rest = (reader: StreamReader) => {
  const fut = reader.read(1 << 20);
  return fut.done() ? fut.result().toString('latin1') : '(nothing; a read would wait)';
};

/** A transport stand-in that records flow control. */
function fakeTransport(): { transport: Transport; paused: () => boolean } {
  let paused = false;
  const transport = {
    pauseReading: () => {
      if (paused) throw new Error('paused twice');
      paused = true;
    },
    resumeReading: () => {
      if (!paused) throw new Error('resumed while reading');
      paused = false;
    },
  } as unknown as Transport;
  return { transport, paused: () => paused };
}

/** Futures the tests wait on, each in one of the ways a read is awaited. */
type Waiting = 'a task' | 'await' | 'a Future with a done callback';
const WAYS: Waiting[] = ['a task', 'await', 'a Future with a done callback'];

/**
 * Start `read`, have `feed` run in one callback, and return the read's
 * outcome once it settles, with the read awaited in the way `how` says: by
 * the task itself (yield*: the recheck runs in the task's turn), by an
 * async function (await), or as a Future with another done callback (the
 * recheck is a callback of its own).
 */
function* readFedInOneCallback(loop: EventLoop, how: Waiting, read: () => Future<Buffer>, feed: () => void): Coroutine<string> {
  const fut = read();
  yield* sleep(0); // the read is waiting
  expect(fut.done()).toBe(false);
  loop.callSoon(feed);
  if (how === 'a task') {
    try {
      yield* fut;
    } catch {
      // reported below
    }
  } else if (how === 'await') {
    yield* fromPromise(
      (async () => {
        try {
          await fut;
        } catch {
          // reported below
        }
      })(),
    );
  } else {
    let called = 0;
    fut.addDoneCallback(() => called++);
    while (!fut.done()) yield* sleep(0);
    yield* sleep(0);
    expect(called).toBe(1);
  }
  return outcome(fut);
}

describe.each(LOOPS)('$name loop: StreamReader fed directly (asyncio test_streams)', (kind) => {
  it.each(WAYS)('a waiting read looks at all the data fed before it resumes, awaited by %s (test_readline_limit)', (how) =>
    withLoop(kind, async (loop) => {
      const B = (s: string) => Buffer.from(s, 'latin1');
      function* main(): Coroutine<unknown> {
        const out: unknown[] = [];
        // CPython's test_readline_limit: the line is longer than the limit, and
        // its end is there when the read looks: it is discarded whole.
        for (const chunks of [
          ['chunk1', 'chunk2', 'chunk3\n'],
          ['chunk1', 'chunk2\n', 'chunk3\n'],
        ]) {
          const reader = new StreamReader({ limit: 7 });
          out.push(
            yield* readFedInOneCallback(loop, how, () => reader.readline(), () => {
              for (const c of chunks) reader.feedData(B(c));
              reader.feedEof();
            }),
          );
          out.push(rest(reader));
        }
        // A waiting read(5) takes 5 of all the bytes fed, not the first chunk.
        let reader = new StreamReader();
        out.push(
          yield* readFedInOneCallback(loop, how, () => reader.read(5), () => {
            reader.feedData(B('ab'));
            reader.feedData(B('cdefg'));
          }),
        );
        out.push(rest(reader));
        // readexactly: 'ab' alone leaves it waiting; three more chunks in one callback end it.
        reader = new StreamReader();
        out.push(
          yield* readFedInOneCallback(loop, how, () => reader.readexactly(6), () => {
            reader.feedData(B('ab'));
            loop.callSoon(() => {
              reader.feedData(B('cd'));
              reader.feedData(B('ef'));
              reader.feedData(B('gh'));
            });
          }),
        );
        out.push(rest(reader));
        // readuntil with the separator found, past the limit: the data stays.
        reader = new StreamReader({ limit: 5 });
        out.push(
          yield* readFedInOneCallback(loop, how, () => reader.readuntil('\n'), () => {
            reader.feedData(B('abc'));
            reader.feedData(B('defgh\nok\n'));
          }),
        );
        out.push(rest(reader));
        // A separator split across two chunks of one callback.
        reader = new StreamReader({ limit: 4 });
        out.push(
          yield* readFedInOneCallback(loop, how, () => reader.readuntil('XYZ'), () => {
            reader.feedData(B('abX'));
            reader.feedData(B('YZrest'));
          }),
        );
        out.push(rest(reader));
        // Data and EOF in one callback: read(-1) gets it all, readexactly the partial bytes.
        reader = new StreamReader({ limit: 2 });
        out.push(
          yield* readFedInOneCallback(loop, how, () => reader.read(), () => {
            reader.feedData(B('hello'));
            reader.feedData(B(' world'));
            reader.feedEof();
          }),
        );
        reader = new StreamReader();
        out.push(
          yield* readFedInOneCallback(loop, how, () => reader.readexactly(6), () => {
            reader.feedData(B('x'));
            reader.feedEof();
          }),
        );
        return out;
      }
      // As Python 3.13 prints for the same script (/tmp/streamfix/batch.py);
      // asyncio's readline raises ValueError with the same message.
      expect(await run(loop, main)).toEqual([
        'LimitOverrunError 18 Separator is found, but chunk is longer than limit',
        '',
        'LimitOverrunError 12 Separator is found, but chunk is longer than limit',
        'chunk3\n',
        'ok "abcde"',
        'fg',
        'ok "abcdef"',
        'gh',
        'LimitOverrunError 8 Separator is found, but chunk is longer than limit',
        'abcdefgh\nok\n',
        'ok "abXYZ"',
        'rest',
        'ok "hello world"',
        'IncompleteReadError "x" 6',
      ]);
    }));

  it('a read cancelled after data woke it takes nothing from the buffer', () =>
    withLoop(kind, async (loop) => {
      const B = (s: string) => Buffer.from(s, 'latin1');
      function* main(): Coroutine<unknown> {
        const out: unknown[] = [];
        // A task waiting in readexactly, cancelled in the callback that fed it.
        let reader = new StreamReader();
        const task = createTask(
          (function* (): Coroutine<Buffer> {
            return yield* reader.readexactly(3);
          })(),
        );
        yield* sleep(0);
        loop.callSoon(() => {
          reader.feedData(B('abc'));
          task.cancel();
        });
        try {
          yield* task;
        } catch (e) {
          out.push((e as Error).name);
        }
        out.push(rest(reader));
        // A Future read cancelled, then new reads in the same callback: one
        // served at once, one that waits; the first read's queued look at the
        // buffer changes nothing.
        reader = new StreamReader();
        const first = reader.read(5);
        let second: Future<Buffer> | null = null;
        let third: Future<Buffer> | null = null;
        loop.callSoon(() => {
          reader.feedData(B('1'));
          first.cancel();
          second = reader.read(1);
          third = reader.read(10);
        });
        yield* sleep(0);
        yield* sleep(0);
        out.push(outcome(first), outcome(second!), outcome(third!));
        loop.callSoon(() => reader.feedData(B('345')));
        out.push(String(yield* third!));
        // Cancelled, then the data comes: the next read has it all.
        const fourth = reader.read(10);
        yield* sleep(0);
        fourth.cancel();
        reader.feedData(B('67'));
        reader.feedData(B('89'));
        yield* sleep(0);
        out.push(outcome(fourth), rest(reader));
        return out;
      }
      expect(await run(loop, main)).toEqual(['CancelledError', 'abc', 'cancelled', 'ok "1"', 'pending', '345', 'cancelled', '6789']);
    }));

  it('a read(n) handed a chunk straight from the transport gives it back if its task is cancelled before it resumes', () =>
    withLoop(kind, async (loop) => {
      const B = (s: string) => Buffer.from(s, 'latin1');
      function* main(): Coroutine<unknown> {
        const out: unknown[] = [];
        const reader = new StreamReader();
        const task = createTask(
          (function* (): Coroutine<Buffer> {
            return yield* reader.read(100);
          })(),
        );
        yield* sleep(0);
        loop.callSoon(() => {
          reader._feedFromTransport(B('abc')); // the transport's path: the waiting read takes the chunk at once
          reader._feedFromTransport(B('def')); // the next read's
          task.cancel();
        });
        try {
          out.push(String(yield* task));
        } catch (e) {
          out.push((e as Error).name);
        }
        out.push(rest(reader)); // nothing lost, in order
        // Not cancelled: the read gets the first chunk alone, as asyncio's
        // read does when its task resumes before the socket's next read.
        const t2 = createTask(
          (function* (): Coroutine<Buffer> {
            return yield* reader.read(100);
          })(),
        );
        yield* sleep(0);
        loop.callSoon(() => {
          reader._feedFromTransport(B('gh'));
          reader._feedFromTransport(B('ij'));
        });
        out.push(String(yield* t2), rest(reader));
        return out;
      }
      expect(await run(loop, main)).toEqual(['CancelledError', 'abcdef', 'gh', 'ij']);
    }));

  it('flow control: pauses past 2 × limit, resumes for a waiting read and once drained', () =>
    withLoop(kind, async (loop) => {
      const B = (s: string) => Buffer.from(s, 'latin1');
      function* main(): Coroutine<unknown> {
        const reader = new StreamReader({ limit: 4 });
        const { transport, paused } = fakeTransport();
        reader.setTransport(transport);
        const out: unknown[] = [];
        const state = (label: string) => out.push(`${label}: ${paused() ? 'paused' : 'reading'} ${reader._size}`);
        reader.feedData(B('abcdefghij'));
        state('fed 10, no read');
        // A read that needs more than the buffer holds must not wait on a paused transport.
        let fut = reader.readexactly(20);
        state('readexactly(20) waits');
        loop.callSoon(() => {
          reader.feedData(B('klmnopqrst'));
          reader.feedData(B('uvwxyz0123'));
        });
        out.push(String(yield* fut));
        state('two more chunks end it');
        out.push(String(yield* reader.read(100)));
        state('read(100) drains');
        // Waiting, and still short after 12 bytes (> 2 × limit): reading goes on.
        fut = reader.readexactly(30);
        loop.callSoon(() => reader.feedData(B('x'.repeat(12))));
        yield* sleep(0);
        yield* sleep(0);
        state('readexactly(30) still waits');
        loop.callSoon(() => reader.feedData(B('y'.repeat(20))));
        out.push((yield* fut).length);
        state('20 more end it');
        reader.feedData(B('z'.repeat(20)));
        state('fed 20, no read');
        try {
          yield* reader.readline();
        } catch (e) {
          out.push((e as Error).name);
        }
        state('readline discarded the long line');
        return out;
      }
      // The states Python 3.13 shows for the same steps (/tmp/streamfix/flow.py).
      expect(await run(loop, main)).toEqual([
        'fed 10, no read: paused 10',
        'readexactly(20) waits: reading 10',
        'abcdefghijklmnopqrst',
        'two more chunks end it: paused 10',
        'uvwxyz0123',
        'read(100) drains: reading 0',
        'readexactly(30) still waits: reading 12',
        30,
        '20 more end it: reading 2',
        'fed 20, no read: paused 22',
        'LimitOverrunError',
        'readline discarded the long line: reading 0',
      ]);
    }));

  it('read(0) and readexactly(0) raise the stored exception; a woken read(n) returns the data first', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const out: unknown[] = [];
        let reader = new StreamReader();
        reader.feedData(Buffer.from('data'));
        out.push(outcome(reader.read(0)), outcome(reader.readexactly(0)));
        reader.setException(new StoredError('boom'));
        out.push(
          outcome(reader.read(0)),
          outcome(reader.readexactly(0)),
          outcome(reader.read(2)),
          outcome(reader.readexactly(2)),
          outcome(reader.readuntil('a')),
          outcome(reader.readline()),
        );
        // A waiting read fails with it.
        reader = new StreamReader();
        let fut = reader.readline();
        loop.callSoon(() => reader.setException(new StoredError('lost')));
        yield* sleep(0);
        out.push(outcome(fut));
        // Data, then the error, in one callback: the woken read(n) has its bytes, the next read the error.
        reader = new StreamReader();
        fut = reader.read(10);
        loop.callSoon(() => {
          reader.feedData(Buffer.from('abc'));
          reader.setException(new StoredError('lost'));
        });
        out.push(String(yield* fut), outcome(reader.read(10)));
        return out;
      }
      expect(await run(loop, main)).toEqual([
        'ok ""',
        'ok ""',
        'StoredError boom',
        'StoredError boom',
        'StoredError boom',
        'StoredError boom',
        'StoredError boom',
        'StoredError boom',
        'StoredError lost',
        'abc',
        'StoredError lost',
      ]);
    }));

  it('readuntil with an array of separators ends at the earliest end (3.13 tuples)', () =>
    withLoop(kind, async (loop) => {
      const B = (s: string) => Buffer.from(s, 'latin1');
      function* main(): Coroutine<unknown> {
        const out: unknown[] = [];
        // CPython's test_readuntil_multi_separator.
        let reader = new StreamReader();
        reader.feedData(B('line 1\nline 2\r'));
        out.push(outcome(reader.readuntil(['\r', '\n'])), outcome(reader.readuntil([B('\r'), new Uint8Array([10])])));
        reader.feedData(B('ABCDEFG'));
        out.push(outcome(reader.readuntil(['DEF', 'BCDE'])), rest(reader)); // the first end, though a longer match
        // test_readuntil_multi_separator_limit: the data stays.
        reader = new StreamReader({ limit: 3 });
        reader.feedData(B('some dataA'));
        out.push(outcome(reader.readuntil(['A', 'ome dataA'])), rest(reader));
        // Two separators end at the same place: the shorter one matched (consumed is its start).
        reader = new StreamReader({ limit: 5 });
        reader.feedData(B('aaaaaXA'));
        out.push(outcome(reader.readuntil(['XA', 'A'])), outcome(reader.readuntil(['A', 'XA'])));
        reader = new StreamReader({ limit: 6 });
        reader.feedData(B('aaaaaXA'));
        out.push(outcome(reader.readuntil(['XA', 'A'])));
        // Not found: what may still hold the longest separator's start stays unconsumed.
        reader = new StreamReader({ limit: 4 });
        reader.feedData(B('0123456789'));
        out.push(outcome(reader.readuntil(['Q', 'QRSTU'])));
        reader = new StreamReader({ limit: 4 });
        reader.feedData(B('012345'));
        const waiting = reader.readuntil(['Q', 'QRSTU']);
        out.push(outcome(waiting));
        reader.feedEof();
        yield* sleep(0);
        out.push(outcome(waiting));
        // test_readuntil_multi_separator_negative_offset: fed in two callbacks while it waits.
        reader = new StreamReader();
        reader.feedData(B('data'));
        let fut = reader.readuntil(['A', 'long sep']);
        loop.callSoon(() => reader.feedData(B('Z')));
        loop.callSoon(() => reader.feedData(B('Aaaa')));
        out.push(String(yield* fut), rest(reader));
        // Waiting, a longer separator completed by the same callback as a shorter one later on.
        reader = new StreamReader();
        fut = reader.readuntil(['--END--', '\n']);
        loop.callSoon(() => {
          reader.feedData(B('head--EN'));
          reader.feedData(B('D--x\ny'));
        });
        out.push(String(yield* fut), rest(reader));
        // EOF without a separator.
        reader = new StreamReader();
        fut = reader.readuntil(['\r\n', '\n\n']);
        loop.callSoon(() => {
          reader.feedData(B('abc\r'));
          reader.feedEof();
        });
        yield* sleep(0);
        yield* sleep(0);
        out.push(outcome(fut));
        // One element, duplicates.
        reader = new StreamReader();
        reader.feedData(B('x;y;z'));
        out.push(outcome(reader.readuntil([';'])), outcome(reader.readuntil([';', ';'])));
        // Bad separators throw at once.
        for (const sep of [[], [''], ['a', ''], '', [new Uint8Array(0)]]) {
          try {
            reader.readuntil(sep);
          } catch (e) {
            out.push(`${(e as Error).constructor.name}: ${(e as Error).message}`);
          }
        }
        expect(() => reader.readuntil(['a', 5 as never])).toThrow(TypeError);
        return out;
      }
      // As Python 3.13 prints for the same script (/tmp/streamfix/seps.py).
      expect(await run(loop, main)).toEqual([
        'ok "line 1\\n"',
        'ok "line 2\\r"',
        'ok "ABCDE"',
        'FG',
        'LimitOverrunError 9 Separator is found, but chunk is longer than limit',
        'some dataA',
        'LimitOverrunError 6 Separator is found, but chunk is longer than limit',
        'LimitOverrunError 6 Separator is found, but chunk is longer than limit',
        'ok "aaaaaXA"',
        'LimitOverrunError 6 Separator is not found, and chunk exceed the limit',
        'pending',
        'IncompleteReadError "012345" null',
        'dataZA',
        'aaa',
        'head--END--',
        'x\ny',
        'IncompleteReadError "abc\\r" null',
        'ok "x;"',
        'ok "y;"',
        'RangeError: Separator should contain at least one element',
        'RangeError: Separator should be at least one-byte string',
        'RangeError: Separator should be at least one-byte string',
        'RangeError: Separator should be at least one-byte string',
        'RangeError: Separator should be at least one-byte string',
      ]);
    }));
});

describe.each(LOOPS)('$name loop: startServer and StreamWriter', (kind) => {
  it('accepts plain, generator and async onClient callbacks', () =>
    withLoop(kind, async (loop) => {
      const handlers = {
        plain: (_r: StreamReader, w: StreamWriter) => {
          w.write('plain\n');
          w.close();
        },
        generator: function* (r: StreamReader, w: StreamWriter): Coroutine<void> {
          const line = yield* r.readline();
          w.write(`gen:${line}`);
          w.close();
        },
        async: async (r: StreamReader, w: StreamWriter) => {
          const line = await r.readline();
          w.write(`async:${line}`);
          w.close();
          await w.waitClosed();
        },
      };
      function* main(): Coroutine<string[]> {
        const out: string[] = [];
        for (const h of Object.values(handlers)) {
          const server = yield* startServer(h, HOST, 0);
          const [reader, writer] = yield* openConnection(HOST, portOf(server));
          writer.write('hi\n');
          out.push(String(yield* reader.read()));
          writer.close();
          server.close();
          yield* server.waitClosed();
        }
        return out;
      }
      expect(await run(loop, main)).toEqual(['plain\n', 'gen:hi\n', 'async:hi\n']);
    }));

  it('an onClient error goes to the exception handler and closes only that connection', () =>
    withLoop(kind, async (loop) => {
      const contexts: ExceptionContext[] = [];
      loop.setExceptionHandler((_l, ctx) => contexts.push(ctx));
      function* main(): Coroutine<unknown> {
        const server = yield* startServer(function* (r, w): Coroutine<void> {
          const line = String(yield* r.readline());
          if (line === 'fail\n') throw new Error('client handler failed');
          w.write(line);
          w.close();
        }, HOST, 0);
        const port = portOf(server);
        const [r1, w1] = yield* openConnection(HOST, port);
        const [r2, w2] = yield* openConnection(HOST, port);
        w1.write('fail\n');
        const gone = yield* r1.read();
        w2.write('fine\n');
        const ok = String(yield* r2.read());
        w1.close();
        w2.close();
        server.close();
        yield* server.waitClosed();
        return [gone.length, ok];
      }
      expect(await run(loop, main)).toEqual([0, 'fine\n']);
      expect(contexts).toHaveLength(1);
      expect(String((contexts[0]!.exception as Error).message)).toBe('client handler failed');
    }));

  it('serves 500 concurrent connections', () =>
    withLoop(kind, async (loop) => {
      function* client(port: number, i: number): Coroutine<string> {
        const [reader, writer] = yield* openConnection(HOST, port);
        writer.write(`hello ${i}\n`);
        const line = String(yield* reader.readline());
        writer.close();
        yield* writer.waitClosed();
        return line;
      }
      function* main(): Coroutine<boolean> {
        const server = yield* startServer(echoLines, HOST, 0, { backlog: 511 });
        const port = portOf(server);
        const lines = yield* gather(Array.from({ length: 500 }, (_, i) => client(port, i)));
        server.close();
        yield* server.waitClosed();
        return lines.every((l, i) => l === `hello ${i}\n`);
      }
      expect(await run(loop, main)).toBe(true);
    }));

  it('drain() waits for the peer and fails after the connection is lost', () =>
    withLoop(kind, async (loop) => {
      const payload = randomBytes(8 * 1024 * 1024);
      function* main(): Coroutine<unknown> {
        const server = yield* startServer(function* (r, w): Coroutine<void> {
          const all = yield* r.read();
          w.write(sha(all));
          w.close();
        }, HOST, 0);
        const [reader, writer] = yield* openConnection(HOST, portOf(server));
        let paused = 0;
        for (let i = 0; i < payload.length; i += 256 * 1024) {
          writer.write(payload.subarray(i, i + 256 * 1024));
          if (writer.transport.getWriteBufferSize() > 65536) paused++;
          yield* writer.drain();
        }
        writer.writeEof();
        const digest = String(yield* reader.read());
        yield* writer.waitClosed();
        let lost = '';
        try {
          yield* writer.drain();
        } catch (e) {
          lost = (e as Error).message;
        }
        server.close();
        yield* server.waitClosed();
        return [digest === sha(payload), paused > 0, lost];
      }
      expect(await run(loop, main)).toEqual([true, true, 'Connection lost']);
    }));

  it('works over Unix sockets', () =>
    withLoop(kind, async (loop) => {
      const p = unixPath();
      function* main(): Coroutine<unknown> {
        const server = yield* startUnixServer(echoLines, p);
        const [reader, writer] = yield* openUnixConnection(p);
        writer.writelines(['a\n', Buffer.from('b\n')]);
        const got = [String(yield* reader.readline()), String(yield* reader.readline())];
        expect(writer.getExtraInfo('peername')).toBe(p);
        expect(writer.canWriteEof()).toBe(true);
        writer.writeEof();
        got.push(String(yield* reader.read()));
        yield* writer.waitClosed();
        expect(writer.isClosing()).toBe(true);
        server.close();
        yield* server.waitClosed();
        return got;
      }
      expect(await run(loop, main)).toEqual(['a\n', 'b\n', '']);
    }));

  it('bad arguments throw synchronously', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<void> {
        expect(() => openConnection(5 as never, 80)).toThrow(TypeError);
        expect(() => openConnection(HOST, 0)).toThrow(RangeError);
        expect(() => openConnection(HOST, 80, { limit: 0 })).toThrow(RangeError);
        expect(() => startServer('x' as never, HOST, 0)).toThrow(TypeError);
        expect(() => startServer(() => {}, HOST, 99999)).toThrow(RangeError);
        expect(() => startUnixServer(() => {}, 3 as never)).toThrow(TypeError);
        expect(() => openUnixConnection('')).toThrow(TypeError);
        let code = '';
        try {
          yield* openConnection(HOST, 1);
        } catch (e) {
          code = (e as NodeJS.ErrnoException).code ?? '';
        }
        expect(code).toBe('ECONNREFUSED');
      }
      await run(loop, main);
    }));
});

describe.each(LOOPS)('$name loop: Python asyncio peers', (kind) => {
  it('a Python asyncio echo client talks to an aioloop server', () =>
    withLoop(kind, async (loop) => {
      const py = `
import asyncio, hashlib, sys
async def main(port):
    r, w = await asyncio.open_connection('127.0.0.1', port)
    w.write(b'hello from python\\n')
    line = await r.readline()
    data = bytes(range(256)) * 4096
    w.write(data)
    await w.drain()
    w.write_eof()
    rest = await r.read()
    w.close()
    await w.wait_closed()
    print(line.decode().strip(), hashlib.sha256(rest).hexdigest() == hashlib.sha256(data).hexdigest(), len(rest))
asyncio.run(main(int(sys.argv[1])))
`;
      function* main(): Coroutine<unknown> {
        const server = yield* startServer(function* (r, w): Coroutine<void> {
          w.write(yield* r.readline());
          for (;;) {
            const chunk = yield* r.read(65536);
            if (chunk.length === 0) break;
            w.write(chunk);
            yield* w.drain();
          }
          w.close();
        }, HOST, 0);
        const port = portOf(server);
        const res = yield* fromPromise(
          new Promise<PyResult>((resolve, reject) => {
            const child = spawn('python3', ['-c', py, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
            let stdout = '';
            let stderr = '';
            child.stdout.on('data', (d) => (stdout += d));
            child.stderr.on('data', (d) => (stderr += d));
            child.on('error', reject);
            child.on('close', (code) => resolve({ code, stdout, stderr }));
          }),
        );
        server.close();
        yield* server.waitClosed();
        return res;
      }
      const res = (await run(loop, main)) as PyResult;
      expect(res.stderr).toBe('');
      expect(res.stdout.trim()).toBe(`hello from python True ${256 * 4096}`);
      expect(res.code).toBe(0);
    }));

  it('an aioloop client talks to a Python asyncio echo server', () =>
    withLoop(kind, async (loop) => {
      const pyServer = `
import asyncio
async def echo(r, w):
    while True:
        data = await r.read(65536)
        if not data:
            break
        w.write(data)
        await w.drain()
    w.close()
async def main():
    server = await asyncio.start_server(echo, '127.0.0.1', 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await asyncio.sleep(10)
asyncio.run(main())
`;
      const payload = randomBytes(1024 * 1024);
      function* main(): Coroutine<unknown> {
        const portFut = loop.createFuture<number>();
        const py3 = python(pyServer, (line) => {
          if (!portFut.done()) loop.callSoon(() => portFut.done() || portFut.setResult(Number(line)));
        });
        void py3.done.then((r) => {
          if (!portFut.done()) loop.callSoon(() => portFut.done() || portFut.setException(new Error(r.stderr)));
        });
        const port = yield* portFut;
        const [reader, writer] = yield* openConnection(HOST, port);
        writer.write('ping\n');
        const line = String(yield* reader.readline());
        writer.write(payload);
        writer.writeEof();
        const rest = yield* reader.read();
        writer.close();
        yield* writer.waitClosed();
        py3.kill();
        return { line, same: sha(rest) === sha(payload) };
      }
      expect(await run(loop, main)).toEqual({ line: 'ping\n', same: true });
    }));
});
