/**
 * The native loop's name resolution: uv_getaddrinfo / uv_getnameinfo in
 * libuv's thread pool (native/dns.cc), shaped as the shared Resolver that
 * lib/dns.ts turns into asyncio's tuples.
 * @module
 */
import type { Resolver } from '../../dns.js';
import type { NativeLoopBinding } from './addon.js';

/**
 * @internal A Resolver over the native loop's C++ half. Errors read like
 * Node's ("getaddrinfo ENOTFOUND host", with `code`, `syscall`, `hostname`).
 * @example
 * ```ts
 * const resolver = nativeResolver(binding);
 * ```
 */
export function nativeResolver(native: NativeLoopBinding): Resolver {
  return {
    lookup(host, family, hints, cb) {
      native.getaddrinfo(host, family, hints, (err, flat) => {
        if (err) {
          const e = err as NodeJS.ErrnoException & { hostname?: string };
          e.syscall = 'getaddrinfo';
          e.hostname = host;
          e.message = `getaddrinfo ${e.code} ${host}`;
          cb(e, []);
          return;
        }
        const addresses: { address: string; family: number }[] = [];
        for (let i = 0; i < flat!.length; i += 2) addresses.push({ family: flat![i] as number, address: flat![i + 1] as string });
        cb(null, addresses);
      });
    },
    lookupService(address, port, flags, cb) {
      native.getnameinfo(address, port, flags, (err, result) => {
        if (err) cb(err, '', '');
        else cb(null, result![0], result![1]);
      });
    },
  };
}
