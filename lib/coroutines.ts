/**
 * Coroutines are generators (asyncio's `coroutines.py`). Inside one,
 * `yield* x` suspends until the awaitable `x` completes.
 * @module
 */
import type { Future } from './futures.js';

/**
 * A coroutine that evaluates to `T`: what a `function*` returns.
 *
 * @example
 * ```ts
 * function* double(x: number): Coroutine<number> { yield* sleep(10); return 2 * x; }
 * ```
 */
export type Coroutine<T> = Generator<unknown, T, unknown>;

/**
 * Anything `yield*` (after `fromPromise` for promises) or `ensureFuture` accepts.
 *
 * @example
 * ```ts
 * const aws: Awaitable<number>[] = [sleep(1, 1), Promise.resolve(2), double(3)];
 * ```
 */
export type Awaitable<T> = Future<T> | PromiseLike<T> | Coroutine<T>;

/**
 * What a Task can run: a coroutine, a promise, or a function called on the
 * task's first step that returns either (a generator or async function).
 *
 * @example
 * ```ts
 * createTask(worker());            // coroutine
 * createTask(fetch(url));          // promise
 * createTask(async () => 42);      // async function, called on the loop
 * ```
 */
export type TaskTarget<T> = Coroutine<T> | PromiseLike<T> | (() => Coroutine<T> | PromiseLike<T> | T);

const GeneratorFunction = Object.getPrototypeOf(function* () {}).constructor as Function;
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor as Function;
/** %GeneratorPrototype%: the prototype of every generator function's `prototype`. */
const GeneratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf((function* () {})())) as object;

/**
 * @internal %GeneratorPrototype%.next, the builtin every generator object
 * resumes with. A Task calls it directly (`_generatorNext.call(gen)`):
 * reading `gen.next` sees a different hidden class per generator function,
 * and the property load at the one call site that steps every Task went
 * megamorphic (a stub-cache probe on each step, ~4% of a Future ping-pong).
 */
export const _generatorNext = (GeneratorPrototype as Generator).next as (this: Generator, value?: unknown) => IteratorResult<unknown>;

/**
 * @internal True when `it` resumes with the builtin generator `next` (a plain
 * generator object, not one whose `next` was replaced), so it can be stepped
 * through `_generatorNext.call(it, value)`.
 * @example
 * ```ts
 * resumesWithBuiltinNext((function* () {})()); // true
 * ```
 */
export function resumesWithBuiltinNext(it: Iterator<unknown, unknown, unknown>): boolean {
  return it.next === _generatorNext;
}

/**
 * True for a generator object, the coroutine of this library
 * (asyncio's `iscoroutine`).
 *
 * @example
 * ```ts
 * function* work() {}
 * isCoroutine(work()); // true
 * isCoroutine(work);   // false: that is a coroutine function
 * ```
 */
export function isCoroutine(value: unknown): value is Coroutine<unknown> {
  // Every generator object inherits from %GeneratorPrototype%; checking the
  // chain is several times faster than Object.prototype.toString.
  return typeof value === 'object' && value !== null && GeneratorPrototype.isPrototypeOf(value);
}

/**
 * True for a generator function or an async function
 * (asyncio's `iscoroutinefunction`).
 *
 * @example
 * ```ts
 * isCoroutineFunction(function* () {}); // true
 * isCoroutineFunction(async () => {});  // true
 * isCoroutineFunction(() => {});        // false
 * ```
 */
export function isCoroutineFunction(fn: unknown): boolean {
  return typeof fn === 'function' && (fn instanceof GeneratorFunction || fn instanceof AsyncFunction);
}

/** @internal True for anything with a callable `then`. */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}

/** @internal A readable name for a task target in messages. */
export function coroutineName(target: unknown): string {
  // A generator object does not know its function's name; a function does.
  if (typeof target === 'function') return target.name || '<anonymous>';
  return isCoroutine(target) ? 'coroutine' : isPromiseLike(target) ? 'promise' : typeof target;
}
