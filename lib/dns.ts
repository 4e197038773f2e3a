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
 * getaddrinfo flags (asyncio's `socket.AI_*`): AI_PASSIVE makes a missing
 * host the wildcard address (to bind) instead of the loopback one;
 * AI_NUMERICHOST refuses a host that is not an IP address instead of
 * resolving it. AI_ADDRCONFIG, AI_V4MAPPED and AI_ALL are passed on.
 *
 * @example
 * ```ts
 * const [[, , , , [address]]] = await loop.getaddrinfo(null, 8080, { flags: AI_PASSIVE }); // '0.0.0.0'
 * ```
 */
export const AI_PASSIVE = 1;
/** See AI_PASSIVE. @example `loop.getaddrinfo('10.0.0.1', 80, { flags: AI_NUMERICHOST })` */
export const AI_NUMERICHOST = 4;

/**
 * getnameinfo flags (asyncio's `socket.NI_*`, with Linux's and the BSDs'
 * values): the numeric host instead of a name, the numeric port instead of
 * a service name, an error instead of the numeric host when the address
 * has no name.
 *
 * @example
 * ```ts
 * const [host, port] = await loop.getnameinfo(['10.0.0.1', 80], NI_NUMERICHOST | NI_NUMERICSERV);
 * ```
 */
export const NI_NUMERICHOST = 1;
/** See NI_NUMERICHOST. @example `loop.getnameinfo(addr, NI_NUMERICSERV)` */
export const NI_NUMERICSERV = 2;
/** See NI_NUMERICHOST. @example `loop.getnameinfo(addr, NI_NAMEREQD)` */
export const NI_NAMEREQD = process.platform === 'darwin' || process.platform === 'freebsd' ? 4 : 8;

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

/** libuv's UV_EAI_ADDRFAMILY, the errno the native loop's resolver reports. */
const UV_EAI_ADDRFAMILY = -3000;

/** The error getaddrinfo gives for an IP literal of the other family, shaped as Node's resolver errors. */
function addressFamilyError(host: string): NodeJS.ErrnoException & { hostname: string } {
  const err = new Error(`getaddrinfo EAI_ADDRFAMILY ${host}`) as NodeJS.ErrnoException & { hostname: string };
  err.code = 'EAI_ADDRFAMILY';
  err.errno = UV_EAI_ADDRFAMILY;
  err.syscall = 'getaddrinfo';
  err.hostname = host;
  return err;
}

/** @internal Node's resolver (libuv's thread pool, through node:dns). */
export const nodeResolver: Resolver = {
  // dns.lookup takes only some AI_* bits as hints (and throws on others):
  // those go through, AI_NUMERICHOST is applied here, and AI_PASSIVE and
  // AI_CANONNAME have done their part already (getaddrinfo below).
  lookup(host, family, hints, cb) {
    const literal = net.isIP(host);
    if ((hints & AI_NUMERICHOST) !== 0 && literal === 0) {
      const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${host}`);
      err.code = 'ENOTFOUND';
      err.syscall = 'getaddrinfo';
      queueMicrotask(() => cb(err, []));
      return;
    }
    if (literal !== 0 && family !== 0 && literal !== family) {
      // dns.lookup hands an IP literal back as it is, whatever family was
      // asked for. getaddrinfo(3), which asyncio and the native loop call,
      // maps an IPv4 literal to IPv6 only under AI_V4MAPPED, and otherwise
      // refuses the literal: EAI_ADDRFAMILY.
      if (literal === 4 && (hints & dns.V4MAPPED) !== 0) {
        queueMicrotask(() => cb(null, [{ address: `::ffff:${host}`, family: 6 }]));
      } else {
        queueMicrotask(() => cb(addressFamilyError(host), []));
      }
      return;
    }
    const opts: dns.LookupAllOptions = { all: true, family };
    const nodeHints = hints & (dns.ADDRCONFIG | dns.V4MAPPED | dns.ALL);
    if (nodeHints) opts.hints = nodeHints;
    dns.lookup(host, opts, (err, addresses) => cb(err, addresses ?? []));
  },
  // Node's lookupService always asks getnameinfo(3) for NI_NAMEREQD and
  // takes no flags; the flags asyncio passes are applied around it, so both
  // loops answer alike (the native loop passes them to uv_getnameinfo).
  lookupService(address, port, flags, cb) {
    const numericHost = (flags & NI_NUMERICHOST) !== 0;
    const numericServ = (flags & NI_NUMERICSERV) !== 0;
    const numeric = net.isIPv6(address) ? normalizeIPv6(address) : address;
    if (numericHost && numericServ) {
      queueMicrotask(() => cb(null, numeric, String(port)));
      return;
    }
    dns.lookupService(address, port, (err, host, service) => {
      if (err === null) {
        cb(null, numericHost ? numeric : host, numericServ ? String(port) : service);
      } else if ((err as NodeJS.ErrnoException).code === 'ENOTFOUND' && (flags & NI_NAMEREQD) === 0) {
        // No name: getnameinfo(3) without NI_NAMEREQD gives the numeric
        // host. The service name does not depend on the address: ask for it
        // with the loopback address, which always has a name.
        if (numericServ) cb(null, numeric, String(port));
        else dns.lookupService('127.0.0.1', port, (err2, _host, service2) => cb(null, numeric, err2 === null ? service2 : String(port)));
      } else {
        cb(err, '', '');
      }
    });
  },
};

/** Resolver flags are a C int of bits: RangeError unless in [0, 2**31 - 1]. */
function checkFlags(flags: number, method: string): void {
  if (flags < 0 || flags > 0x7fffffff) throw new RangeError(`${method}() flags must be in [0, 2**31 - 1], not ${flags}`);
}

/** The text inet_ntop gives for an IPv6 address (what getnameinfo's numeric host is). */
function normalizeIPv6(address: string): string {
  return new URL(`http://[${address.split('%')[0]}]/`).hostname.slice(1, -1) + (address.includes('%') ? address.slice(address.indexOf('%')) : '');
}

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
  const flags = opts?.flags ?? 0;
  checkFlags(flags, 'getaddrinfo');
  // No host: the loopback address, or with AI_PASSIVE the wildcard one (to bind), as getaddrinfo(3) gives.
  const passive = (flags & AI_PASSIVE) !== 0;
  const name = host === null || host === '' ? (family === AF_INET6 ? (passive ? '::' : '::1') : passive ? '0.0.0.0' : '127.0.0.1') : host;
  const types = type === 0 ? TYPES : TYPES.filter(([t]) => t === type);
  return new Promise((resolve, reject) => {
    resolver.lookup(name, family === AF_INET ? 4 : family === AF_INET6 ? 6 : 0, flags, (err, addresses) => {
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
  checkFlags(flags, 'getnameinfo');
  return new Promise((resolve, reject) => {
    resolver.lookupService(address as string, port as number, flags, (err, hostname, service) => {
      if (err) reject(err);
      else resolve([hostname, service]);
    });
  });
}
