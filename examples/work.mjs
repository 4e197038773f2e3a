// Worker-side code for examples/executors.mjs. A ProcessPoolExecutor runs a
// module export in another Node process, so the work lives in its own module.
import { createHash } from 'node:crypto';

/** CPU-bound: count the primes below `limit` (deliberately naive). */
export function countPrimes(limit) {
  let count = 0;
  for (let n = 2; n < limit; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) {
      if (n % d === 0) { prime = false; break; }
    }
    if (prime) count++;
  }
  return count;
}

/** Blocking: hash `text` `rounds` times over with SHA-256. */
export function stretch(text, rounds) {
  let digest = text;
  for (let i = 0; i < rounds; i++) digest = createHash('sha256').update(digest).digest('hex');
  return digest;
}

/** Which process ran the job. */
export function pid() {
  return process.pid;
}
