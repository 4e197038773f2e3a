/**
 * AbortSignal interop: every waiting call of the toolkit accepts
 * `{ signal }`; an aborted signal cancels the wait, which then fails with a
 * CancelledError carrying the signal's reason (as `cause`, and in the message).
 * @module
 */
import { CancelledError } from './errors.js';
import { describe } from './events.js';
import type { Future } from './futures.js';

/** Options of a waiting call. */
export interface SignalOptions {
  /** Abort the wait: it fails with a CancelledError carrying `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * The CancelledError for an aborted signal.
 *
 * @example
 * ```ts
 * const ac = new AbortController(); ac.abort(new Error('user left'));
 * abortError(ac.signal).message; // 'aborted: user left'
 * ```
 */
export function abortError(signal: AbortSignal): CancelledError {
  const reason: unknown = signal.reason;
  const text = reason instanceof Error ? reason.message : reason === undefined ? '' : String(reason);
  return new CancelledError(text ? `aborted: ${text}` : 'aborted', { cause: reason });
}

/**
 * Validate the `signal` option of `method` (TypeError for anything that is
 * not an AbortSignal).
 *
 * @example
 * ```ts
 * const signal = checkSignal(opts?.signal, 'Lock.acquire');
 * ```
 */
export function checkSignal(signal: unknown, method: string): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) {
    throw new TypeError(`${method}() option signal must be an AbortSignal, not ${describe(signal)}`);
  }
  return signal;
}

/**
 * Cancel the pending Future `fut` when `signal` aborts (at once if it already
 * has). The listener is removed when `fut` is done, so long-lived signals do
 * not collect listeners.
 *
 * @example
 * ```ts
 * const waiter = loop.createFuture<void>();
 * cancelOnAbort(waiter, opts?.signal);
 * ```
 */
export function cancelOnAbort(fut: Future<any>, signal: AbortSignal | undefined): void {
  if (signal === undefined || fut.done()) return;
  if (signal.aborted) {
    fut._cancelFuture(abortError(signal));
    return;
  }
  const onAbort = () => fut._cancelFuture(abortError(signal));
  signal.addEventListener('abort', onAbort, { once: true });
  fut.addDoneCallback(() => signal.removeEventListener('abort', onAbort));
}
