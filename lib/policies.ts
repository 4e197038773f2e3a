/**
 * Loop policies and loop selection (asyncio's policy API, plus
 * `AIOLOOP_LOOP` and `install()`).
 * @module
 */
import {
  _getRunningLoop,
  _setDefaultPolicyFactory,
  describe,
  setEventLoopPolicy,
  type EventLoop,
  type EventLoopPolicy,
} from './events.js';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DefaultLoop } from './loops/default/loop.js';
import { NativeLoop, assertNativeLoopAvailable } from './loops/native/loop.js';

/** The loop names accepted by `AIOLOOP_LOOP` and `run(main, { loop })`. */
export const LOOP_NAMES = ['default', 'native'] as const;
/** A loop name. */
export type LoopName = (typeof LOOP_NAMES)[number];

abstract class BaseLoopPolicy implements EventLoopPolicy {
  private _loop: EventLoop | null = null;

  /** The running loop, else this policy's loop (created on first use). */
  getEventLoop(): EventLoop {
    const running = _getRunningLoop();
    if (running !== null) return running;
    if (this._loop === null || this._loop.isClosed()) this._loop = this.newEventLoop();
    return this._loop;
  }

  /** Make `loop` the current loop of this policy. */
  setEventLoop(loop: EventLoop | null): void {
    if (loop !== null && (typeof loop !== 'object' || typeof (loop as EventLoop).runForever !== 'function')) {
      throw new TypeError(`loop must be an EventLoop or null, not ${describe(loop)}`);
    }
    this._loop = loop;
  }

  abstract newEventLoop(): EventLoop;
}

/**
 * Creates `DefaultLoop`s: pure TypeScript on Node's primitives.
 *
 * @example
 * ```ts
 * setEventLoopPolicy(new DefaultLoopPolicy());
 * ```
 */
export class DefaultLoopPolicy extends BaseLoopPolicy {
  newEventLoop(): DefaultLoop {
    return new DefaultLoop();
  }
}

/**
 * Creates `NativeLoop`s. Throws at construction, with the reason, when the
 * native loop is not available, so `install()` fails fast.
 *
 * @example
 * ```ts
 * setEventLoopPolicy(new NativeLoopPolicy());
 * ```
 */
export class NativeLoopPolicy extends BaseLoopPolicy {
  constructor() {
    super();
    assertNativeLoopAvailable();
  }

  newEventLoop(): NativeLoop {
    return new NativeLoop();
  }
}

/**
 * Select the native loop for everything that follows
 * (= `setEventLoopPolicy(new NativeLoopPolicy())`).
 *
 * @example
 * ```ts
 * import { install, run } from 'aioloop';
 * install();
 * await run(main); // on the native loop
 * ```
 */
export function install(): void {
  setEventLoopPolicy(new NativeLoopPolicy());
}

/** @internal Validate a loop name, naming the accepted ones (TypeError for a non-string, else RangeError). */
export function checkLoopName(value: unknown, source: string): LoopName {
  if (typeof value === 'string' && (LOOP_NAMES as readonly string[]).includes(value)) return value as LoopName;
  throw new (typeof value === 'string' ? RangeError : TypeError)(
    `aioloop: ${source}=${typeof value === 'string' ? JSON.stringify(value) : describe(value)} ` +
      `is not a loop; accepted values: ${LOOP_NAMES.join(', ')}`,
  );
}

/** @internal A new loop of the given kind. */
export function newLoopNamed(name: LoopName): EventLoop {
  return name === 'native' ? new NativeLoopPolicy().newEventLoop() : new DefaultLoop();
}

/**
 * The loop asked for without code: `AIOLOOP_LOOP`, else the `"aioloop":
 * { "loop": ... }` field of the application's package.json (the nearest one
 * from the working directory), else null. Code (`setEventLoopPolicy`,
 * `install()`, `run(main, { loop })`) takes precedence over both.
 *
 * @example
 * ```json
 * { "name": "my-server", "aioloop": { "loop": "native" } }
 * ```
 */
export function configuredLoopName(): LoopName | null {
  const value = process.env.AIOLOOP_LOOP;
  if (value !== undefined && value !== '') return checkLoopName(value, 'AIOLOOP_LOOP');
  const found = nearestPackageJson(process.cwd());
  if (found === null) return null;
  const config = (found.json as { aioloop?: unknown }).aioloop;
  if (config === undefined) return null;
  const where = `the "aioloop.loop" field of ${found.file}`;
  if (config === null || typeof config !== 'object' || !('loop' in config)) {
    throw new Error(`aioloop: ${where} is missing; expected { "loop": "${LOOP_NAMES.join('" | "')}" }`);
  }
  return checkLoopName((config as { loop: unknown }).loop, where);
}

/** The nearest package.json at or above `dir` that parses, or null. */
function nearestPackageJson(dir: string): { file: string; json: unknown } | null {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const file = path.join(current, 'package.json');
    if (existsSync(file)) {
      try {
        return { file, json: JSON.parse(readFileSync(file, 'utf8')) };
      } catch {
        return null; // not ours to judge: Node reports a broken package.json itself
      }
    }
    if (path.dirname(current) === current) return null;
  }
}

/** The default policy: what the environment or package.json asks for, else the default loop. */
function policyFromConfig(): EventLoopPolicy {
  return configuredLoopName() === 'native' ? new NativeLoopPolicy() : new DefaultLoopPolicy();
}

_setDefaultPolicyFactory(policyFromConfig);
