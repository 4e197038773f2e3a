/**
 * StreamReader against a model of asyncio's StreamReader, on every loop:
 * random bytes fed in random chunks, interleaved with random reads
 * (read(n), read(-1), readexactly, readuntil with one- and multi-byte
 * separators and arrays of separators, readline) and a random limit, then
 * EOF. Every read must end as asyncio's would at the same point of the
 * stream: the same bytes, or the same IncompleteReadError (partial,
 * expected) or LimitOverrunError (consumed), with the same bytes left behind.
 *
 * Feeds come in batches, each within one loop iteration, as several
 * data_received calls of one poll do: asyncio's feed_data only wakes the
 * waiting read, which looks at the whole buffer when its task resumes on the
 * next iteration. So a read ends (or not) after a whole batch. The waiting
 * read is either awaited by a Task (the recheck runs in the task's turn) or
 * a bare Future (the recheck is a callback of its own).
 *
 * The model is a direct transcription of CPython's Lib/asyncio/streams.py
 * (3.13): each read is a generator that yields where asyncio's coroutine
 * awaits `_wait_for_data()`, with readuntil's offset kept across waits,
 * its tuple of separators, and readline's discard on overrun.
 *
 * fast-check prints the seed and the shrunk case of a failure; replay one
 * with `fc.assert(..., { seed, path })` in this file.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  IncompleteReadError,
  LimitOverrunError,
  StreamReader,
  createTask,
  sleep,
  type Coroutine,
  type EventLoop,
  type Future,
} from '../../lib/index.js';
import { LOOPS, withLoop } from '../loops.js';

type Op =
  | { op: 'read'; n: number }
  | { op: 'readexactly'; n: number }
  | { op: 'readuntil'; sep: string | string[] }
  | { op: 'readline' };
/** Chunks fed within one loop iteration (then EOF, for the last batch). */
type Batch = { feed: string[]; eof?: true };
type Step = Batch | Op;

const ALPHABET = 'ab\n';
const chunk = fc.string({ unit: fc.constantFrom(...ALPHABET), minLength: 1, maxLength: 12 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('read' as const), n: fc.integer({ min: -1, max: 8 }) }),
  fc.record({ op: fc.constant('readexactly' as const), n: fc.integer({ min: 0, max: 8 }) }),
  fc.record({
    op: fc.constant('readuntil' as const),
    sep: fc.constantFrom<string | string[]>('\n', 'ab', 'ba\n', 'bb', ['\n', 'ab'], ['bb', 'a\n', 'b'], ['aab', 'ba'], ['ab', 'ab\nb', 'b\n']),
  }),
  fc.record({ op: fc.constant('readline' as const) }),
);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ feed: fc.array(chunk, { minLength: 1, maxLength: 3 }) }) },
  { weight: 2, arbitrary: op },
);

class ModelIncomplete {
  constructor(readonly partial: string, readonly expected: number | null) {}
}
class ModelOverrun {
  constructor(readonly consumed: number) {}
}
/** What a model read yields where asyncio's awaits _wait_for_data(). */
const WAIT = 'wait';
type ModelRead = Generator<typeof WAIT, string, void>;

/** asyncio's StreamReader, transcribed: each read method is a generator (see WAIT). */
class Model {
  buf = '';
  eof = false;
  constructor(readonly limit: number) {}

  *read(n: number): ModelRead {
    if (n === 0) return '';
    if (n < 0) {
      const blocks: string[] = [];
      for (;;) {
        const block = yield* this.read(this.limit);
        if (block === '') break;
        blocks.push(block);
      }
      return blocks.join('');
    }
    if (this.buf === '' && !this.eof) yield WAIT;
    return this.take(n);
  }

  *readexactly(n: number): ModelRead {
    if (n === 0) return '';
    while (this.buf.length < n) {
      if (this.eof) {
        const incomplete = this.take(this.buf.length);
        throw new ModelIncomplete(incomplete, n);
      }
      yield WAIT;
    }
    return this.take(n);
  }

  *readuntil(separator: string | string[]): ModelRead {
    const seps = Array.isArray(separator) ? [...separator].sort((x, y) => x.length - y.length) : [separator];
    const minSeplen = seps[0]!.length;
    const maxSeplen = seps[seps.length - 1]!.length;
    let offset = 0;
    let matchStart = -1;
    let matchEnd = -1;
    for (;;) {
      const buflen = this.buf.length;
      if (buflen - offset >= minSeplen) {
        for (const sep of seps) {
          const isep = this.buf.indexOf(sep, offset);
          if (isep !== -1) {
            const end = isep + sep.length;
            if (matchEnd === -1 || end < matchEnd) {
              matchEnd = end;
              matchStart = isep;
            }
          }
        }
        if (matchEnd !== -1) break;
        offset = Math.max(0, buflen + 1 - maxSeplen);
        if (offset > this.limit) throw new ModelOverrun(offset);
      }
      if (this.eof) throw new ModelIncomplete(this.take(this.buf.length), null);
      yield WAIT;
    }
    if (matchStart > this.limit) throw new ModelOverrun(matchStart);
    return this.take(matchEnd);
  }

