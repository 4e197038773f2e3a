/**
 * Entry point of a ProcessPoolExecutor worker process (forked from the
 * compiled `dist/executors/process_worker.js` with an IPC channel and
 * `serialization: 'advanced'`). It runs one job at a time.
 *
 * - It exits when the parent disconnects (pool shutdown, or the parent died).
 * - An error thrown outside the job's own promise chain (a stray timer, an
 *   unhandled rejection) is reported as the running job's error, then the
 *   process exits: its state can no longer be trusted. The pool replaces it.
 * @module
 */
import { runJob, serializeThrow, unsendableResult, type JobMessage, type ReplyMessage } from './protocol.js';

if (typeof process.send !== 'function') {
  throw new Error('aioloop: process_worker.js must be started with child_process.fork()');
}

/** Exit code after an uncaught error (EX_SOFTWARE). */
const FATAL_EXIT = 70;
/** The job running now. */
let current: JobMessage | null = null;

function send(reply: ReplyMessage, job: JobMessage | null, then?: () => void): void {
  try {
    process.send!(reply, undefined, {}, then);
  } catch (error) {
    // The value cannot be serialized: say so instead (this one always can be).
    if (job === null) throw error;
    process.send!(unsendableResult(job, error), undefined, {}, then);
  }
}

process.on('message', (job: JobMessage) => {
  current = job;
  void runJob(job).then((reply) => {
    current = null;
    send(reply, job);
  });
});

process.on('disconnect', () => process.exit(0));

process.on('uncaughtException', (error) => {
  const exit = () => process.exit(FATAL_EXIT);
  if (current === null || !process.connected) {
    console.error(error);
    exit();
    return;
  }
  const job = current;
  current = null;
  try {
    send({ id: job.id, ok: false, error: serializeThrow(error), fatal: true }, job, exit);
  } catch {
    exit();
  }
});
