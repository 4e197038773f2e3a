/**
 * A FIFO of waiters with O(1) add, delete (for a waiter that gives up) and
 * first. A JS Set is insertion-ordered, but deleting from its front leaves
 * holes that `values().next()` walks over every time until the table is
 * rehashed: a lock with 1e5 queued waiters spent O(n) per hand-off that way.
 * Membership is a flag on the waiter itself (no hashing): deleted entries
 * are dropped from the front for good as `first()` passes them (amortized
 * O(1)), and the array is compacted when mostly consumed.
 * @module
 */

/** @internal A waiter that knows whether it is queued. */
export interface Queued {
  _queued: boolean;
}

/**
 * @internal Each item is added at most once.
 * @example
 * ```ts
 * const q = new WaiterQueue<Grant>();
 * q.add(grant); q.delete(grant); q.first(); // undefined
 * ```
 */
export class WaiterQueue<T extends Queued> implements Iterable<T> {
  private _items: (T | undefined)[] = [];
  private _head = 0;
  private _size = 0;

  get size(): number {
    return this._size;
  }

  add(item: T): void {
    if (item._queued) return;
    item._queued = true;
    this._size++;
    this._items.push(item);
  }

  has(item: T): boolean {
    return item._queued;
  }

  /** Forget `item`; its slot is skipped later. */
  delete(item: T): boolean {
    if (!item._queued) return false;
    item._queued = false;
    this._size--;
    return true;
  }

  /** The oldest waiter still queued. */
  first(): T | undefined {
    const items = this._items;
    while (this._head < items.length) {
      const item = items[this._head]!;
      if (item._queued) return item;
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
      this.delete(item);
      this._items[this._head++] = undefined;
      if (this._head > 1024 && this._head * 2 > this._items.length) {
        this._items = this._items.slice(this._head);
        this._head = 0;
      }
    }
    return item;
  }

  clear(): void {
    for (let i = this._head; i < this._items.length; i++) {
      const item = this._items[i];
      if (item !== undefined) item._queued = false;
    }
    this._items = [];
    this._head = 0;
    this._size = 0;
  }

  *[Symbol.iterator](): Iterator<T> {
    // A snapshot: callers may delete while iterating.
    const items = this._items.slice(this._head);
    for (const item of items) if (item !== undefined && item._queued) yield item;
  }
}
