/**
 * The native build path: `npm install` builds the addon with node-gyp
 * (`.ci/run` also builds it with cmake-js and runs this file against that
 * build through AIOLOOP_NATIVE_BINARY).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { addonLoadError, loadAddon } from '../../lib/loops/native/addon.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));

describe('native addon', () => {
  it('loads, built against the headers of the running Node', () => {
    const addon = loadAddon();
    expect(addonLoadError()).toBe('');
    expect(addon).not.toBeNull();
    expect(addon!.version()).toBe(pkg.version);
    expect(addon!.libuvVersion()).toBe(process.versions.uv); // uv.h of this Node, not a download
    expect(addon!.napiVersion).toBeGreaterThanOrEqual(8);
    expect(typeof addon!.debugBuild).toBe('boolean');
  });

  it('turns bad calls into JS errors, not crashes', () => {
    const addon = loadAddon()!;
    expect(() => (addon.version as (x: unknown) => string)(1)).toThrow(TypeError);
    expect(() => (addon.libuvVersion as (x: unknown) => string)('x')).toThrow(TypeError);
  });
});
