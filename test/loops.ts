/**
 * The loops every conformance test runs against. A loop joins the suite by
 * adding one line here. The native loop joins when its addon is built.
 */
import { DefaultLoop, NativeLoop, type EventLoop } from '../lib/index.js';
import { loadAddon } from '../lib/loops/native/addon.js';

export interface LoopKind {
  name: string;
  create(): EventLoop;
}

export const LOOPS: LoopKind[] = [{ name: 'default', create: () => new DefaultLoop() }];
if (loadAddon() !== null) LOOPS.push({ name: 'native', create: () => new NativeLoop() });

/** Run `body` with a fresh loop of `kind`, closing it afterwards. */
export async function withLoop(kind: LoopKind, body: (loop: EventLoop) => Promise<void>): Promise<void> {
  const loop = kind.create();
  try {
    await body(loop);
  } finally {
    if (!loop.isRunning()) loop.close();
  }
}
