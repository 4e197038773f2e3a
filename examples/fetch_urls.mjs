// Fetch several URLs concurrently: each fetch runs in its own task, gather()
// collects the results, and each fetch is bounded by a timeout, so the slow
// URL times out. The task's AbortSignal is handed to fetch(), so cancelling
// the task (which is what the timeout does) aborts the HTTP request itself.
// The example serves its own URLs from a local server.
//
//   node examples/fetch_urls.mjs [--loop default|native]
import http from 'node:http';
import { once } from 'node:events';
import { run, createTask, gather, timeout, waitFor, fromPromise, currentTask, sleep, TimeoutError } from '../dist/index.js';
import { loopFromArgs } from './_loop.mjs';

const TIMEOUT_MS = 1000;             // generous: the slow URL takes 5 s

// A local server: /delay/<ms>/<name> answers after <ms> milliseconds.
let aborted = 0;                                 // requests the client gave up on
function startServer() {
  const server = http.createServer((req, res) => {
    const [, , ms, name] = req.url.split('/');
    const timer = setTimeout(() => res.end(`hello from ${name}`), Number(ms));
    res.on('close', () => {
      if (!res.writableFinished) { aborted++; clearTimeout(timer); }
    });
  });
  server.listen(0, '127.0.0.1');
  return server;
}

// One request, written as a coroutine. fetch() is a promise, so it is
// awaited through fromPromise(); the current task's signal aborts it.
function* fetchText(url) {
  const { signal } = currentTask();
  const res = yield* fromPromise(fetch(url, { signal }));
  return yield* fromPromise(res.text());
}

// Fetch with a time limit (async with asyncio.timeout(...)); report
// the outcome instead of failing the whole gather().
function* fetchWithin(url, ms) {
  try {
    const body = yield* timeout(ms, function* () {
      return yield* fetchText(url);
    });
    return `${url.pathname.padEnd(20)} ok: ${body}`;
  } catch (e) {
    if (!(e instanceof TimeoutError)) throw e;
    return `${url.pathname.padEnd(20)} timed out after ${ms} ms`;
  }
}

function* main() {
  const server = startServer();
  yield* fromPromise(once(server, 'listening'));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const paths = ['/delay/10/fast', '/delay/50/medium', '/delay/100/slower', '/delay/5000/slowest'];
    const urls = paths.map((p) => new URL(p, base));
    // asyncio.gather(*(fetch(u) for u in urls)): all at once, results in order.
    const lines = yield* gather(urls.map((u) => fetchWithin(u, TIMEOUT_MS)));
    for (const line of lines) console.log(line);

    // asyncio.wait_for(): the same limit, as an exception at the call site.
    // The fetch gets a task of its own: a timeout cancels the task it runs
    // in, and a task's AbortSignal stays aborted, so main's must not be used.
    try {
      yield* waitFor(createTask(fetchText(new URL('/delay/5000/waitfor', base))), 100);
    } catch (e) {
      console.log(`waitFor(/delay/5000/waitfor, 100 ms) -> ${e.name}`);
    }
    // The aborts reach the server asynchronously: give it a moment.
    for (let i = 0; i < 100 && aborted < 2; i++) yield* sleep(10);
    console.log(`server saw ${aborted} aborted requests; main task signal aborted: ${currentTask().signal.aborted}`);
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

await run(main, { loop: loopFromArgs() });
