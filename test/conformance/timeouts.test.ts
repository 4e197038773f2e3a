/** timeout, timeoutAt and taskGroup: conformance on every loop, including the cancel bookkeeping races. */
import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  ExceptionGroup,
  TimeoutError,
  currentTask,
  getRunningLoop,
  sleep,
  taskGroup,
  timeout,
  timeoutAt,
  type Coroutine,
  type EventLoop,
  type Future,
  type Task,
} from '../../lib/index.js';
import { LOOPS, withLoop } from '../loops.js';

const run = <T>(loop: EventLoop, main: () => Coroutine<T>) => loop.runUntilComplete(main());

describe.each(LOOPS)('$name loop: timeout', (kind) => {
  it('returns the body result in time', () =>
    withLoop(kind, async (loop) => {
      expect(await run(loop, function* () { return yield* timeout(100, function* () { yield* sleep(1); return 'in time'; }); })).toBe(
        'in time',
      );
    }));

  it('cancels the body at its suspension point and throws TimeoutError', () =>
    withLoop(kind, async (loop) => {
      const log: string[] = [];
      function* main(): Coroutine<unknown> {
        try {
          yield* timeout(5, function* (cm) {
            try {
              yield* sleep(1000);
            } finally {
              log.push(`finally, expired=${cm.expired()}`);
            }
          });
        } catch (e) {
          return [(e as Error).name, (e as Error).cause instanceof CancelledError, currentTask()!.cancelling()];
        }
      }
      expect(await run(loop, main)).toEqual(['TimeoutError', true, 0]);
      expect(log).toEqual(['finally, expired=true']);
    }));

  it('runs the body in the current task, and null means no limit', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const me = currentTask();
        return yield* timeout(null, function* (cm) {
          yield* sleep(1);
          return [currentTask() === me, cm.when()];
        });
      }
      expect(await run(loop, main)).toEqual([true, null]);
    }));

  it('returns normally when the body catches the cancellation of an expired timeout', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string> {
        return yield* timeout(5, function* () {
          try {
            yield* sleep(1000);
          } catch (e) {
            if (!(e instanceof CancelledError)) throw e;
          }
          return 'swallowed';
        });
      }
      expect(await run(loop, main)).toBe('swallowed');
    }));

  it('lets an outer cancellation through as CancelledError, even when the timeout also expired', () =>
    withLoop(kind, async (loop) => {
      const t: Task<void> = loop.createTask(function* () {
        yield* timeout(10, function* () {
          yield* sleep(1000);
        });
      });
      loop.callLater(10, () => t.cancel('outer')); // the same moment the timeout fires
      await expect(loop.runUntilComplete(t)).rejects.toThrow(CancelledError);
    }));

  it('nests: the inner timeout fires first and the outer one still works', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string[]> {
        const log: string[] = [];
        try {
          yield* timeout(30, function* () {
            try {
              yield* timeout(5, function* () {
                yield* sleep(1000);
              });
            } catch (e) {
              log.push(`inner ${(e as Error).name}`);
            }
            yield* sleep(1000);
          });
        } catch (e) {
          log.push(`outer ${(e as Error).name}`);
        }
        return log;
      }
      expect(await run(loop, main)).toEqual(['inner TimeoutError', 'outer TimeoutError']);
    }));

  it('nests: the outer timeout fires first, the inner one lets it through', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string[]> {
        const log: string[] = [];
        try {
          yield* timeout(5, function* () {
            try {
              yield* timeout(1000, function* () {
                yield* sleep(2000);
              });
            } catch (e) {
              log.push(`inner saw ${(e as Error).name}`);
              throw e;
            }
          });
        } catch (e) {
          log.push(`outer ${(e as Error).name}`);
        }
        return log;
      }
      expect(await run(loop, main)).toEqual(['inner saw CancelledError', 'outer TimeoutError']);
    }));

  it('reschedules, and expires at once for a deadline in the past (at the next suspension)', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown[]> {
        const out: unknown[] = [];
        try {
          yield* timeout(null, function* (cm) {
            cm.reschedule(getRunningLoop().time() + 5);
            yield* sleep(1000);
          });
        } catch (e) {
          out.push((e as Error).name);
        }
        const log: string[] = [];
        try {
          yield* timeoutAt(getRunningLoop().time() - 100, function* () {
            log.push('body ran up to its first suspension');
            yield* sleep(1000);
          });
        } catch (e) {
          out.push((e as Error).name, ...log);
        }
        return out;
      }
      expect(await run(loop, main)).toEqual(['TimeoutError', 'TimeoutError', 'body ran up to its first suspension']);
    }));

  it('does not fire when the body completes in the same iteration the deadline passes', () =>
    withLoop(kind, async (loop) => {
      // Body and deadline finish at the same moment: whichever runs first, the
      // result is either a clean return or a TimeoutError, never a stray cancel.
      function* main(): Coroutine<string> {
        try {
          return yield* timeout(5, function* () {
            yield* sleep(5);
            return 'returned';
          });
        } catch (e) {
          if (!(e instanceof TimeoutError)) throw e;
          return 'timed out';
        }
      }
      const result = await run(loop, main);
      expect(['returned', 'timed out']).toContain(result);
      // And the task is left with no pending cancellation either way.
      expect(await run(loop, function* () { yield* sleep(1); return currentTask()!.cancelling(); })).toBe(0);
    }));

  it('works from async functions through await', () =>
    withLoop(kind, async (loop) => {
      const t = loop.createTask(async () => {
        try {
          await timeout(5, () => new Promise((r) => setTimeout(r, 200)));
          return 'no timeout';
        } catch (e) {
          return (e as Error).name;
        }
      });
      // The promise itself cannot be interrupted, but the wait on it is: the
      // timeout cancels it and the CancelledError becomes a TimeoutError.
      expect(await loop.runUntilComplete(t)).toBe('TimeoutError');
    }));

  it('rejects bad arguments and use outside a task', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string[]> {
        const errors: string[] = [];
        for (const f of [() => timeout('1' as never, function* () {}), () => timeout(1, 'body' as never), () => timeoutAt(NaN, function* () {})]) {
          try {
            f();
          } catch (e) {
            errors.push((e as Error).name);
          }
        }
        yield* sleep(0);
        return errors;
      }
      expect(await run(loop, main)).toEqual(['TypeError', 'TypeError', 'TypeError']);
      loop.callSoon(() => {
        expect(() => timeout(1, function* () {}).next()).toThrow('inside a task');
        loop.stop();
      });
      await loop.runForever();
    }));
});

