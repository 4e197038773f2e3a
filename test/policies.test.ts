/** Loop policies and loop selection: in-process and in child processes (env, --import). */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DefaultLoop,
  DefaultLoopPolicy,
  NativeLoop,
  NativeLoopPolicy,
  getEventLoop,
  getEventLoopPolicy,
  getRunningLoop,
  install,
  newEventLoop,
  setEventLoop,
  setEventLoopPolicy,
} from '../lib/index.js';
import { runChild } from './child.js';
import { loadAddon } from '../lib/loops/native/addon.js';

afterEach(() => setEventLoopPolicy(null));

describe('policies', () => {
  it('uses the default loop policy when nothing is chosen', () => {
    const policy = getEventLoopPolicy();
    expect(policy).toBeInstanceOf(DefaultLoopPolicy);
    const loop = newEventLoop();
    expect(loop).toBeInstanceOf(DefaultLoop);
    loop.close();
  });

  it('keeps one current loop per policy, replaced by setEventLoop', () => {
    const a = getEventLoop();
    expect(getEventLoop()).toBe(a);
    const b = new DefaultLoop();
    setEventLoop(b);
    expect(getEventLoop()).toBe(b);
    a.close();
    b.close();
    // A closed current loop is replaced on the next request.
    const c = getEventLoop();
    expect(c).not.toBe(b);
    c.close();
    expect(() => setEventLoop(5 as never)).toThrow(TypeError);
  });

  it('prefers the running loop in getEventLoop', async () => {
    const loop = new DefaultLoop();
    try {
      const inside = await loop.runUntilComplete(loop.createTask(() => [getEventLoop(), getRunningLoop()]));
      expect(inside).toEqual([loop, loop]);
    } finally {
      loop.close();
    }
    expect(() => getRunningLoop()).toThrow('no running event loop');
  });

  it('accepts any object implementing the policy interface, or null', () => {
    const custom = {
      getEventLoop: () => loop,
      setEventLoop: () => {},
      newEventLoop: () => loop,
    };
    const loop = new DefaultLoop();
    setEventLoopPolicy(custom);
    expect(getEventLoopPolicy()).toBe(custom);
    expect(newEventLoop()).toBe(loop);
    setEventLoopPolicy(null);
    expect(getEventLoopPolicy()).toBeInstanceOf(DefaultLoopPolicy);
    expect(() => setEventLoopPolicy({} as never)).toThrow(TypeError);
    expect(() => setEventLoopPolicy('native' as never)).toThrow(TypeError);
    loop.close();
  });

  it('exports distinct loop classes', () => {
    expect(NativeLoop).not.toBe(DefaultLoop);
  });

  it.runIf(loadAddon() !== null)('creates native loops when the addon is built', () => {
    const loop = new NativeLoopPolicy().newEventLoop();
    expect(loop).toBeInstanceOf(NativeLoop);
    loop.close();
    install();
    expect(getEventLoopPolicy()).toBeInstanceOf(NativeLoopPolicy);
  });
});

