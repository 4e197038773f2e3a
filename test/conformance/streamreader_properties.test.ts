/**
 * StreamReader against a model of asyncio's StreamReader, on every loop:
 * random bytes fed in random chunks, interleaved with random reads
 * (read(n), read(-1), readexactly, readuntil with one- and multi-byte
 * separators, readline) and a random limit, then EOF. Every read must end as
 * asyncio's would at the same point of the stream: the same bytes, or the
 * same IncompleteReadError (partial, expected) or LimitOverrunError
 * (consumed), with the same bytes left behind. The model is a direct
 * transcription of CPython's Lib/asyncio/streams.py (readuntil's offset and
 * limit checks, readline's discard on overrun).
 *
 * fast-check prints the seed and the shrunk case of a failure; replay one
 * with `fc.assert(..., { seed, path })` in this file.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IncompleteReadError, LimitOverrunError, StreamReader, type Coroutine, type EventLoop, type Future } from '../../lib/index.js';
import { LOOPS, withLoop } from '../loops.js';

type Op =
  | { op: 'read'; n: number }
  | { op: 'readexactly'; n: number }
  | { op: 'readuntil'; sep: string }
  | { op: 'readline' };
type Step = { feed: string } | Op;

const ALPHABET = 'ab\n';
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ feed: fc.string({ unit: fc.constantFrom(...ALPHABET), minLength: 1, maxLength: 12 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('read' as const), n: fc.integer({ min: -1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('readexactly' as const), n: fc.integer({ min: 0, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('readuntil' as const), sep: fc.constantFrom('\n', 'ab', 'ba\n', 'bb') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('readline' as const) }) },
);

/** asyncio's StreamReader, synchronously: `attempt` is called on each arrival until it returns an outcome. */
class Model {
  buf = '';
  eof = false;
  constructor(readonly limit: number) {}

  /** The outcome of `op` now, or null while asyncio would still wait. */
  attempt(op: Op): string | null {
    switch (op.op) {
      case 'read': {
        if (op.n === 0) return 'ok:';
        if (op.n < 0) return this.eof ? this.take(this.buf.length) : null;
        if (this.buf.length === 0 && !this.eof) return null;
        return this.take(Math.min(op.n, this.buf.length));
      }
      case 'readexactly': {
        if (this.buf.length >= op.n) return this.take(op.n);
        if (this.eof) {
          const partial = this.buf;
          this.buf = '';
          return `IncompleteReadError:${JSON.stringify(partial)}:${op.n}`;
        }
        return null;
      }
      case 'readuntil':
        return this.readuntil(op.sep);
      case 'readline': {
        const r = this.readuntil('\n');
        if (r === null) return null;
        if (r.startsWith('IncompleteReadError:')) return `ok:${JSON.parse(r.split(':').slice(1, -1).join(':'))}`;
        if (r.startsWith('LimitOverrunError:')) {
          const consumed = Number(r.split(':')[1]);
          if (this.buf.startsWith('\n', consumed)) this.buf = this.buf.slice(consumed + 1);
          else this.buf = '';
        }
        return r;
      }
    }
  }

  /** CPython's readuntil: found past the limit, or not found with the searched part past it, is an overrun. */
  private readuntil(sep: string): string | null {
    const isep = this.buf.indexOf(sep);
    if (isep >= 0) {
      if (isep > this.limit) return `LimitOverrunError:${isep}`;
      return this.take(isep + sep.length);
    }
    if (this.buf.length >= sep.length) {
      const offset = this.buf.length + 1 - sep.length;
      if (offset > this.limit) return `LimitOverrunError:${offset}`;
    }
    if (this.eof) {
      const partial = this.buf;
      this.buf = '';
      return `IncompleteReadError:${JSON.stringify(partial)}:null`;
    }
    return null;
  }

  private take(n: number): string {
    const out = this.buf.slice(0, n);
    this.buf = this.buf.slice(n);
    return `ok:${out}`;
  }
}

/** How a real read ended, in the model's terms. */
function outcomeOf(fut: Future<Buffer>): string {
  const e = fut.exception();
  if (e === null) return `ok:${fut.result().toString('latin1')}`;
  if (e instanceof IncompleteReadError) return `IncompleteReadError:${JSON.stringify(e.partial.toString('latin1'))}:${e.expected}`;
  if (e instanceof LimitOverrunError) return `LimitOverrunError:${e.consumed}`;
  return `other:${String(e)}`;
}

function start(reader: StreamReader, op: Op): Future<Buffer> {
  switch (op.op) {
    case 'read':
      return reader.read(op.n);
    case 'readexactly':
      return reader.readexactly(op.n);
    case 'readuntil':
      return reader.readuntil(op.sep);
    case 'readline':
      return reader.readline();
  }
}

/** Reads settle synchronously as data arrives, so the case runs without suspending (a coroutine only to run on the loop). */
// eslint-disable-next-line require-yield
function* runCase(loop: EventLoop, limit: number, steps: Step[], finalOps: Op[]): Coroutine<[string[], string[]]> {
  const reader = new StreamReader({ limit, loop });
  const model = new Model(limit);
  const real: string[] = [];
  const expected: string[] = [];
  let pending: { op: Op; fut: Future<Buffer> } | null = null;
  const settle = () => {
    if (pending === null) return;
    const want = model.attempt(pending.op);
    // Real reads complete on the arrival that completes the model's.
    if (want !== null) {
      expect(pending.fut.done(), `${JSON.stringify(pending.op)} done with the model`).toBe(true);
      expected.push(want);
      real.push(outcomeOf(pending.fut));
      pending = null;
    } else {
      expect(pending.fut.done(), `${JSON.stringify(pending.op)} still waiting, as in asyncio`).toBe(false);
    }
  };
  for (const s of [...steps, { feed: '' } as Step, ...finalOps]) {
    if ('feed' in s) {
      if (s.feed === '') {
        reader.feedEof();
        model.eof = true;
      } else {
        reader.feedData(Buffer.from(s.feed, 'latin1'));
        model.buf += s.feed;
      }
      settle();
    } else if (pending === null) {
      pending = { op: s, fut: start(reader, s) };
      settle();
    }
  }
  return [real, expected];
}

describe.each(LOOPS)('$name loop: StreamReader against a model of asyncio', (kind) => {
  it('ends every read as asyncio would, for random chunks, reads, separators and limits', () =>
    withLoop(kind, async (loop) => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 12 }),
          fc.array(step, { minLength: 1, maxLength: 30 }),
          fc.array(step.filter((s): s is Op => !('feed' in s)), { maxLength: 3 }),
          async (limit, steps, finalOps) => {
            const [real, expected] = await loop.runUntilComplete(runCase(loop, limit, steps, finalOps));
            expect(real).toEqual(expected);
          },
        ),
        { numRuns: 500 },
      );
    }), 60_000);
});
