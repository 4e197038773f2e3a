/**
 * A FIFO of waiters with O(1) add, delete (for a waiter that gives up) and
 * first. A JS Set is insertion-ordered, but deleting from its front leaves
 * holes that `values().next()` walks over every time until the table is
 * rehashed: a lock with 1e5 queued waiters spent O(n) per hand-off that way.
 * Here deleted entries are dropped from the front for good as `first()`
 * passes them (amortized O(1)), and the array is compacted when half empty.
 * @module
 */

/**
 * @internal
 * @example
 * ```ts
 * const q = new WaiterQueue<Future<true>>();
 * q.add(fut); q.delete(fut); q.first(); // undefined
 * ```
 */
export class WaiterQueue<T> implements Iterable<T> {
  private _items: (T | undefined)[] = [];
  private _head = 0;
  private readonly _live = new Set<T>();

  get size(): number {
    return this._live.size;
  }

  add(item: T): void {
    if (this._live.has(item)) return;
    this._live.add(item);
    this._items.push(item);
  }

  has(item: T): boolean {
    return this._live.has(item);
  }

  /** Forget `item`; its slot is skipped later. */
  delete(item: T): boolean {
    return this._live.delete(item);
  }

  /** The oldest waiter still queued. */
  first(): T | undefined {
    const items = this._items;
    while (this._head < items.length) {
      const item = items[this._head]!;
      if (this._live.has(item)) return item;
      items[this._head++] = undefined; // a waiter that left: drop the slot for good
    }
    this._items = [];
    this._head = 0;
    return undefined;
  }

  /** Remove and return the oldest waiter. */
  shift(): T | undefined {
    const item = this.first();
    if (item !== undefined) {
      this._live.delete(item);
      this._items[this._head++] = undefined;
      if (this._head > 1024 && this._head * 2 > this._items.length) {
        this._items = this._items.slice(this._head);
        this._head = 0;
      }
    }
    return item;
  }

  clear(): void {
    this._items = [];
    this._head = 0;
    this._live.clear();
  }

  *[Symbol.iterator](): Iterator<T> {
    // A snapshot: callers may delete while iterating.
    const items = this._items.slice(this._head);
    for (const item of items) if (item !== undefined && this._live.has(item)) yield item;
  }
}
