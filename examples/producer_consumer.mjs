// asyncio's Queue example: producers put work items on a Queue, consumers
// take them off; queue.join() waits until every item was marked done, then
// the consumers (which loop forever) are cancelled.
//
//   node examples/producer_consumer.mjs [--loop default|native]
import { run, Queue, createTask, gather, sleep } from '../dist/index.js';
import { loopFromArgs } from './_loop.mjs';

const PRODUCERS = 3;
const ITEMS_PER_PRODUCER = 5;
const CONSUMERS = 2;

function* producer(queue, id) {
  for (let n = 0; n < ITEMS_PER_PRODUCER; n++) {
    yield* queue.put({ producer: id, n, ms: 1 + ((id * 7 + n * 3) % 5) });
    yield* sleep(1);                          // asyncio.sleep: let others run
  }
}

function* consumer(queue, id, handled) {
  for (;;) {                                  // runs until it is cancelled
    const item = yield* queue.get();          // await queue.get()
    yield* sleep(item.ms);                    // "work" on the item
    handled[id] += item.ms;
    queue.taskDone();                         // queue.task_done()
  }
}

function* main() {
  const queue = new Queue(4);                 // bounded: producers wait when full
  const handled = new Array(CONSUMERS).fill(0);
  const consumers = [];
  for (let i = 0; i < CONSUMERS; i++) {
    consumers.push(createTask(consumer(queue, i, handled), { name: `consumer-${i}` }));
  }
  const producers = [];
  for (let i = 0; i < PRODUCERS; i++) producers.push(createTask(producer(queue, i)));

  yield* gather(producers);                   // every item has been put...
  yield* queue.join();                        // ...and every item processed

  for (const c of consumers) c.cancel();      // the consumers loop forever: stop them
  const outcome = yield* gather(consumers, { returnExceptions: true });
  const cancelled = outcome.filter((e) => e?.name === 'CancelledError').length;

  const total = handled.reduce((a, b) => a + b, 0);
  console.log(`processed ${PRODUCERS * ITEMS_PER_PRODUCER} items with ${CONSUMERS} consumers, ` +
    `${total} ms of work; ${cancelled} consumers cancelled; queue empty: ${queue.empty()}`);
}

await run(main, { loop: loopFromArgs() });
