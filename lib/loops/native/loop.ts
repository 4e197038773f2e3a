/**
 * The native loop: a C++ Node-API addon driving libuv handles, a timer heap
 * and the ready queue on Node's own libuv loop. The addon builds today (see
 * native/); the loop itself lands with the native-loop issue. Until then,
 * asking for it fails with an error that says so, and the default loop keeps
 * working.
 * @module
 */
import { DefaultLoop } from '../default/loop.js';
import { addonLoadError, loadAddon } from './addon.js';

/**
 * Throws a clear error unless the native loop can be created here.
 *
 * @example
 * ```ts
 * try { assertNativeLoopAvailable(); } catch (e) { console.log(e.message); }
 * ```
 */
export function assertNativeLoopAvailable(): void {
  const addon = loadAddon();
  if (addon === null) {
    throw new Error(
      'aioloop: the native loop is not available: the native addon is not built ' +
        `(${addonLoadError()}). Build it with \`npm run build:native\` ` +
        '(needs python3, make and a C++ compiler), or use the default loop.',
    );
  }
  throw new Error(
    `aioloop: the native loop is not available in this version yet (addon ${addon.version()} ` +
      `on libuv ${addon.libuvVersion()} is built, but the loop is not implemented); use the default loop.`,
  );
}

/**
 * The native event loop. Distinct class from DefaultLoop, as the contract
 * requires; constructing it throws until the native loop lands.
 *
 * @example
 * ```ts
 * const loop = new NativeLoop(); // throws today: not available yet
 * ```
 */
export class NativeLoop extends DefaultLoop {
  constructor() {
    assertNativeLoopAvailable();
    super();
  }
}
