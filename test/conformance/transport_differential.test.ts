/**
 * Differential test of the two loops' transports: the same random sequence
 * of transport calls (writes of every kind of value, writeEof, close, abort,
 * pause and resume, write-buffer limits, extra info, protocol switches),
 * with random arguments, on a TCP connection and a datagram endpoint of a
 * default loop and of a native loop, must give the same result for every
 * call (the same value, or the same error class thrown), the same protocol
 * events on both ends, and the same bytes at the peer (unless the sequence
 * aborted the connection, when how much left first depends on timing).
 *
 * fast-check prints the seed and the shrunk sequence of a failure; replay
 * one with `fc.assert(..., { seed, path })` in this file.
 */
import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DefaultLoop,
  createSubprocessExec,
  NativeLoop,
  fromPromise,
  sleep,
  type Coroutine,
  type DatagramTransport,
  type EventLoop,
  type Future,
  type SockAddr,
  type Transport,
} from '../../lib/index.js';
import { loadAddon } from '../../lib/loops/native/addon.js';

const HOST = '127.0.0.1';
const hostile = fc.constantFrom<unknown>(
  undefined, null, NaN, -1, 0, 1.5, 2 ** 53, true, '', 'text', 'ü€', 7n, {}, [], [1, 2], ['a', 'b'], [new Uint8Array(3)],
  new Uint8Array(0), new Uint8Array(5), Buffer.from('buf'), new Uint16Array(2), new ArrayBuffer(4), new DataView(new ArrayBuffer(2)),
  Symbol.for('s'), () => 1, { high: 10 }, { high: 10, low: 20 }, { low: 5 }, { high: -1 }, { high: 'x' },
  ['127.0.0.1', 9], { address: '127.0.0.1', port: 9 }, ['x', 1], ['127.0.0.1', 70000],
);
const extraName = fc.constantFrom<unknown>('peername', 'sockname', 'socket', 'nope', 5, undefined);

/** One call on a transport: its method and arguments. */
const streamCall = fc.oneof(
  fc.record({ m: fc.constantFrom('write', 'writelines', 'setWriteBufferLimits', 'setProtocol'), args: fc.array(hostile, { maxLength: 2 }) }),
  fc.record({ m: fc.constantFrom('writeEof', 'canWriteEof', 'pauseReading', 'resumeReading', 'isReading', 'isClosing', 'getWriteBufferLimits', 'close', 'abort'), args: fc.constant([]) }),
  fc.record({ m: fc.constant('getExtraInfo'), args: fc.tuple(extraName) }),
);
const datagramCall = fc.oneof(
  fc.record({ m: fc.constant('sendto'), args: fc.array(hostile, { maxLength: 2 }) }),
  fc.record({ m: fc.constantFrom('isClosing', 'getWriteBufferSize', 'close', 'abort'), args: fc.constant([]) }),
  fc.record({ m: fc.constant('getExtraInfo'), args: fc.tuple(extraName) }),
);
/** One step on a server: a method, or a client connecting (`connect`) or leaving (`disconnect`). */
const serverCall = fc.oneof(
  fc.record({ m: fc.constantFrom('close', 'isServing', 'closeClients', 'abortClients', 'addresses', 'connect', 'connect', 'disconnect', 'startServing'), args: fc.constant([] as unknown[]) }),
);
type Call = { m: string; args: unknown[] };

