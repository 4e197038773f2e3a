/**
 * Name resolution (asyncio's `loop.getaddrinfo` / `loop.getnameinfo`) over
 * `node:dns` `lookup({ all: true })` and `lookupService` (the system
 * resolver in libuv's thread pool, as asyncio's default executor does).
 * @module
 */
import * as dns from 'node:dns';
import * as net from 'node:net';
import { describe } from './events.js';
import { checkOptions, checkPort } from './net_transport.js';

/**
 * Address family numbers as the platform's socket API has them (asyncio's
 * `socket.AF_INET` / `AF_INET6`).
 *
 * @example
 * ```ts
 * const infos = await loop.getaddrinfo('localhost', 80, { family: AF_INET6 });
 * ```
 */
export const AF_INET = 2;
/**
 * `AF_INET6` of this platform (10 on Linux, 30 on macOS, 23 on Windows).
 *
 * @example
 * ```ts
 * if (info[0] === AF_INET6) console.log('IPv6');
 * ```
 */
export const AF_INET6 = process.platform === 'darwin' ? 30 : process.platform === 'win32' ? 23 : process.platform === 'freebsd' ? 28 : 10;
/**
 * Stream sockets (TCP), as in the tuples of `getaddrinfo`.
 *
 * @example
 * ```ts
 * await loop.getaddrinfo('localhost', 53, { type: SOCK_DGRAM });
 * ```
 */
export const SOCK_STREAM = 1;
/**
 * Datagram sockets (UDP).
 *
 * @example
 * ```ts
 * await loop.getaddrinfo('localhost', 53, { type: SOCK_DGRAM });
 * ```
 */
export const SOCK_DGRAM = 2;
/**
 * Raw sockets.
 *
 * @example
 * ```ts
 * await loop.getaddrinfo('localhost', 0, { type: SOCK_RAW });
 * ```
 */
export const SOCK_RAW = 3;
/**
 * TCP, the protocol of SOCK_STREAM results.
 *
 * @example
 * ```ts
 * const tcp = infos.filter((i) => i[2] === IPPROTO_TCP);
 * ```
 */
export const IPPROTO_TCP = 6;
/**
 * UDP, the protocol of SOCK_DGRAM results.
 *
 * @example
 * ```ts
 * const udp = infos.filter((i) => i[2] === IPPROTO_UDP);
 * ```
 */
export const IPPROTO_UDP = 17;

/**
 * One result of `getaddrinfo`: `[family, type, proto, canonname, [address, port]]`
 * (asyncio's 5-tuple; the IPv6 sockaddr is `[address, port]` too, without
 * flowinfo and scope id).
 *
 * @example
 * ```ts
 * const [[family, , , , [address, port]]] = await loop.getaddrinfo('localhost', 80);
 * ```
 */
export type AddrInfo = [family: number, type: number, proto: number, canonname: string, sockaddr: [string, number]];

/**
 * Options of `loop.getaddrinfo()`.
 *
 * @example
 * ```ts
 * await loop.getaddrinfo('example.com', 443, { family: AF_INET, type: SOCK_STREAM });
 * ```
 */
export interface GetaddrinfoOptions {
  /** 0 (any), AF_INET or AF_INET6. */
  family?: number;
  /** 0 (all of stream, datagram, raw), SOCK_STREAM, SOCK_DGRAM or SOCK_RAW. */
  type?: number;
  /** 0, or the protocol to report (IPPROTO_TCP...). */
  proto?: number;
  /** Passed to `dns.lookup` as `hints`. */
  flags?: number;
}

/**
 * @internal The resolver behind getaddrinfo/getnameinfo: Node's `dns`
 * (the default loop) or the native loop's uv_getaddrinfo/uv_getnameinfo.
 * @example
 * ```ts
 * nodeResolver.lookup('localhost', 0, 0, (err, addrs) => console.log(addrs));
 * ```
 */
export interface Resolver {
  /** `family` 0, 4 or 6; calls back with every address, in the resolver's order. */
  lookup(host: string, family: 0 | 4 | 6, hints: number, cb: (err: Error | null, addresses: { address: string; family: number }[]) => void): void;
  lookupService(address: string, port: number, flags: number, cb: (err: Error | null, host: string, service: string) => void): void;
}

/** @internal Node's resolver (libuv's thread pool, through node:dns). */
export const nodeResolver: Resolver = {
  lookup(host, family, hints, cb) {
    const opts: dns.LookupAllOptions = { all: true, family };
    if (hints) opts.hints = hints;
    dns.lookup(host, opts, (err, addresses) => cb(err, addresses ?? []));
  },
  lookupService(address, port, _flags, cb) {
    dns.lookupService(address, port, (err, host, service) => cb(err, host, service));
  },
};