  *readline(): ModelRead {
    try {
      return yield* this.readuntil('\n');
    } catch (e) {
      if (e instanceof ModelIncomplete) return e.partial;
      if (e instanceof ModelOverrun) {
        if (this.buf.startsWith('\n', e.consumed)) this.buf = this.buf.slice(e.consumed + 1);
        else this.buf = '';
      }
      throw e; // asyncio: ValueError(e.args[0]); aioloop keeps the LimitOverrunError
    }
  }

  start(o: Op): ModelRead {
    switch (o.op) {
      case 'read':
        return this.read(o.n);
      case 'readexactly':
        return this.readexactly(o.n);
      case 'readuntil':
        return this.readuntil(o.sep);
      case 'readline':
        return this.readline();
    }
  }

  private take(n: number): string {
    const out = this.buf.slice(0, n);
    this.buf = this.buf.slice(n);
    return out;
  }
}

/** Run a model read on to its next wait: its outcome, or null while it waits. */
function resume(read: ModelRead): string | null {
  try {
    const r = read.next();
    return r.done ? `ok:${r.value}` : null;
  } catch (e) {
    if (e instanceof ModelIncomplete) return `IncompleteReadError:${JSON.stringify(e.partial)}:${e.expected}`;
    if (e instanceof ModelOverrun) return `LimitOverrunError:${e.consumed}`;
    throw e;
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

function start(reader: StreamReader, o: Op): Future<Buffer> {
  switch (o.op) {
    case 'read':
      return reader.read(o.n);
    case 'readexactly':
      return reader.readexactly(o.n);
    case 'readuntil':
      return reader.readuntil(o.sep);
    case 'readline':
      return reader.readline();
  }
}

function* awaitRead(fut: Future<Buffer>): Coroutine<Buffer> {
  return yield* fut;
}

/**
 * Feed each batch within one iteration, let the next iteration run (the
 * woken read's look), then compare with the model after the same batch.
 */
function* runCase(
  loop: EventLoop,
  limit: number,
  viaTask: boolean,
  steps: Step[],
  last: string[],
  finalOps: Op[],
): Coroutine<[string[], string[]]> {
  const reader = new StreamReader({ limit, loop });
  const model = new Model(limit);
  const real: string[] = [];
  const expected: string[] = [];
  let pending: { op: Op; fut: Future<Buffer>; model: ModelRead } | null = null;
  const settle = (want: string | null) => {
    const p = pending!;
    if (want !== null) {
      expect(p.fut.done(), `${JSON.stringify(p.op)} done with the model`).toBe(true);
      expected.push(want);
      real.push(outcomeOf(p.fut));
      pending = null;
    } else {
      expect(p.fut.done(), `${JSON.stringify(p.op)} still waiting, as in asyncio`).toBe(false);
    }
  };
  for (const s of [...steps, { feed: last, eof: true } as Batch, ...finalOps]) {
    if ('feed' in s) {
      for (const c of s.feed) {
        reader.feedData(Buffer.from(c, 'latin1'));
        model.buf += c;
      }
      if (s.eof) {
        reader.feedEof();
        model.eof = true;
      }
      yield* sleep(0); // the woken read looks now (queued before this task's turn)
      if (pending !== null) settle(resume(pending.model));
    } else if (pending === null) {
      const fut = start(reader, s);
      pending = { op: s, fut, model: model.start(s) };
      const want = resume(pending.model);
      if (want === null && viaTask) {
        createTask(awaitRead(fut)).addDoneCallback((t) => t.exception()); // a Task waits on it: the task-turn recheck
        yield* sleep(0);
      }
      settle(want);
    }
  }
  // After EOF no read waits: what is left must be what asyncio leaves.
  real.push(`rest:${reader.read().result().toString('latin1')}`);
  expected.push(`rest:${model.buf}`);
  return [real, expected];
}

describe.each(LOOPS)('$name loop: StreamReader against a model of asyncio', (kind) => {
  it('ends every read as asyncio would, for random batches of chunks, reads, separators and limits', () =>
    withLoop(kind, async (loop) => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 12 }),
          fc.boolean(),
          fc.array(step, { minLength: 1, maxLength: 30 }),
          fc.array(chunk, { maxLength: 2 }),
          fc.array(op, { maxLength: 3 }),
          async (limit, viaTask, steps, last, finalOps) => {
            const [real, expected] = await loop.runUntilComplete(runCase(loop, limit, viaTask, steps, last, finalOps));
            expect(real).toEqual(expected);
          },
        ),
        { numRuns: 500 },
      );
    }), 60_000);
});
