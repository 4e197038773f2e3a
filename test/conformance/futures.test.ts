/** Future conformance (asyncio's test_futures), on every loop. */
import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  Future,
  InvalidStateError,
  fromPromise,
  isFuture,
  type Coroutine,
  type ExceptionContext,
} from '../../lib/index.js';
import { LOOPS, withLoop } from '../loops.js';

describe.each(LOOPS)('$name loop: Future', (kind) => {
  it('holds a result', () =>
    withLoop(kind, async (loop) => {
      const f = loop.createFuture<number>();
      expect(f.done()).toBe(false);
      expect(() => f.result()).toThrow(InvalidStateError);
      expect(() => f.exception()).toThrow(InvalidStateError);
      f.setResult(7);
      expect(f.done()).toBe(true);
      expect(f.cancelled()).toBe(false);
      expect(f.result()).toBe(7);
      expect(f.exception()).toBeNull();
      expect(() => f.setResult(8)).toThrow(InvalidStateError);
      expect(() => f.setException(new Error())).toThrow(InvalidStateError);
      expect(f.cancel()).toBe(false);
      expect(f.getLoop()).toBe(loop);
    }));

  it('holds an exception of any value', () =>
    withLoop(kind, async (loop) => {
      const err = new Error('bad');
      const f = loop.createFuture();
      f.setException(err);
      expect(() => f.result()).toThrow(err);
      expect(f.exception()).toBe(err);
      const g = loop.createFuture();
      g.setException(undefined); // JS can throw anything
      expect(g.done()).toBe(true);
      expect(g.exception()).toBeUndefined();
    }));

  it('cancels with a message', () =>
    withLoop(kind, async (loop) => {
      const f = loop.createFuture();
      expect(f.cancel('stop it')).toBe(true);
      expect(f.cancelled()).toBe(true);
      expect(f.done()).toBe(true);
      expect(() => f.result()).toThrow(CancelledError);
      expect(() => f.result()).toThrow('stop it');
      expect(() => f.exception()).toThrow(CancelledError);
      expect(f.cancel()).toBe(false);
      expect(() => f.cancel(5 as never)).toThrow(TypeError);
    }));

  it('runs done callbacks through the loop, never synchronously', () =>
    withLoop(kind, async (loop) => {
      const f = loop.createFuture<string>();
      const seen: string[] = [];
      f.addDoneCallback((fut) => seen.push(`cb1 ${fut.result()}`));
      f.addDoneCallback(() => seen.push('cb2'));
      f.setResult('x');
      expect(seen).toEqual([]);
      f.addDoneCallback(() => seen.push('cb3 on a done future'));
      expect(seen).toEqual([]);
      loop.callSoon(() => loop.stop());
      await loop.runForever();
      expect(seen).toEqual(['cb1 x', 'cb2', 'cb3 on a done future']);
    }));

  it('removes done callbacks and counts them', () =>
    withLoop(kind, async (loop) => {
      const f = loop.createFuture();
      const seen: string[] = [];
      const cb = () => seen.push('removed');
      f.addDoneCallback(cb);
      f.addDoneCallback(() => seen.push('kept'));
      f.addDoneCallback(cb);
      expect(f.removeDoneCallback(cb)).toBe(2);
      expect(f.removeDoneCallback(cb)).toBe(0);
      f.setResult(1);
      loop.callSoon(() => loop.stop());
      await loop.runForever();
      expect(seen).toEqual(['kept']);
      expect(() => f.addDoneCallback('x' as never)).toThrow(TypeError);
    }));

  it('is awaitable from async functions', () =>
    withLoop(kind, async (loop) => {
      const ok = loop.createFuture<number>();
      const bad = loop.createFuture<number>();
      const gone = loop.createFuture<number>();
      loop.callSoon(() => {
        ok.setResult(1);
        bad.setException(new Error('nope'));
        gone.cancel('gone');
      });
      const main = async () => {
        const results: unknown[] = [await ok];
        await bad.then(undefined, (e: Error) => results.push(e.message));
        await gone.then(undefined, (e: Error) => results.push(e instanceof CancelledError && e.message));
        return results;
      };
      expect(await loop.runUntilComplete(main())).toEqual([1, 'nope', 'gone']);
      // A done Future stays awaitable after its loop is closed.
      loop.close();
      expect(await ok).toBe(1);
    }));

  it('does not suspend on `yield*` of a done Future', () =>
    withLoop(kind, async (loop) => {
      const order: string[] = [];
      function* main(): Coroutine<number> {
        const f = loop.createFuture<number>();
        f.setResult(3);
        loop.callSoon(() => order.push('other callback'));
        const v = yield* f;
        order.push('resumed without waiting');
        return v;
      }
      expect(await loop.runUntilComplete(main())).toBe(3);
      expect(order[0]).toBe('resumed without waiting');
    }));

  it('defaults to the running loop', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<boolean> {
        return new Future().getLoop() === loop;
      }
      expect(await loop.runUntilComplete(main())).toBe(true);
      expect(() => new Future(5 as never)).toThrow(TypeError);
    }));

  it('wraps promises with fromPromise', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown[]> {
        const a = yield* fromPromise(Promise.resolve('a'));
        let b: unknown;
        try {
          yield* fromPromise(Promise.reject(new Error('b')));
        } catch (e) {
          b = (e as Error).message;
        }
        const thenable = { then: (res: (v: string) => void) => setTimeout(() => res('c'), 1) };
        const c = yield* fromPromise(thenable as unknown as PromiseLike<string>);
        const f = loop.createFuture();
        return [a, b, c, fromPromise(f) === f];
      }
      expect(await loop.runUntilComplete(main())).toEqual(['a', 'b', 'c', true]);
      expect(() => fromPromise(5 as never, { loop })).toThrow(TypeError);
    }));

  it('ignores a wrapped promise that settles after cancellation', () =>
    withLoop(kind, async (loop) => {
      let reject!: (e: Error) => void;
      const fut = fromPromise(new Promise((_, r) => (reject = r)), { loop });
      fut.cancel();
      reject(new Error('late')); // handled: no unhandled rejection, no error
      await new Promise((r) => setTimeout(r, 5));
      expect(fut.cancelled()).toBe(true);
    }));

  it('tells Futures apart', () =>
    withLoop(kind, async (loop) => {
      expect(isFuture(loop.createFuture())).toBe(true);
      expect(isFuture(Promise.resolve())).toBe(false);
      expect(isFuture({ then() {} })).toBe(false);
    }));

  it('reports an exception nobody retrieved when the loop closes', async () => {
    const loop = kind.create();
    const contexts: ExceptionContext[] = [];
    loop.setExceptionHandler((_, ctx) => contexts.push(ctx));
    const lost = loop.createFuture();
    lost.setException(new Error('lost'));
    const seen = loop.createFuture();
    seen.setException(new Error('seen'));
    seen.exception();
    const awaited = loop.createFuture();
    awaited.setException(new Error('awaited'));
    await awaited.then(undefined, () => {});
    loop.close();
    expect(contexts.map((c) => c.message)).toEqual(['Future exception was never retrieved']);
    expect((contexts[0]!.exception as Error).message).toBe('lost');
    expect(contexts[0]!.future).toBe(lost);
  });
});