describe.each(LOOPS)('$name loop: taskGroup', (kind) => {
  it('waits for every child and returns the body result', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<unknown> {
        const log: string[] = [];
        const result = yield* taskGroup(function* (tg) {
          tg.createTask(function* () {
            yield* sleep(10);
            log.push('slow child');
          });
          tg.createTask(function* () {
            yield* sleep(1);
            log.push('fast child');
          });
          return 'body';
        });
        log.push('after group');
        return [result, log];
      }
      expect(await run(loop, main)).toEqual(['body', ['fast child', 'slow child', 'after group']]);
    }));

  it('cancels siblings and the body on the first error, and throws an ExceptionGroup of the errors', () =>
    withLoop(kind, async (loop) => {
      const log: string[] = [];
      function* main(): Coroutine<unknown> {
        try {
          // Both children fail in the same iteration: woken by one Future,
          // not by two timers whose deadlines can fall in different ones.
          const gate = loop.createFuture<void>();
          loop.callLater(2, () => gate.setResult());
          yield* taskGroup(function* (tg) {
            tg.createTask(function* () {
              try {
                yield* sleep(1000);
              } finally {
                log.push('sibling cancelled');
              }
            });
            tg.createTask(function* () {
              yield* gate;
              throw new RangeError('child one');
            });
            tg.createTask(function* () {
              yield* gate;
              throw new TypeError('child two');
            });
            try {
              yield* sleep(1000);
            } finally {
              log.push('body cancelled');
            }
          });
          return 'no error';
        } catch (e) {
          expect(e).toBeInstanceOf(ExceptionGroup);
          expect(e).toBeInstanceOf(AggregateError);
          return [(e as ExceptionGroup).errors.map((x: Error) => x.message).sort(), currentTask()!.cancelling()];
        }
      }
      expect(await run(loop, main)).toEqual([['child one', 'child two'], 0]);
      expect(log.sort()).toEqual(['body cancelled', 'sibling cancelled']);
    }));

  it('includes an error thrown by the body itself', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string[]> {
        try {
          yield* taskGroup(function* (tg) {
            tg.createTask(sleep(1000));
            yield* sleep(1);
            throw new Error('body failed');
          });
          return [];
        } catch (e) {
          return (e as ExceptionGroup).errors.map((x: Error) => x.message);
        }
      }
      expect(await run(loop, main)).toEqual(['body failed']);
    }));

  it('propagates an outer cancellation as CancelledError after cancelling the children', () =>
    withLoop(kind, async (loop) => {
      const log: string[] = [];
      const t = loop.createTask(function* () {
        yield* taskGroup(function* (tg) {
          tg.createTask(function* () {
            try {
              yield* sleep(1000);
            } finally {
              log.push('child cleaned up');
            }
          });
          yield* sleep(1000);
        });
      });
      loop.callLater(5, () => t.cancel());
      await expect(loop.runUntilComplete(t)).rejects.toThrow(CancelledError);
      expect(log).toEqual(['child cleaned up']);
    }));

  // The three cases below follow Python 3.13's TaskGroup.__aexit__ (the
  // group's own cancellation of its parent is taken back only after every
  // child is done; a cancellation from outside survives the ExceptionGroup).
  it('keeps a cancellation from outside that came while a child failed (3.13 re-cancel)', () =>
    withLoop(kind, async (loop) => {
      const log: string[] = [];
      let started!: Future<void>;
      function* inner(): Coroutine<string> {
        try {
          yield* taskGroup(function* (tg) {
            tg.createTask(function* () {
              started.setResult();
              yield* sleep(0);
              throw new Error('child');
            });
            yield* sleep(1000);
          });
        } catch (e) {
          if (!(e instanceof ExceptionGroup)) throw e;
          log.push(`ExceptionGroup, cancelling ${currentTask()!.cancelling()}`);
        }
        yield* sleep(50);
        return 'finished normally';
      }
      function* main(): Coroutine<void> {
        started = loop.createFuture<void>();
        const t = loop.createTask(inner());
        yield* started;
        log.push(`cancel() ${t.cancel()}`);
        try {
          log.push(yield* t);
        } catch (e) {
          log.push(`${(e as Error).name}, cancelled ${t.cancelled()}`);
        }
      }
      await run(loop, main);
      expect(log).toEqual(['cancel() true', 'ExceptionGroup, cancelling 1', 'CancelledError, cancelled true']);
    }));

  it('leaves the parent uncancelled when a child fails after the body finished, so an enclosing timeout still says TimeoutError', () =>
    withLoop(kind, async (loop) => {
      const log: string[] = [];
      function* main(): Coroutine<void> {
        try {
          yield* timeout(30, function* () {
            try {
              yield* taskGroup(function* (tg) {
                tg.createTask(function* () {
                  yield* sleep(0);
                  throw new Error('child');
                });
              });
            } catch (e) {
              log.push(`${(e as Error).name}, cancelling ${currentTask()!.cancelling()}`);
            }
            yield* sleep(1000);
          });
        } catch (e) {
          log.push((e as Error).name);
        }
      }
      await run(loop, main);
      expect(log).toEqual(['ExceptionGroup, cancelling 0', 'TimeoutError']);
    }));

  it('interrupts the outer body when a child of the outer group fails during an inner group', () =>
    withLoop(kind, async (loop) => {
      const log: string[] = [];
      function* boom(err: Error): Coroutine<never> {
        yield* sleep(0);
        throw err;
      }
      function* main(): Coroutine<void> {
        try {
          yield* taskGroup(function* (outer) {
            try {
              yield* taskGroup(function* (inner) {
                inner.createTask(boom(new RangeError('inner child')));
                outer.createTask(boom(new TypeError('outer child')));
              });
            } catch (e) {
              log.push(`inner ${(e as Error).name}, cancelling ${currentTask()!.cancelling()}`);
            }
            yield* sleep(0);
            log.push('outer body went on');
          });
        } catch (e) {
          const eg = e as ExceptionGroup;
          log.push(`outer ${eg.name} [${eg.errors.map((x: Error) => x.message)}], cancelling ${currentTask()!.cancelling()}`);
        }
      }
      await run(loop, main);
      expect(log).toEqual(['inner ExceptionGroup, cancelling 1', 'outer ExceptionGroup [outer child], cancelling 0']);
    }));

  it('refuses new tasks once finished', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string> {
        let saved: { createTask(c: Coroutine<void>): unknown } | null = null;
        yield* taskGroup(function* (tg) {
          saved = tg;
        });
        try {
          saved!.createTask((function* () {})());
          return 'accepted';
        } catch (e) {
          return (e as Error).message;
        }
      }
      expect(await run(loop, main)).toBe('TaskGroup is finished');
    }));

  it('runs a chat-like fan-out: children created from children', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<number> {
        let count = 0;
        yield* taskGroup(function* (tg) {
          for (let i = 0; i < 10; i++) {
            tg.createTask(function* () {
              yield* sleep(i % 3);
              tg.createTask(function* () {
                yield* sleep(1);
                count++;
              });
              count++;
            });
          }
        });
        return count;
      }
      expect(await run(loop, main)).toBe(20);
    }));
});

describe.each(LOOPS)('$name loop: createTask inside groups keeps names', (kind) => {
  it('names child tasks', () =>
    withLoop(kind, async (loop) => {
      function* main(): Coroutine<string> {
        let name = '';
        yield* taskGroup(function* (tg) {
          const t = tg.createTask(function* () {}, { name: 'child-1' });
          name = t.getName();
        });
        return name;
      }
      expect(await run(loop, main)).toBe('child-1');
    }));
});
