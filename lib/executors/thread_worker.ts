/**
 * Entry point of a ThreadPoolExecutor worker thread (started from the
 * compiled `dist/executors/thread_worker.js`). It runs one job at a time: the
 * pool sends a job only to an idle worker.
 *
 * An error thrown outside a job (a stray timer, an unhandled rejection) ends
 * the thread as Node does; the pool fails the job it was running, if any, and
 * starts a new worker for the queue.
 * @module
 */
import { parentPort } from 'node:worker_threads';
import { runJob, unsendableResult, type JobMessage } from './protocol.js';

if (parentPort === null) throw new Error('aioloop: thread_worker.js must be started as a worker thread');
const port = parentPort;

port.on('message', (job: JobMessage) => {
  void runJob(job).then((reply) => {
    try {
      port.postMessage(reply);
    } catch (error) {
      port.postMessage(unsendableResult(job, error));
    }
  });
});
