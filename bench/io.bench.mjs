/**
 * I/O benchmarks of issue 6: UDP request/response and process spawning, on
 * each aioloop loop against Node's own modules, in the same run.
 *
 * Both loops use the shared transports over node:dgram and
 * node:child_process today (the native uv_udp / uv_spawn paths come later),
 * so these rows measure the cost of the aioloop layer on top of Node.
 */
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import * as aio from 'aioloop';
import { check, inTaskOnFreshLoop } from './lib/common.mjs';


const PAYLOAD = Buffer.alloc(64, 1);
const UDP_CLIENTS = 10;

// -- UDP echo: `clients` clients, one datagram in flight each, `n` round trips in all --

/** One client measures the syscall floor; ten are the TCP echo's method (see ioBenchmarks). */
function aioUdp(create, n, clients) {
  return inTaskOnFreshLoop(create, async () => {
    const loop = aio.getRunningLoop();
    const [server] = await loop.createDatagramEndpoint(
      () => ({
        connectionMade(t) {
          this.t = t;
        },
        datagramReceived(data, addr) {
          this.t.sendto(data, addr);
        },
      }),
      { localAddr: ['127.0.0.1', 0] },
    );
    const port = server.getExtraInfo('sockname').port;
    let left = n;
    let sent = 0;
    let finish;
    const done = new Promise((resolve) => (finish = resolve));
    const endpoints = [];
    for (let i = 0; i < clients; i++) {
      const [client] = await loop.createDatagramEndpoint(
        () => ({
          connectionMade(t) {
            this.t = t;
          },
          datagramReceived() {
            if (--left === 0) finish();
            else if (sent < n) {
              sent++;
              this.t.sendto(PAYLOAD);
            }
          },
        }),
        { remoteAddr: ['127.0.0.1', port] },
      );
      endpoints.push(client);
    }
    for (const c of endpoints) {
      sent++;
      c.sendto(PAYLOAD);
    }
    await done;
    for (const c of endpoints) c.close();
    server.close();
    return left;
  }).then((left) => check(`aioloop UDP echo (${clients} clients)`, left, 0));
}

async function nodeUdp(n, clients) {
  const server = dgram.createSocket('udp4');
  server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address));
  await new Promise((resolve) => server.bind(0, '127.0.0.1', resolve));
  const port = server.address().port;
  let left = n;
  let sent = 0;
  let finish;
  const done = new Promise((resolve) => (finish = resolve));
  const sockets = [];
  for (let i = 0; i < clients; i++) {
    const client = dgram.createSocket('udp4');
    await new Promise((resolve) => client.connect(port, '127.0.0.1', resolve));
    client.on('message', () => {
      if (--left === 0) finish();
      else if (sent < n) {
        sent++;
        client.send(PAYLOAD);
      }
    });
    sockets.push(client);
  }
  for (const c of sockets) {
    sent++;
    c.send(PAYLOAD);
  }
  await done;
  for (const c of sockets) c.close();
  server.close();
  check(`node:dgram echo (${clients} clients)`, left, 0);
}

// -- Spawn and reap `n` `true` processes, 8 at a time ------------------------------

const SPAWN_CONCURRENCY = 8;

function aioSpawn(create, n) {
  return inTaskOnFreshLoop(create, function* main() {
    let ok = 0;
    let next = 0;
    function* worker() {
      while (next < n) {
        next++;
        const proc = yield* aio.createSubprocessExec('true', [], { stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' });
        if ((yield* proc.wait()) === 0) ok++;
      }
    }
    yield* aio.gather(Array.from({ length: SPAWN_CONCURRENCY }, () => aio.createTask(worker())));
    return ok;
  }).then((ok) => check('aioloop spawn', ok, n));
}

async function nodeSpawn(n) {
  let ok = 0;
  let next = 0;
  async function worker() {
    while (next < n) {
      next++;
      const code = await new Promise((resolve, reject) => {
        const child = spawn('true', [], { stdio: 'ignore' });
        child.on('error', reject);
        child.on('exit', resolve);
      });
      if (code === 0) ok++;
    }
  }
  await Promise.all(Array.from({ length: SPAWN_CONCURRENCY }, worker));
  check('child_process spawn', ok, n);
}

/**
 * The I/O benchmarks for batch size `n` (1e6 at full size).
 * Targets (issue 6) are for the native loop's own uv_udp / uv_spawn paths
 * (the default loop runs over Node's modules: reported only). One client
 * with one datagram in flight measures the syscall floor (both sides make
 * the same syscalls per round trip); ten clients with one in flight each is
 * the TCP echo benchmark's method, where batching shows.
 * @param {number} n
 */
export function ioBenchmarks(n) {
  const roundTrips = Math.max(100, Math.round(n / 50)); // 2e4 at full size
  const spawns = n >= 1e6 ? 1000 : 100;
  return [
    {
      id: 'udp-echo',
      title: 'UDP echo round trips (64 B)',
      ops: roundTrips,
      unit: 'round trip',
      target: { native: 1.5 }, // issue 6
      node: { label: 'node:dgram', run: () => nodeUdp(roundTrips, 1) },
      aio: { label: 'createDatagramEndpoint', run: (create) => aioUdp(create, roundTrips, 1) },
    },
    {
      id: 'udp-echo-10',
      title: 'UDP echo, 10 clients, 1 in flight each (64 B)',
      ops: roundTrips,
      unit: 'round trip',
      target: { native: 1.5 }, // issue 6
      node: { label: 'node:dgram', run: () => nodeUdp(roundTrips, UDP_CLIENTS) },
      aio: { label: 'createDatagramEndpoint', run: (create) => aioUdp(create, roundTrips, UDP_CLIENTS) },
    },
    {
      id: 'spawn',
      title: 'spawn and reap `true`',
      ops: spawns,
      unit: 'spawn',
      target: { native: 1.0 }, // issue 6
      node: { label: 'child_process.spawn', run: () => nodeSpawn(spawns) },
      aio: { label: 'createSubprocessExec + wait', run: (create) => aioSpawn(create, spawns) },
    },
  ];
}
