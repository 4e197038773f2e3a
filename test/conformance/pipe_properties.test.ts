/**
 * Property tests of datagram endpoints and subprocess pipes, on every loop,
 * over real sockets and real processes: for random datagram sizes (0 bytes
 * to the IPv4 maximum), windows of datagrams in flight, and connected or
 * unconnected endpoints, every datagram comes back from an echo endpoint
 * whole and in order; for random write schedules into `cat` through a
 * Process's StreamWriter (with drain() now and then) and random read sizes
 * from its StreamReader, what comes out is exactly what went in; for
 * children that exit by themselves or are signalled at random moments,
 * every wait() gives the exit status or minus the signal that came first,
 * and every child is reaped.
 *
 * fast-check prints the seed and the shrunk case of a failure; replay one
 * with `fc.assert(..., { seed, path })` in this file.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createSubprocessExec,
  fromPromise,
  getRunningLoop,
  type Coroutine,
  type DatagramProtocol,
  type DatagramTransport,
  type EventLoop,
  type Future,
  type Process,
  type SockAddr,
} from '../../lib/index.js';
import { LOOPS, withLoop } from '../loops.js';

const HOST = '127.0.0.1';
/** The largest UDP payload over IPv4 (65,535 - 8 - 20). */
const MAX_DATAGRAM = 65_507;
/** Bytes in flight at most: well under the loopback receive buffer, so nothing is dropped. */
const MAX_IN_FLIGHT = 150 * 1024;

/** Deterministic bytes, different for every (i, size). */
function bytesFor(i: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let k = 0; k < size; k++) b[k] = (i * 97 + k * 13 + (k >> 9)) & 0xff;
  return b;
}

class Echo implements DatagramProtocol {
  t!: DatagramTransport;
  connectionMade(t: unknown): void {
    this.t = t as DatagramTransport;
  }
  datagramReceived(data: Buffer, addr: [string, number]): void {
    this.t.sendto(data, addr);
  }
}

class Collector implements DatagramProtocol {
  got: Buffer[] = [];
  errors: Error[] = [];
  private waiting: { count: number; fut: Future<void> } | null = null;
  connectionMade(): void {}
  datagramReceived(data: Buffer): void {
    this.got.push(Buffer.from(data));
    if (this.waiting !== null && this.got.length >= this.waiting.count) {
      this.waiting.fut.setResult();
      this.waiting = null;
    }
  }
  errorReceived(err: Error): void {
    this.errors.push(err);
  }
  /** Resolves once `count` datagrams arrived in all. */
  until(count: number): Future<void> {
    const fut = getRunningLoop().createFuture<void>();
    if (this.got.length >= count) fut.setResult();
    else this.waiting = { count, fut };
    return fut;
  }
}

const datagramCase = fc.record({
  sizes: fc.array(
    fc.oneof(
      { arbitrary: fc.integer({ min: 0, max: 1500 }), weight: 4 },
      { arbitrary: fc.integer({ min: 1501, max: MAX_DATAGRAM }), weight: 1 },
      { arbitrary: fc.constantFrom(0, 1, MAX_DATAGRAM - 1, MAX_DATAGRAM), weight: 1 },
    ),
    { minLength: 1, maxLength: 40 },
  ),
  window: fc.integer({ min: 1, max: 8 }),
  connected: fc.boolean(),
});
type DatagramCase = typeof datagramCase extends fc.Arbitrary<infer T> ? T : never;

function* datagramRun(loop: EventLoop, c: DatagramCase): Coroutine<void> {
  const [server] = yield* fromPromise(loop.createDatagramEndpoint(() => new Echo(), { localAddr: [HOST, 0] }));
  const port = (server.getExtraInfo('sockname') as SockAddr).port;
  const opts = c.connected ? { remoteAddr: [HOST, port] as [string, number] } : { localAddr: [HOST, 0] as [string, number] };
  const [client, collector] = yield* fromPromise(loop.createDatagramEndpoint(() => new Collector(), opts));
  try {
    const sent = c.sizes.map((size, i) => bytesFor(i, size));
    let next = 0;
    while (next < sent.length) {
      // A window of datagrams, no more bytes in flight than the receive buffers hold.
      let bytes = 0;
      const start = next;
      while (next < sent.length && next - start < c.window && bytes + sent[next]!.length <= MAX_IN_FLIGHT) {
        bytes += sent[next]!.length;
        if (c.connected) client.sendto(sent[next]!);
        else client.sendto(sent[next]!, [HOST, port]);
        next++;
      }
      yield* collector.until(next);
    }
    expect(collector.errors).toEqual([]);
    expect(collector.got.map((b) => b.length)).toEqual(sent.map((b) => b.length));
    for (let i = 0; i < sent.length; i++) expect(collector.got[i]!.equals(sent[i]!), `datagram ${i}`).toBe(true);
  } finally {
    client.close();
    server.close();
  }
}

