/**
 * Numeric IP addresses as bytes and back, for the native UDP address records
 * (native/udp.cc): the text form is what users pass and get (as node:dgram
 * gives it: '127.0.0.1', '::1'), bytes are what crosses into C++.
 * @module
 */
import * as net from 'node:net';

/**
 * The 4 (IPv4) or 16 (IPv6) bytes of a numeric address in network order, or
 * null when `host` is not one. An IPv6 zone ('%eth0') is not supported.
 *
 * @example
 * ```ts
 * ipToBytes('127.0.0.1'); // Uint8Array [127, 0, 0, 1]
 * ipToBytes('::1');       // 15 zeros, then 1
 * ```
 */
export function ipToBytes(host: string): Uint8Array | null {
  const kind = net.isIP(host);
  if (kind === 4) return new Uint8Array(host.split('.').map(Number));
  if (kind !== 6 || host.includes('%')) return null;
  const out = new Uint8Array(16);
  let text = host;
  // A trailing dotted quad ('::ffff:1.2.3.4') fills the last 4 bytes.
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) !== -1) {
    tail = text.slice(lastColon + 1).split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? left : [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right];
  for (let i = 0; i < 8; i++) {
    const g = parseInt(groups[i]!, 16);
    out[2 * i] = g >>> 8;
    out[2 * i + 1] = g & 0xff;
  }
  if (tail.length === 4) out.set(tail, 12);
  return out;
}

/**
 * The text form of an address at `bytes[offset]`: dotted IPv4, or IPv6 as
 * RFC 5952 (and Node) writes it: lowercase, the longest run of two or more
 * zero groups as '::', IPv4-mapped addresses as '::ffff:a.b.c.d'.
 *
 * @example
 * ```ts
 * formatIp(Buffer.from([127, 0, 0, 1]), 0, 4); // '127.0.0.1'
 * ```
 */
export function formatIp(bytes: Uint8Array, offset: number, family: 4 | 6): string {
  if (family === 4) return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[offset + 2 * i]! << 8) | bytes[offset + 2 * i + 1]!);
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `::ffff:${formatIp(bytes, offset + 12, 4)}`;
  }
  let bestStart = -1;
  let bestLen = 1; // a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
