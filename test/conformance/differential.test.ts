/**
 * Differential test of the two loops: the same call, with the same random
 * arguments (mostly well-formed, some hostile), on a default loop and on a
 * native loop must end the same way: both return, or both throw the same
 * error class (and `code`), or both give a Promise that resolves, or
 * rejects with the same class and code. "Identical expectations on both
 * loops" for the whole public EventLoop surface, not only the cases the
 * hand-written tests thought of.
 *
 * fast-check prints the seed and the shrunk call of a failure; replay one
 * with `fc.assert(..., { seed, path })` in this file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { DefaultLoop, NativeLoop, type EventLoop } from '../../lib/index.js';
import { loadAddon } from '../../lib/loops/native/addon.js';

const dir = mkdtempSync(join(tmpdir(), 'aioloop-diff-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const noop = () => {};
const factory = () => ({});
const hostile = fc.constantFrom<unknown>(
  undefined, null, NaN, Infinity, -Infinity, -0, -1, 0.5, 2 ** 31, 2 ** 53, 1e308, true, '', 'x', '\u0000', 7n, {}, [],
  Symbol.for('s'), noop, () => 5, [1, 2], ['a'], new Uint8Array(2), Object.create(null),
);
const or = <T>(good: fc.Arbitrary<T>) => fc.oneof({ arbitrary: good as fc.Arbitrary<unknown>, weight: 3 }, { arbitrary: hostile, weight: 1 });
const host = or(fc.constantFrom('127.0.0.1', '::1', '0.0.0.0', 'localhost', '', '256.0.0.1', 'no-such-host.invalid', null));
const port = or(fc.constantFrom(0, 1, 65535, 65536, -1, 1.5, '80', '0', NaN));
const factoryArg = or(fc.constantFrom<unknown>(factory, factory, () => null, () => 5, 'factory'));
const path = or(fc.constantFrom(join(dir, 'a.sock'), join(dir, 'no', 'such', 'dir.sock'), '', 'x'.repeat(200), '\u0000'));
const opts = fc.oneof(
  fc.constant(undefined),
  or(
    fc.record(
      {
        backlog: or(fc.constantFrom(1, 0, 100)),
        reusePort: or(fc.boolean()),
        localAddr: or(fc.constantFrom<unknown>(['127.0.0.1', 0], ['::1', 0], ['127.0.0.1'], ['x', 0])),
        remoteAddr: or(fc.constantFrom<unknown>(['127.0.0.1', 9], ['127.0.0.1', 0], 5)),
        family: or(fc.constantFrom(0, 4, 6, 2, 10, 99)),
        type: or(fc.constantFrom(0, 1, 2)),
        flags: or(fc.constantFrom(0, 1, -1)),
        stdin: or(fc.constantFrom('pipe', 'inherit', 'ignore', 'nope')),
        cwd: or(fc.constantFrom('/', '/nonexistent')),
      },
      { requiredKeys: [] },
    ),
  ),
);
const delay = or(fc.constantFrom(0, 1, 1e9, -5, 0.25));
const callback = or(fc.constantFrom<unknown>(noop, noop));

/** Each method of EventLoop, with the shapes of its arguments. */
const CALLS: Record<string, fc.Arbitrary<unknown>[]> = {
  callSoon: [callback],
  callLater: [delay, callback],
  callAt: [delay, callback],
  createTask: [or(fc.constantFrom<unknown>((function* () {})(), Promise.resolve(1)))],
  setTaskFactory: [or(fc.constantFrom<unknown>(null, noop))],
  setExceptionHandler: [or(fc.constantFrom<unknown>(null, noop))],
  setDebug: [or(fc.boolean())],
  createConnection: [factoryArg, host, port, opts],
  createServer: [factoryArg, host, port, opts],
  createUnixConnection: [factoryArg, path],
  createUnixServer: [factoryArg, path, opts],
  createDatagramEndpoint: [factoryArg, opts],
  getaddrinfo: [host, port, opts],
  getnameinfo: [or(fc.constantFrom<unknown>(['127.0.0.1', 80], { address: '::1', port: 0 }, ['x', 1], ['127.0.0.1', -1])), or(fc.constantFrom(0, 8))],
  subprocessExec: [factoryArg, or(fc.constantFrom('true', '/bin/true', '/nonexistent', '')), or(fc.constantFrom<unknown>([], ['a'], [1])), opts],
  subprocessShell: [factoryArg, or(fc.constantFrom('true', 'exit 3', '')), opts],
  connectReadPipe: [factoryArg, or(fc.constantFrom(-1, 100_000, 1.5))],
  connectWritePipe: [factoryArg, or(fc.constantFrom(-1, 100_000, 1.5))],
  addSignalHandler: [or(fc.constantFrom<unknown>('SIGUSR2', 'SIGKILL', 'SIGNOPE', 12, 9, 0, 99)), callback],
  removeSignalHandler: [or(fc.constantFrom<unknown>('SIGUSR2', 'SIGKILL', 12, 99))],
};
const call = fc.constantFrom(...Object.keys(CALLS)).chain((method) => fc.record({ method: fc.constant(method), args: fc.tuple(...CALLS[method]!), extra: fc.nat(9) }));

