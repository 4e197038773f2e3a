/**
 * The loops every conformance test runs against. A loop joins the suite by
 * adding one line here.
 */
import { DefaultLoop, type EventLoop } from '../lib/index.js';

export interface LoopKind {
  name: string;
  create(): EventLoop;
}

export const LOOPS: LoopKind[] = [{ name: 'default', create: () => new DefaultLoop() }];

/** Run `body` with a fresh loop of `kind`, closing it afterwards. */
export async function withLoop(kind: LoopKind, body: (loop: EventLoop) => Promise<void>): Promise<void> {
  const loop = kind.create();
  try {
    await body(loop);
  } finally {
    if (!loop.isRunning()) loop.close();
  }
}
