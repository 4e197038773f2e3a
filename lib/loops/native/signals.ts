/**
 * The native loop's signal source: a uv_signal_t watcher per signal
 * (native/signal.cc) whose deliveries arrive in the loop's I/O batch.
 * @module
 */
import { signalNumber, type SignalSource } from '../../signals.js';
import type { NativeLoopBinding } from './addon.js';
import type { NativeIo } from './io.js';

/**
 * @internal A SignalSource over the native loop's C++ half. `released()`
 * says whether the native loop is closed (its watchers are gone with it).
 * @example
 * ```ts
 * const source = nativeSignals(binding, io, () => closed);
 * ```
 */
export function nativeSignals(native: NativeLoopBinding, io: NativeIo, released: () => boolean): SignalSource {
  return {
    install(name, onSignal) {
      const id = native.signalStart(signalNumber(name));
      io.register(id, { _onSignal: onSignal, _onClosed() {} });
      return () => {
        if (!released()) native.closeStream(id, true);
      };
    },
  };
}
