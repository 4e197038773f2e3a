/**
 * Helpers shared by the synchronisation primitives (asyncio's `mixins.py`).
 * @module
 */
import { getRunningLoop, type EventLoop } from './events.js';

/**
 * Binds an object to the loop it is first waited on (asyncio's
 * `_LoopBoundMixin`). Primitives are created outside any loop (at module
 * level, in constructors), so binding at construction would pick the wrong
 * loop; binding on the first wait picks the one that actually uses it, and
 * any later use from another loop is an error instead of a silent hang
 * (a Future of loop A never wakes a task of loop B).
 *
 * @example
 * ```ts
 * class Gate extends LoopBound {
 *   wait() { return this._getLoop().createFuture(); } // binds on first call
 * }
 * ```
 */
export class LoopBound {
  /** @internal The loop of the first wait; null until then. */
  _loop: EventLoop | null = null;

  /**
   * @internal The running loop (or `loop`), binding this object to it on
   * first use. Throws when it is bound to another loop, or no loop runs.
   */
  _getLoop(loop: EventLoop = getRunningLoop()): EventLoop {
    if (this._loop === null) this._loop = loop;
    else if (loop !== this._loop) throw new Error(`${this} is bound to a different event loop`);
    return loop;
  }
}
