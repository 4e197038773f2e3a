/** The IP text <-> bytes helpers of the native UDP path (lib/loops/native/ip.ts). */
import * as net from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIp, ipToBytes } from '../../lib/loops/native/ip.js';

describe('ipToBytes / formatIp', () => {
  it('formats addresses as Node and RFC 5952 write them', () => {
    const cases: [string, string][] = [
      ['127.0.0.1', '127.0.0.1'],
      ['::1', '::1'],
      ['::', '::'],
      ['fe80::1', 'fe80::1'],
      ['2001:DB8:0:0:8:800:200C:417A', '2001:db8::8:800:200c:417a'],
      ['1:0:0:1:0:0:0:1', '1:0:0:1::1'], // the longer zero run is compressed
      ['1:0:1:1:1:1:1:1', '1:0:1:1:1:1:1:1'], // a single zero group is not
      ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
      ['0:0:0:0:0:ffff:0a00:0001', '::ffff:10.0.0.1'],
    ];
    for (const [input, expected] of cases) {
      const bytes = ipToBytes(input)!;
      expect(bytes.length).toBe(net.isIPv4(input) ? 4 : 16);
      expect(formatIp(bytes, 0, bytes.length === 4 ? 4 : 6)).toBe(expected);
    }
  });

  it('rejects what is not a numeric address', () => {
    for (const bad of ['localhost', '', '1.2.3', '::g', 'fe80::1%lo']) expect(ipToBytes(bad)).toBeNull();
  });

  it('round-trips any 4 or 16 bytes through text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 })), (bytes) => {
        const text = formatIp(bytes, 0, bytes.length === 4 ? 4 : 6);
        expect(net.isIP(text)).toBe(bytes.length === 4 ? 4 : 6);
        expect(Array.from(ipToBytes(text)!)).toEqual(Array.from(bytes));
      }),
      { numRuns: 2000 },
    );
  });
});