const pipeCase = fc.record({
  writes: fc.array(
    fc.record({
      size: fc.oneof({ arbitrary: fc.integer({ min: 0, max: 4096 }), weight: 3 }, { arbitrary: fc.integer({ min: 4097, max: 300 * 1024 }), weight: 1 }),
      drain: fc.boolean(),
    }),
    { minLength: 1, maxLength: 15 },
  ),
  readSize: fc.constantFrom(-1, 1, 100, 4096, 65536, 1 << 20),
});
type PipeCase = typeof pipeCase extends fc.Arbitrary<infer T> ? T : never;

function* pipeRun(c: PipeCase): Coroutine<void> {
  const proc = yield* createSubprocessExec('cat', [], { stdin: 'pipe', stdout: 'pipe', stderr: 'inherit' });
  const sent = c.writes.map((w, i) => bytesFor(i, w.size));
  const want = Buffer.concat(sent);
  // The reader runs beside the writer: cat blocks once its stdout pipe is full.
  const reader = getRunningLoop().createTask(
    (function* readAll(): Coroutine<Buffer> {
      const parts: Buffer[] = [];
      for (;;) {
        const chunk = c.readSize === -1 ? yield* proc.stdout!.read(-1) : yield* proc.stdout!.read(c.readSize);
        if (chunk.length === 0) return Buffer.concat(parts);
        if (c.readSize > 0) expect(chunk.length).toBeLessThanOrEqual(c.readSize);
        parts.push(chunk);
      }
    })(),
  );
  for (let i = 0; i < sent.length; i++) {
    proc.stdin!.write(sent[i]!);
    if (c.writes[i]!.drain) yield* proc.stdin!.drain();
  }
  proc.stdin!.close();
  const got = yield* reader;
  expect(yield* proc.wait()).toBe(0);
  expect(got.length).toBe(want.length);
  expect(got.equals(want)).toBe(true);
}

describe.each(LOOPS)('$name loop: datagram and pipe properties', (kind) => {
  it('echoes every datagram whole and in order, for random sizes up to 65,507 bytes and windows', () =>
    withLoop(kind, async (loop) => {
      await fc.assert(
        fc.asyncProperty(datagramCase, async (c) => {
          await loop.runUntilComplete(datagramRun(loop, c));
        }),
        { numRuns: 25, endOnFailure: true },
      );
    }), 60_000);

  it("gets back exactly what it wrote into cat, for random write schedules and read sizes", () =>
    withLoop(kind, async (loop) => {
      await fc.assert(
        fc.asyncProperty(pipeCase, async (c) => {
          await loop.runUntilComplete(pipeRun(c));
        }),
        { numRuns: 15, endOnFailure: true },
      );
    }), 60_000);
});

/** A child's plan: how it would end by itself, and what we do to it meanwhile. */
const childCase = fc.record({
  program: fc.constantFrom<['sh', string[]]>(['sh', ['-c', 'exit 0']], ['sh', ['-c', 'exit 3']], ['sh', ['-c', 'sleep 0.02; exit 5']], ['sh', ['-c', 'exec sleep 30']]),
  /** Send this signal after `afterMs` (0: none). */
  signal: fc.constantFrom(0, 9, 15, 2),
  afterMs: fc.constantFrom(0, 1, 5, 30),
});

/** `pid` is gone, not even a zombie (reaped). */
function reaped(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function* childrenRun(loop: EventLoop, cases: (typeof childCase extends fc.Arbitrary<infer T> ? T : never)[]): Coroutine<void> {
  const procs: Process[] = [];
  for (const c of cases) procs.push(yield* createSubprocessExec(c.program[0], c.program[1], { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' }));
  const selfExit = (c: (typeof cases)[number]) => (c.program[1][1]!.includes('exit 3') ? 3 : c.program[1][1]!.includes('exit 5') ? 5 : c.program[1][1]!.includes('sleep 30') ? null : 0);
  cases.forEach((c, i) => {
    if (c.signal !== 0) loop.callLater(c.afterMs, () => procs[i]!.sendSignal(c.signal));
    else if (selfExit(c) === null) loop.callLater(c.afterMs, () => procs[i]!.kill()); // never let `sleep 30` run out the test
  });
  const codes: number[] = [];
  for (const p of procs) codes.push(yield* p.wait());
  cases.forEach((c, i) => {
    const code = codes[i]!;
    const own = selfExit(c);
    // Its own exit status, or minus the signal that ended it first.
    const byItself = own !== null && code === own;
    const bySignal = code === -(c.signal === 0 ? 9 : c.signal);
    expect(byItself || bySignal, `child ${i} (${c.program[1][1]}, signal ${c.signal} after ${c.afterMs} ms) ended with ${code}`).toBe(true);
    expect(procs[i]!.returncode).toBe(code);
    expect(reaped(procs[i]!.pid)).toBe(true);
  });
}

describe.each(LOOPS)('$name loop: children under random signals', (kind) => {
  it('reports every exit status or killing signal, and reaps every child', () =>
    withLoop(kind, async (loop) => {
      await fc.assert(
        fc.asyncProperty(fc.array(childCase, { minLength: 1, maxLength: 4 }), async (cases) => {
          await loop.runUntilComplete(childrenRun(loop, cases));
        }),
        { numRuns: 25 },
      );
    }), 60_000);
});
