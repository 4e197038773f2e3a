/**
 * Unix signal handlers on the loop (asyncio's `add_signal_handler`). Where
 * signals come from is the loop's {@link SignalSource}: `process.on(signal)`
 * on the default loop, a uv_signal_t per signal on the native loop.
 * The handler runs on the loop (scheduled with `callSoon`), so
 * `getRunningLoop()`, `createTask()` and the exception handler work in it.
 * A loop's handlers are removed when it closes.
 * @module
 */
import * as os from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { describe, type EventLoop } from './events.js';
import { isCoroutineFunction } from './coroutines.js';

const UNCATCHABLE = new Set(['SIGKILL', 'SIGSTOP']);

/**
 * Validate a signal (a name such as `'SIGUSR2'` or a number) and return its
 * name. TypeError for other types, RangeError for unknown signals and, when
 * `catchable` is set, for SIGKILL/SIGSTOP.
 *
 * @example
 * ```ts
 * signalName('SIGTERM', 'sendSignal'); // 'SIGTERM'
 * signalName(9, 'sendSignal');         // 'SIGKILL'
 * ```
 */
export function signalName(sig: unknown, method: string, catchable = false): NodeJS.Signals {
  const table = os.constants.signals as Record<string, number>;
  let name: string | undefined;
  if (typeof sig === 'string') {
    if (Object.prototype.hasOwnProperty.call(table, sig)) name = sig;
    else throw new RangeError(`${method}() got an unknown signal name ${JSON.stringify(sig)} (expected e.g. 'SIGINT', 'SIGTERM', 'SIGUSR1')`);
  } else if (typeof sig === 'number') {
    if (!Number.isInteger(sig)) throw new RangeError(`${method}() signal number must be an integer, not ${sig}`);
    name = Object.keys(table).find((k) => table[k] === sig);
    if (name === undefined) throw new RangeError(`${method}() got an unknown signal number ${sig}`);
  } else {
    throw new TypeError(`${method}() signal must be a signal name (string) or number, not ${describe(sig)}`);
  }
  if (catchable && UNCATCHABLE.has(name)) throw new RangeError(`${method}(): ${name} cannot be caught`);
  return name as NodeJS.Signals;
}

/**
 * The number of signal `name` (`os.constants.signals`).
 *
 * @example
 * ```ts
 * signalNumber('SIGKILL'); // 9
 * ```
 */
export function signalNumber(name: string): number {
  return (os.constants.signals as Record<string, number>)[name] ?? 0;
}

/**
 * @internal Where a loop's signals come from: `install` starts delivering
 * `name` to `onSignal` and returns how to stop.
 * @example
 * ```ts
 * const stop = processSignals.install('SIGUSR2', () => console.log('usr2'));
 * stop();
 * ```
 */
export interface SignalSource {
  install(name: NodeJS.Signals, onSignal: () => void): () => void;
}

/**
 * @internal Signals through `process.on` (the default loop's source).
 * @example
 * ```ts
 * const stop = processSignals.install('SIGINT', onInt);
 * ```
 */
export const processSignals: SignalSource = {
  install(name, onSignal) {
    process.on(name, onSignal);
    return () => process.removeListener(name, onSignal);
  },
};

const registry = new WeakMap<EventLoop, Map<NodeJS.Signals, () => void>>();

/**
 * @internal `loop.addSignalHandler()`: replace this loop's handler for `sig`.
 * @example
 * ```ts
 * addSignalHandler(loop, 'SIGUSR2', () => console.log('usr2'));
 * ```
 */
export function addSignalHandler(loop: EventLoop, sig: unknown, cb: unknown, args: unknown[], source: SignalSource = processSignals): void {
  const name = signalName(sig, 'addSignalHandler', true);
  if (typeof cb !== 'function') throw new TypeError(`addSignalHandler() callback must be a function, not ${describe(cb)}`);
  if (isCoroutineFunction(cb)) {
    throw new TypeError('coroutines cannot be used with addSignalHandler(): start a task from a plain callback instead');
  }
  // Node delivers signals to the main thread only (asyncio: set_wakeup_fd only works in the main thread).
  if (!isMainThread) throw new Error('addSignalHandler() only works in the main thread');
  if (loop.isClosed()) throw new Error('Event loop is closed');
  let map = registry.get(loop);
  if (map === undefined) registry.set(loop, (map = new Map()));
  map.get(name)?.();
  map.set(
    name,
    source.install(name, () => {
      if (loop.isClosed()) return;
      loop.callSoon(() => (cb as (...a: unknown[]) => unknown)(...args));
    }),
  );
}

/**
 * @internal `loop.removeSignalHandler()`: true if a handler was removed.
 * @example
 * ```ts
 * removeSignalHandler(loop, 'SIGUSR2'); // true
 * ```
 */
export function removeSignalHandler(loop: EventLoop, sig: unknown): boolean {
  const name = signalName(sig, 'removeSignalHandler');
  const map = registry.get(loop);
  const stop = map?.get(name);
  if (stop === undefined) return false;
  map!.delete(name);
  stop();
  return true;
}

/**
 * @internal True when `loop` has a handler for `name` (addSignalHandler).
 * @example
 * ```ts
 * if (!hasSignalHandler(loop, 'SIGINT')) task.cancel();
 * ```
 */
export function hasSignalHandler(loop: EventLoop, name: NodeJS.Signals): boolean {
  return registry.get(loop)?.has(name) ?? false;
}

/**
 * @internal Remove every handler of `loop` (its close()).
 * @example
 * ```ts
 * removeAllSignalHandlers(loop);
 * ```
 */
export function removeAllSignalHandlers(loop: EventLoop): void {
  const map = registry.get(loop);
  if (map === undefined) return;
  registry.delete(loop);
  for (const stop of map.values()) stop();
}