type Outcome = string;

function describeError(e: unknown): string {
  if (!(e instanceof Error)) return `non-Error ${typeof e}`;
  const code = (e as { code?: unknown }).code;
  return `${e.constructor.name}${code !== undefined ? ` ${String(code)}` : ''}`;
}

/** Release what a resolved call made (servers, transports, subprocesses). */
function release(value: unknown): void {
  const items = Array.isArray(value) ? value : [value];
  for (const v of items) {
    const o = v as { close?: () => void; kill?: () => void } | null;
    if (o === null || typeof o !== 'object') continue;
    try {
      if (typeof o.kill === 'function') o.kill();
    } catch {
      // exited already
    }
    if (typeof o.close === 'function') o.close();
  }
}

/** Make the call on `loop` and say how it ended; a Promise it returns gets `waitMs` to settle. */
async function callOutcome(loop: EventLoop, method: string, args: unknown[], waitMs: number): Promise<Outcome> {
  let result: unknown;
  try {
    result = (loop as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args);
  } catch (e) {
    return `threw ${describeError(e)}`;
  }
  if (!(result instanceof Promise)) {
    if (method === 'addSignalHandler') loop.removeSignalHandler(args[0] as number);
    return `returned ${result === null ? 'null' : typeof result}`;
  }
  return Promise.race([
    result.then(
      (value) => {
        release(value);
        return 'resolved';
      },
      (e) => `rejected ${describeError(e)}`,
    ),
    new Promise<string>((resolve) => setTimeout(() => resolve('pending'), waitMs)),
  ]);
}

/** The call on a running `loop`: a promise settles within 5 s (names resolve, connections are local). */
function outcome(loop: EventLoop, method: string, args: unknown[]): Promise<Outcome> {
  return loop.runUntilComplete(callOutcome(loop, method, args, 5000));
}

/** The call on a closed `loop` (no loop runs it). */
function outcomeWhenClosed(loop: EventLoop, method: string, args: unknown[]): Promise<Outcome> {
  return callOutcome(loop, method, args, 200);
}

describe.runIf(loadAddon() !== null)('default and native loops agree', () => {
  it('a closed loop refuses every EventLoop method the same way on both loops', async () => {
    await fc.assert(
      fc.asyncProperty(call, async ({ method, args }) => {
        const ends: Outcome[] = [];
        for (const make of [() => new DefaultLoop(), () => new NativeLoop()]) {
          const loop = make();
          loop.close();
          ends.push(await outcomeWhenClosed(loop, method, [...args]));
        }
        expect(ends[1], `${method}(${args.map((a) => inspect(a, { depth: 2, breakLength: Infinity })).join(', ')}) on a closed loop`).toBe(ends[0]);
      }),
      { numRuns: 300, endOnFailure: true },
    );
  }, 120_000);

  it('every EventLoop method ends the same way on both loops for random arguments', async () => {
    await fc.assert(
      fc.asyncProperty(call, async ({ method, args, extra }) => {
        // Sometimes one argument more or less than the shape.
        const list = extra === 0 ? [...args, 1] : extra === 1 ? args.slice(0, -1) : [...args];
        // A documented deviation: reusePort needs Node >= 22.12 on the default loop (README).
        const o = (method === 'createServer' ? list[3] : method === 'createDatagramEndpoint' ? list[1] : undefined) as { reusePort?: unknown } | undefined;
        if (typeof o === 'object' && o !== null && o.reusePort) return;
        const ends: Outcome[] = [];
        for (const make of [() => new DefaultLoop(), () => new NativeLoop()]) {
          const loop = make();
          try {
            ends.push(await outcome(loop, method, list));
          } finally {
            // Let close callbacks and exits land before closing.
            await loop.runUntilComplete(new Promise((r) => setTimeout(r, 1)));
            loop.close();
          }
        }
        expect(ends[1], `${method}(${list.map((a) => inspect(a, { depth: 2, breakLength: Infinity })).join(', ')})`).toBe(ends[0]);
      }),
      { numRuns: 400, endOnFailure: true },
    );
  }, 120_000);
});