/** What a call gave, in a form both loops can be compared by (ports and sockets are not: they differ by nature). */
function result(fn: () => unknown): string {
  try {
    let v = fn();
    if (v !== null && typeof v === 'object' && 'port' in v) v = { ...v, port: typeof (v as SockAddr).port };
    if (v === undefined || v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return `= ${String(v)}`;
    if (Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype) return `= ${inspect(v, { breakLength: Infinity })}`;
    return `= ${(v as object).constructor?.name ?? typeof v}`;
  } catch (e) {
    return `threw ${e instanceof Error ? e.constructor.name : typeof e}`;
  }
}

/** Records a protocol's events (data counted, not kept). */
function recorder() {
  const events: string[] = [];
  let bytes = 0;
  return {
    events,
    bytes: () => bytes,
    protocol: {
      connectionMade: () => events.push('made'),
      dataReceived: (d: Buffer) => {
        if (events.at(-1) !== 'data') events.push('data');
        bytes += d.length;
      },
      eofReceived: () => {
        events.push('eof');
        return false;
      },
      connectionLost: (err: Error | null) => events.push(err === null ? 'lost' : `lost ${err.constructor.name}`),
      datagramReceived: (d: Buffer) => {
        events.push('datagram');
        bytes += d.length;
      },
      errorReceived: (err: Error) => events.push(`error ${(err as NodeJS.ErrnoException).code ?? err.constructor.name}`),
    },
  };
}

function* streamRun(loop: EventLoop, calls: Call[]): Coroutine<string[]> {
  const server = recorder();
  const client = recorder();
  const listener = yield* fromPromise(loop.createServer(() => server.protocol, HOST, 0));
  try {
    const [t] = yield* fromPromise(loop.createConnection(() => client.protocol, HOST, (listener.addresses()[0] as SockAddr).port));
    const out: string[] = [];
    for (const c of calls) {
      const args = c.m === 'setProtocol' && c.args.length > 0 && typeof c.args[0] === 'object' && c.args[0] !== null ? [recorder().protocol] : c.args;
      out.push(`${c.m}: ${c.m === 'getExtraInfo' && args[0] === 'socket' ? 'a socket object (differs by design)' : result(() => (t as unknown as Record<string, (...a: unknown[]) => unknown>)[c.m]!(...args))}`);
    }
    t.close();
    // Long enough for every byte and event of a local connection to land.
    for (let i = 0; i < 20 && !(server.events.includes('lost') && client.events.at(-1)?.startsWith('lost')); i++) yield* sleep(5);
    const aborted = calls.some((c) => c.m === 'abort');
    out.push(`client events: ${client.events.join(' ')}`);
    out.push(`server events: ${aborted ? server.events.filter((e) => e !== 'data').join(' ') : server.events.join(' ')}`);
    if (!aborted) out.push(`server bytes: ${server.bytes()}`);
    return out;
  } finally {
    listener.close();
    yield* listener.waitClosed();
  }
}

function* datagramRun(loop: EventLoop, calls: Call[]): Coroutine<string[]> {
  const peer = recorder();
  const [p] = yield* fromPromise(loop.createDatagramEndpoint(() => peer.protocol, { localAddr: [HOST, 0] }));
  const port = (p.getExtraInfo('sockname') as SockAddr).port;
  const me = recorder();
  const [t] = yield* fromPromise(loop.createDatagramEndpoint(() => me.protocol, { localAddr: [HOST, 0] }));
  try {
    const out: string[] = [];
    for (const c of calls) {
      // An address in the pool means the peer.
      const args = c.args.map((a) => (Array.isArray(a) && a[0] === '127.0.0.1' && a[1] === 9 ? [HOST, port] : a));
      const r = result(() => (t as unknown as Record<string, (...a: unknown[]) => unknown>)[c.m]!(...args));
      // The bytes not yet sent depend on timing: Node's dgram reports a send as
      // done in a later callback, the native loop when the kernel took it.
      const shown = c.m === 'getWriteBufferSize' ? r.replace(/= \d+$/, '= a number') : r;
      out.push(`${c.m}: ${c.m === 'getExtraInfo' && args[0] === 'socket' ? 'a socket object (differs by design)' : shown}`);
    }
    yield* sleep(20);
    out.push(`sender events: ${me.events.join(' ')}`);
    out.push(`peer events: ${peer.events.join(' ')} (${peer.bytes()} bytes)`);
    return out;
  } finally {
    (t as DatagramTransport).close();
    p.close();
  }
}

function* serverRun(loop: EventLoop, calls: Call[]): Coroutine<string[]> {
  const served: ReturnType<typeof recorder>[] = [];
  const server = yield* fromPromise(loop.createServer(() => {
    const r = recorder();
    served.push(r);
    return r.protocol;
  }, HOST, 0));
  const port = (server.addresses()[0] as SockAddr).port;
  const clients: [Transport, ReturnType<typeof recorder>][] = [];
  const out: string[] = [];
  let serving = null as Future<void> | null; // set inside result() below
  for (const c of calls) {
    if (c.m === 'connect') {
      const r = recorder();
      const ended = yield* fromPromise(loop.createConnection(() => r.protocol, HOST, port).then(([t]) => { clients.push([t, r]); return 'connected'; }, (e: NodeJS.ErrnoException) => `refused ${e.code}`));
      yield* sleep(2); // the server side accepts
      out.push(`connect: ${ended}`);
    } else if (c.m === 'disconnect') {
      const client = clients.shift();
      client?.[0].close();
      yield* sleep(2);
      out.push(`disconnect: ${client === undefined ? 'none' : 'closed'}`);
    } else if (c.m === 'startServing') {
      out.push(`startServing: ${result(() => (serving ??= server.serveForever()).done())}`);
    } else {
      const r = result(() => (server as unknown as Record<string, (...a: unknown[]) => unknown>)[c.m]!());
      out.push(`${c.m}: ${c.m === 'addresses' ? r.replace(/port: 'number'|\d{4,5}/g, 'PORT') : r}`);
    }
  }
  server.close();
  for (const [t] of clients) t.close();
  yield* server.waitClosed();
  yield* sleep(5);
  out.push(`serveForever: ${serving === null ? 'not started' : serving.cancelled() ? 'cancelled' : serving.done() ? 'done' : 'pending'}`);
  out.push(`served: ${served.map((r) => r.events.join(' ')).join(' | ')}`);
  out.push(`clients: ${clients.map(([, r]) => r.events.join(' ')).join(' | ')}`);
  return out;
}

async function onBoth(body: (loop: EventLoop) => Coroutine<string[]>): Promise<[string[], string[]]> {
  const ends: string[][] = [];
  for (const make of [() => new DefaultLoop(), () => new NativeLoop()]) {
    const loop = make();
    try {
      ends.push(await loop.runUntilComplete(body(loop)));
    } finally {
      await loop.runUntilComplete(new Promise((r) => setTimeout(r, 1)));
      loop.close();
    }
  }
  return [ends[0]!, ends[1]!];
}

/**
 * One step on a child (`cat`): a Process method, or a write to its stdin.
 * Its stdin closes only at the end, so the child never ends by itself while
 * signals race with it: how it ends does not depend on timing.
 */
const processCall = fc.oneof(
  fc.record({ m: fc.constantFrom('terminate', 'kill', 'returncode', 'wait'), args: fc.constant([] as unknown[]) }),
  fc.record({ m: fc.constant('sendSignal'), args: fc.tuple(fc.constantFrom<unknown>('SIGTERM', 'SIGUSR2', 'SIGCONT', 0, 9, 'SIGNOPE', 99, null, 15.5)) }),
  fc.record({ m: fc.constant('write'), args: fc.tuple(fc.constantFrom<unknown>('line\n', '', Buffer.from('b\n'), 5, null)) }),
);

function* processRun(loop: EventLoop, calls: Call[]): Coroutine<string[]> {
  void loop;
  const proc = yield* createSubprocessExec('cat', [], { stdin: 'pipe', stdout: 'pipe', stderr: 'ignore' });
  const out: string[] = [];
  for (const c of calls) {
    if (c.m === 'wait') {
      // Only once the child is on its way out, or wait() would block the case.
      if (proc.returncode === null) proc.kill();
      out.push(`wait: ${yield* proc.wait()}`);
    } else if (c.m === 'returncode') {
      out.push(`returncode: ${proc.returncode}`);
    } else if (c.m === 'write') {
      out.push(`write: ${result(() => proc.stdin!.write(c.args[0] as string))}`);
    } else {
      out.push(`${c.m}: ${result(() => (proc as unknown as Record<string, (...a: unknown[]) => unknown>)[c.m]!(...c.args))}`);
    }
  }
  if (proc.returncode === null) {
    proc.stdin!.close();
  }
  const code = yield* proc.wait();
  const rest = yield* proc.stdout!.read(-1);
  // cat echoes what it read before it ended: all of it when stdin closed first, else a prefix.
  out.push(`exit: ${code}`, `stdout: ${code === 0 ? rest.toString() : 'a prefix'}`);
  return out;
}

/** For `numRuns` random call sequences, `run` must give the same lines on both loops. */
function agree(calls: fc.Arbitrary<Call>, maxLength: number, run: (loop: EventLoop, calls: Call[]) => Coroutine<string[]>, numRuns: number): Promise<void> {
  return fc.assert(
    fc.asyncProperty(fc.array(calls, { minLength: 1, maxLength }), async (seq) => {
      const [d, n] = await onBoth((loop) => run(loop, seq));
      expect(n).toEqual(d);
    }),
    { numRuns },
  );
}

describe.runIf(loadAddon() !== null)('default and native transports agree', () => {
  it('a TCP transport answers every call and reports every event the same way on both loops', () => agree(streamCall as fc.Arbitrary<Call>, 12, streamRun, 80), 120_000);

  it('a server answers every call and ends its connections the same way on both loops', () => agree(serverCall, 10, serverRun, 60), 120_000);

  it('a child process answers every call and ends the same way on both loops', () => agree(processCall as fc.Arbitrary<Call>, 8, processRun, 60), 120_000);

  it('a datagram transport answers every call and reports every event the same way on both loops', () =>
    agree(datagramCall as fc.Arbitrary<Call>, 10, datagramRun, 80), 120_000);
});