describe('loop selection without code changes (child processes)', () => {
  const probe = `
    const loop = aio.newEventLoop();
    console.log(loop.constructor.name);
    console.log(await loop.runUntilComplete(aio.sleep ? loop.createTask(function* () { yield* aio.sleep(1); return 'ran'; }) : null));
    loop.close();`;

  it('uses the default loop when AIOLOOP_LOOP is unset or "default"', async () => {
    for (const value of [undefined, '', 'default']) {
      const r = await runChild(probe, { env: { AIOLOOP_LOOP: value } });
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('DefaultLoop\nran\n');
      expect(r.code).toBe(0);
    }
  });

  it('rejects an unknown AIOLOOP_LOOP, naming the accepted values', async () => {
    const r = await runChild(probe, { env: { AIOLOOP_LOOP: 'uvloop' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('AIOLOOP_LOOP="uvloop" is not a loop; accepted values: default, native');
  });

  it.runIf(loadAddon() !== null)('uses the native loop for AIOLOOP_LOOP=native and --import aioloop/install', async () => {
    const viaEnv = await runChild(probe, { env: { AIOLOOP_LOOP: 'native' } });
    expect(viaEnv.stderr).toBe('');
    expect(viaEnv.stdout).toBe('NativeLoop\nran\n');
    expect(viaEnv.code).toBe(0);
    const viaImport = await runChild(probe, { nodeArgs: ['--import', 'aioloop/install'] });
    expect(viaImport.stderr).toBe('');
    expect(viaImport.stdout).toBe('NativeLoop\nran\n');
    expect(viaImport.code).toBe(0);
  });

  // When the addon is not built, choosing the native loop must fail loudly
  // with the reason and the fix (a missing binary stands in for "not built").
  it('fails clearly for AIOLOOP_LOOP=native and --import aioloop/install when the addon is not built', async () => {
    const env = { AIOLOOP_NATIVE_BINARY: '/nonexistent/aioloop.node' };
    const viaEnv = await runChild(probe, { env: { ...env, AIOLOOP_LOOP: 'native' } });
    expect(viaEnv.code).not.toBe(0);
    expect(viaEnv.stderr).toContain('native loop is not available');
    expect(viaEnv.stderr).toContain('npm run build:native');
    const viaImport = await runChild(probe, { env, nodeArgs: ['--import', 'aioloop/install'] });
    expect(viaImport.code).not.toBe(0);
    expect(viaImport.stderr).toContain('native loop is not available');
    const inProcess = await runChild(
      `for (const f of [() => new aio.NativeLoop(), () => new aio.NativeLoopPolicy(), () => aio.install()]) { try { f(); console.log('no error'); } catch (e) { console.log(e.message.includes('npm run build:native')); } } console.log(aio.getEventLoopPolicy().constructor.name);`,
      { env },
    );
    expect(inProcess.stdout).toBe('true\ntrue\ntrue\nDefaultLoopPolicy\n'); // install() changed nothing
  });

  it('turns on debug mode with AIOLOOP_DEBUG=1', async () => {
    const r = await runChild(`console.log(new aio.DefaultLoop().getDebug(), await aio.run(function* () { return aio.getRunningLoop().getDebug(); }));`, {
      env: { AIOLOOP_DEBUG: '1' },
    });
    expect(r.stdout).toBe('true true\n');
    const off = await runChild(`console.log(new aio.DefaultLoop().getDebug());`, { env: { AIOLOOP_DEBUG: undefined } });
    expect(off.stdout).toBe('false\n');
  });

  it('lets the process exit while a loop with pending timers is not running', async () => {
    const r = await runChild(`
      const loop = new aio.DefaultLoop();
      loop.callLater(60_000, () => console.log('never'));
      loop.callSoon(() => console.log('never either'));
      console.log('bye');`);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('bye\n');
    expect(r.ms).toBeLessThan(8_000); // far below the 60 s timer: the loop did not hold the process
  });

  it('keeps the process alive while a loop runs, and lets it exit once stopped', async () => {
    const r = await runChild(`
      const loop = new aio.DefaultLoop();
      loop.callLater(300, () => { console.log('stopping'); loop.stop(); });
      loop.callLater(60_000, () => console.log('never'));
      await loop.runForever();
      console.log('stopped');`);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('stopping\nstopped\n');
  });

  it('reports a task exception nobody retrieved when the task is garbage-collected', async () => {
    const r = await runChild(
      `
      const loop = new aio.DefaultLoop();
      const seen = [];
      loop.setExceptionHandler((_, ctx) => seen.push(ctx.message + ': ' + ctx.exception.message));
      await loop.runUntilComplete(loop.createTask(function* () {
        aio.createTask(function* () { throw new Error('dropped on the floor'); }, { name: 'lost' });
        yield* aio.sleep(5);
      }));
      for (let i = 0; i < 20 && seen.length === 0; i++) {
        globalThis.gc();
        await new Promise((r) => setTimeout(r, 10));
      }
      console.log(JSON.stringify(seen));
      loop.close();`,
      { nodeArgs: ['--expose-gc'] },
    );
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual(['Task exception was never retrieved (task lost): dropped on the floor']);
  });

  describe('the "aioloop" field of the application package.json', () => {
    const apps: string[] = [];
    afterAll(() => {
      for (const dir of apps) rmSync(dir, { recursive: true, force: true });
    });
    function app(pkg: unknown): string {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'aioloop-app-'));
      apps.push(dir);
      writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg));
      mkdirSync(path.join(dir, 'src', 'deep'), { recursive: true });
      return dir;
    }
    const probeName = `console.log(aio.newEventLoop().constructor.name);`;

    it('selects the loop from the nearest package.json, below env and code', async () => {
      const dir = app({ name: 'app', aioloop: { loop: 'native' } });
      const fromDeepCwd = await runChild(probeName, { cwd: path.join(dir, 'src', 'deep'), env: { AIOLOOP_LOOP: undefined } });
      expect(fromDeepCwd.stderr).toBe('');
      expect(fromDeepCwd.stdout).toBe('NativeLoop\n');
      const envWins = await runChild(probeName, { cwd: dir, env: { AIOLOOP_LOOP: 'default' } });
      expect(envWins.stdout).toBe('DefaultLoop\n');
      const codeWins = await runChild(
        `aio.setEventLoopPolicy(new aio.DefaultLoopPolicy()); ${probeName}`,
        { cwd: dir, env: { AIOLOOP_LOOP: undefined } },
      );
      expect(codeWins.stdout).toBe('DefaultLoop\n');
      const runPicksItUp = await runChild(
        `console.log(await aio.run(function* () { return aio.getRunningLoop().constructor.name; }));`,
        { cwd: dir, env: { AIOLOOP_LOOP: undefined } },
      );
      expect(runPicksItUp.stdout).toBe('NativeLoop\n');
    });

    it('uses the default loop when the field is absent, and names the accepted values for a bad one', async () => {
      const plain = app({ name: 'plain' });
      expect((await runChild(probeName, { cwd: plain, env: { AIOLOOP_LOOP: undefined } })).stdout).toBe('DefaultLoop\n');
      const bad = app({ name: 'bad', aioloop: { loop: 'uvloop' } });
      const r = await runChild(probeName, { cwd: bad, env: { AIOLOOP_LOOP: undefined } });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('"aioloop.loop" field of');
      expect(r.stderr).toContain('accepted values: default, native');
    });
  });
});