const TYPES: [number, number][] = [
  [SOCK_STREAM, IPPROTO_TCP],
  [SOCK_DGRAM, IPPROTO_UDP],
  [SOCK_RAW, 0],
];

/**
 * @internal `loop.getaddrinfo()`.
 * @example
 * ```ts
 * const infos = await getaddrinfo('localhost', 80);
 * ```
 */
export function getaddrinfo(
  host: string | null,
  port: number | string | null,
  opts?: GetaddrinfoOptions,
  resolver: Resolver = nodeResolver,
): Promise<AddrInfo[]> {
  if (host !== null && typeof host !== 'string') throw new TypeError(`getaddrinfo() host must be a string or null, not ${describe(host)}`);
  let portNum = 0;
  if (typeof port === 'string') {
    if (!/^\d+$/.test(port)) throw new RangeError(`getaddrinfo() port must be numeric, not ${JSON.stringify(port)}`);
    portNum = Number(port);
    checkPort(portNum, 'getaddrinfo', 0);
  } else if (port !== null && port !== undefined) {
    checkPort(port, 'getaddrinfo', 0);
    portNum = port;
  }
  checkOptions(opts, 'getaddrinfo');
  const family = opts?.family ?? 0;
  const type = opts?.type ?? 0;
  const proto = opts?.proto ?? 0;
  for (const [k, v] of [['family', family], ['type', type], ['proto', proto], ['flags', opts?.flags ?? 0]] as const) {
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`getaddrinfo() ${k} must be an integer, not ${describe(v)}`);
  }
  if (family !== 0 && family !== AF_INET && family !== AF_INET6) {
    throw new RangeError(`getaddrinfo() family must be 0, AF_INET (${AF_INET}) or AF_INET6 (${AF_INET6}), not ${family}`);
  }
  if (type !== 0 && !TYPES.some(([t]) => t === type)) {
    throw new RangeError(`getaddrinfo() type must be 0, SOCK_STREAM, SOCK_DGRAM or SOCK_RAW, not ${type}`);
  }
  const name = host === null || host === '' ? (family === AF_INET6 ? '::1' : '127.0.0.1') : host;
  const types = type === 0 ? TYPES : TYPES.filter(([t]) => t === type);
  return new Promise((resolve, reject) => {
    resolver.lookup(name, family === AF_INET ? 4 : family === AF_INET6 ? 6 : 0, opts?.flags ?? 0, (err, addresses) => {
      if (err) {
        reject(err); // Node's error: code ENOTFOUND, EAI_AGAIN...
        return;
      }
      const out: AddrInfo[] = [];
      for (const a of addresses) {
        const fam = a.family === 6 ? AF_INET6 : AF_INET;
        for (const [t, p] of types) out.push([fam, t, proto !== 0 ? proto : p, '', [a.address, portNum]]);
      }
      resolve(out);
    });
  });
}

/**
 * @internal `loop.getnameinfo()`: `[host, service]` for `[address, port]`.
 * @example
 * ```ts
 * const [host, service] = await getnameinfo(['127.0.0.1', 22]); // ['localhost', 'ssh']
 * ```
 */
export function getnameinfo(
  sockaddr: [string, number] | { address: string; port: number },
  flags = 0,
  resolver: Resolver = nodeResolver,
): Promise<[string, string]> {
  let address: unknown;
  let port: unknown;
  if (Array.isArray(sockaddr) && sockaddr.length >= 2) [address, port] = sockaddr;
  else if (typeof sockaddr === 'object' && sockaddr !== null && !Array.isArray(sockaddr)) ({ address, port } = sockaddr);
  else throw new TypeError(`getnameinfo() sockaddr must be [address, port], not ${describe(sockaddr)}`);
  if (typeof address !== 'string') throw new TypeError(`getnameinfo() address must be a string, not ${describe(address)}`);
  if (net.isIP(address) === 0) throw new RangeError(`getnameinfo() address must be an IP address, not ${JSON.stringify(address)}`);
  checkPort(port, 'getnameinfo', 0);
  if (typeof flags !== 'number' || !Number.isInteger(flags)) throw new TypeError(`getnameinfo() flags must be an integer, not ${describe(flags)}`);
  return new Promise((resolve, reject) => {
    resolver.lookupService(address as string, port as number, flags, (err, hostname, service) => {
      if (err) reject(err);
      else resolve([hostname, service]);
    });
  });
}
