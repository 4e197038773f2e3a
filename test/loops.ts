/**
 * The loops every conformance test runs against. A loop joins the suite by
 * adding one line here. The native loop joins when its addon is built.
 */
import { expect } from 'vitest';
import { DefaultLoop, NativeLoop, type EventLoop } from '../lib/index.js';
import { loadAddon } from '../lib/loops/native/addon.js';

const addon = loadAddon();

export interface LoopKind {
  name: string;
  create(): EventLoop;
}

export const LOOPS: LoopKind[] = [{ name: 'default', create: () => new DefaultLoop() }];
if (addon !== null) LOOPS.push({ name: 'native', create: () => new NativeLoop() });

/**
 * Run `body` with a fresh loop of `kind`, closing it afterwards. With a debug
 * build of the addon (the sanitizer run), a native loop must hold nothing
 * after close: no libuv handle, timer or reference left behind by any test.
 */
/** One turn of Node's loop. */
export const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
/** uv_close callbacks run in the closing phase, after setImmediate's check phase: wait two iterations. */
export async function closeCallbacksRan(): Promise<void> {
  await turn();
  await turn();
}

export async function withLoop(kind: LoopKind, body: (loop: EventLoop) => Promise<void>): Promise<void> {
  const counting = kind.name === 'native' && addon?.debugBuild === true;
  if (counting) await closeCallbacksRan(); // handles of earlier tests are gone
  const handlesBefore = counting ? addon!.debugCounters()!.liveHandles : 0;
  const loop = kind.create();
  try {
    await body(loop);
  } finally {
    if (!loop.isRunning()) loop.close();
  }
  if (loop instanceof NativeLoop && addon?.debugBuild) {
    const { handles, activeHandles, timers, streams, closedStreams, references, strongReferences } = loop._nativeStats();
    expect({ handles, activeHandles, timers, streams, closedStreams, references, strongReferences }).toEqual({
      handles: 0,
      activeHandles: 0,
      timers: 0,
      streams: 0,
      closedStreams: 0,
      references: 0,
      strongReferences: 0,
    });
    // Every libuv handle the test made (loop, sockets, listeners) was closed
    // and its close callback ran: nothing leaked.
    await closeCallbacksRan();
    expect(addon!.debugCounters()!.liveHandles).toBe(handlesBefore);
  }
}
