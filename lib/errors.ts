/**
 * The exception classes of asyncio (`asyncio.exceptions`), as JavaScript
 * Error subclasses. Every class sets `name` so stack traces and
 * `err.name === 'CancelledError'` checks read naturally.
 *
 * @example
 * ```ts
 * try { yield* task; } catch (e) { if (e instanceof CancelledError) cleanup(); throw e; }
 * ```
 * @module
 */

/**
 * Thrown into a coroutine at its suspension point when its Task is cancelled,
 * and thrown by `result()` of a cancelled Future.
 *
 * @example
 * ```ts
 * function* worker() {
 *   try { yield* sleep(1000); }
 *   catch (e) { if (e instanceof CancelledError) console.log('cancelled:', e.message); throw e; }
 * }
 * ```
 */
export class CancelledError extends Error {
  override name = 'CancelledError';
  constructor(message = '', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * A deadline passed (`waitFor`, `timeout`). Like asyncio's TimeoutError.
 *
 * @example
 * ```ts
 * try { yield* waitFor(slow(), 100); } catch (e) { if (e instanceof TimeoutError) retry(); }
 * ```
 */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/**
 * An operation is not allowed in the Future's current state (for example
 * `result()` of a pending Future, or `setResult()` twice).
 *
 * @example
 * ```ts
 * const f = loop.createFuture();
 * f.result(); // throws InvalidStateError: Result is not set.
 * ```
 */
export class InvalidStateError extends Error {
  override name = 'InvalidStateError';
}

/**
 * `readexactly()` or `readuntil()` hit EOF first. `partial` holds the bytes
 * read before EOF; `expected` the number wanted (null when unknown).
 *
 * @example
 * ```ts
 * try { yield* reader.readexactly(4); } catch (e) { if (e instanceof IncompleteReadError) e.partial; }
 * ```
 */
export class IncompleteReadError extends Error {
  override name = 'IncompleteReadError';
  constructor(
    readonly partial: Buffer,
    readonly expected: number | null,
  ) {
    super(
      `${partial.length} bytes read on a total of ${expected === null ? 'undefined' : expected} expected bytes`,
    );
  }
}

/**
 * A stream read passed the reader's buffer limit while looking for a
 * separator. `consumed` is the number of bytes to consume to move on.
 *
 * @example
 * ```ts
 * try { yield* reader.readline(); } catch (e) { if (e instanceof LimitOverrunError) e.consumed; }
 * ```
 */
export class LimitOverrunError extends Error {
  override name = 'LimitOverrunError';
  constructor(
    message: string,
    readonly consumed: number,
  ) {
    super(message);
  }
}

/**
 * `getNowait()` on an empty queue.
 *
 * @example
 * ```ts
 * try { q.getNowait(); } catch (e) { if (e instanceof QueueEmpty) idle(); }
 * ```
 */
export class QueueEmpty extends Error {
  override name = 'QueueEmpty';
}

/**
 * `putNowait()` on a full queue.
 *
 * @example
 * ```ts
 * try { q.putNowait(item); } catch (e) { if (e instanceof QueueFull) drop(item); }
 * ```
 */
export class QueueFull extends Error {
  override name = 'QueueFull';
}

/**
 * `put()`/`get()` on a queue that was shut down.
 *
 * @example
 * ```ts
 * try { yield* q.get(); } catch (e) { if (e instanceof QueueShutDown) return; }
 * ```
 */
export class QueueShutDown extends Error {
  override name = 'QueueShutDown';
}

/**
 * A Barrier was reset or aborted while a task waited on it.
 *
 * @example
 * ```ts
 * try { yield* barrier.wait(); } catch (e) { if (e instanceof BrokenBarrierError) giveUp(); }
 * ```
 */
export class BrokenBarrierError extends Error {
  override name = 'BrokenBarrierError';
}

/**
 * Several errors at once (asyncio's ExceptionGroup, as an AggregateError).
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof ExceptionGroup) for (const err of e.errors) log(err); }
 * ```
 */
export class ExceptionGroup extends AggregateError {
  override name = 'ExceptionGroup';
  constructor(message: string, errors: Iterable<unknown>) {
    const list = [...errors];
    if (list.length === 0) throw new TypeError('ExceptionGroup needs at least one error');
    super(list, message);
  }
}
