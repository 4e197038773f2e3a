/**
 * What the pool and its workers say to each other, and the code both sides
 * share: running a job in a worker, and carrying an error across the
 * boundary with its class, name, message and stack.
 *
 * Kept free of the rest of the library: a worker loads this file and its
 * entry file only, so it starts fast.
 * @module
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';

/**
 * A job sent to a worker: a module export or a function source, and its arguments.
 *
 * @example
 * ```ts
 * const job: JobMessage = { id: 1, module: 'file:///srv/app/work.js', export: 'hash', args: ['data'] };
 * ```
 */
export interface JobMessage {
  /** The pool's id for the job; the reply carries it back. */
  id: number;
  /** Module work: the module's URL (file:, node: or data:). */
  module?: string;
  /** Module work: the export to call. */
  export?: string;
  /** Function work: the function's source text, evaluated in the worker. */
  source?: string;
  /** The arguments, already checked to be sendable. */
  args: unknown[];
}

/**
 * An Error, flattened so it survives structured clone and v8 serialization unchanged.
 *
 * @example
 * ```ts
 * const wire: SerializedError = { kind: 'error', builtin: 'RangeError', name: 'RangeError', message: 'too big' };
 * ```
 */
export interface SerializedError {
  kind: 'error';
  /** The nearest built-in class in its prototype chain (`RangeError` for `class E extends RangeError`). */
  builtin: string;
  name: string;
  message: string;
  stack?: string;
  /** Own enumerable properties that can be sent (`code`, `errno`, `path`...). */
  props?: Record<string, unknown>;
  cause?: SerializedThrow;
  /** AggregateError's errors. */
  errors?: SerializedThrow[];
}

/**
 * Anything a worker threw: an Error, or another value (sent as is when it can be).
 *
 * @example
 * ```ts
 * const thrown: SerializedThrow = { kind: 'value', value: { code: 42 } };
 * ```
 */
export type SerializedThrow = SerializedError | { kind: 'value'; value: unknown };

/**
 * A worker's answer to a job. `fatal`: the worker is going down after this reply.
 *
 * @example
 * ```ts
 * const reply: ReplyMessage = { id: 1, ok: true, value: 'ab12…' };
 * ```
 */
export type ReplyMessage =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: SerializedThrow; fatal?: boolean };

const BUILTIN_ERRORS: Record<string, new (message?: string) => Error> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

function isErrorLike(value: unknown): value is Error {
  return (
    value instanceof Error ||
    (typeof value === 'object' && value !== null && Object.prototype.toString.call(value) === '[object Error]')
  );
}

function nearestBuiltin(error: object): string {
  if (typeof DOMException === 'function' && error instanceof DOMException) return 'DOMException';
  if (error instanceof AggregateError) return 'AggregateError';
  for (let proto = Object.getPrototypeOf(error); proto !== null; proto = Object.getPrototypeOf(proto)) {
    const ctor = Object.prototype.hasOwnProperty.call(proto, 'constructor') ? proto.constructor : undefined;
    if (typeof ctor === 'function' && BUILTIN_ERRORS[ctor.name] === ctor) return ctor.name;
  }
  return 'Error';
}

function sendable(value: unknown): boolean {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol')) {
    return true;
  }
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * Flatten a thrown value for the trip to the other side.
 *
 * @example
 * ```ts
 * const wire = serializeThrow(new RangeError('too big')); // { kind: 'error', builtin: 'RangeError', ... }
 * ```
 */
export function serializeThrow(thrown: unknown, depth = 0): SerializedThrow {
  if (!isErrorLike(thrown)) {
    return { kind: 'value', value: sendable(thrown) ? thrown : String(thrown) };
  }
  let name = 'Error';
  let message = '';
  let stack: string | undefined;
  try {
    name = String(thrown.name);
    message = String(thrown.message);
    stack = typeof thrown.stack === 'string' ? thrown.stack : undefined;
  } catch {
    // A getter that throws: keep what we have.
  }
  const out: SerializedError = { kind: 'error', builtin: nearestBuiltin(thrown), name, message };
  if (stack !== undefined) out.stack = stack;
  for (const key of Object.keys(thrown)) {
    if (key === 'name' || key === 'message' || key === 'stack' || key === 'cause' || key === 'errors') continue;
    let value: unknown;
    try {
      value = (thrown as unknown as Record<string, unknown>)[key];
    } catch {
      continue;
    }
    if (sendable(value)) (out.props ??= {})[key] = value;
  }
  if (depth < 8) {
    if ('cause' in thrown && thrown.cause !== undefined) out.cause = serializeThrow(thrown.cause, depth + 1);
    const errors = (thrown as { errors?: unknown }).errors;
    if (Array.isArray(errors)) out.errors = errors.map((e) => serializeThrow(e, depth + 1));
  }
  return out;
}

/**
 * Rebuild what a worker threw: an instance of the same built-in class
 * (`TypeError`, `RangeError`, ..., `AggregateError`, `DOMException`; `Error`
 * for other classes), with the original `name`, `message`, `stack`, `cause`
 * and sendable own properties such as `code`.
 *
 * @example
 * ```ts
 * const err = deserializeThrow(reply.error) as Error;
 * err instanceof RangeError; // true when the worker threw a RangeError (or a subclass)
 * ```
 */
export function deserializeThrow(wire: SerializedThrow): unknown {
  if (wire.kind === 'value') return wire.value;
  let error: Error;
  if (wire.builtin === 'AggregateError') {
    error = new AggregateError((wire.errors ?? []).map(deserializeThrow), wire.message);
  } else if (wire.builtin === 'DOMException' && typeof DOMException === 'function') {
    error = new DOMException(wire.message, wire.name);
  } else {
    error = new (BUILTIN_ERRORS[wire.builtin] ?? Error)(wire.message);
  }
  if (error.name !== wire.name) {
    Object.defineProperty(error, 'name', { value: wire.name, writable: true, configurable: true, enumerable: false });
  }
  if (wire.stack !== undefined) {
    Object.defineProperty(error, 'stack', { value: wire.stack, writable: true, configurable: true, enumerable: false });
  }
  if (wire.cause !== undefined) {
    Object.defineProperty(error, 'cause', {
      value: deserializeThrow(wire.cause),
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
  if (wire.props !== undefined) {
    for (const [key, value] of Object.entries(wire.props)) {
      try {
        (error as unknown as Record<string, unknown>)[key] = value;
      } catch {
        // A read-only property of the class (DOMException.code): keep the class's own.
      }
    }
  }
  return error;
}

// ---------------------------------------------------------------------------
// The worker side.

/** Compiled functions by source: the same function sent again is not re-evaluated. */
const compiled = new Map<string, (...args: unknown[]) => unknown>();
const COMPILED_MAX = 256;
let workRequire: NodeJS.Require | null = null;

/**
 * Turn a function's source back into a function. It is evaluated at the top
 * level of the worker, where `require` (resolving from the working directory)
 * and dynamic `import()` are available; nothing from the sender's scope is.
 */
function compile(source: string): (...args: unknown[]) => unknown {
  let fn = compiled.get(source);
  if (fn === undefined) {
    workRequire ??= createRequire(join(process.cwd(), '[aioloop worker].js'));
    // The newline ends a trailing `// comment` of the source.
    fn = new Function('require', `return (${source}\n);`)(workRequire) as (...args: unknown[]) => unknown;
    if (compiled.size >= COMPILED_MAX) compiled.delete(compiled.keys().next().value!);
    compiled.set(source, fn);
  }
  return fn;
}

async function resolveWork(job: JobMessage): Promise<(...args: unknown[]) => unknown> {
  if (job.source !== undefined) return compile(job.source);
  const mod = (await import(job.module!)) as Record<string, unknown>;
  const fn = mod[job.export!];
  if (typeof fn !== 'function') {
    throw new TypeError(
      `module ${job.module} has no function export '${job.export}' (found ${fn === undefined ? 'nothing' : typeof fn})`,
    );
  }
  return fn as (...args: unknown[]) => unknown;
}

/**
 * Run one job in this worker; never rejects: a failure becomes an error reply.
 *
 * @example
 * ```ts
 * parentPort.on('message', async (job) => parentPort.postMessage(await runJob(job)));
 * ```
 */
export async function runJob(job: JobMessage): Promise<ReplyMessage> {
  try {
    const fn = await resolveWork(job);
    const value = await fn(...job.args);
    return { id: job.id, ok: true, value };
  } catch (error) {
    return { id: job.id, ok: false, error: serializeThrow(error) };
  }
}

/**
 * The reply that replaces a result which could not be sent back.
 *
 * @example
 * ```ts
 * try { port.postMessage(reply); } catch (e) { port.postMessage(unsendableResult(job, e)); }
 * ```
 */
export function unsendableResult(job: JobMessage, cause: unknown): ReplyMessage {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const what = job.source !== undefined ? 'the function' : `${job.module}#${job.export}`;
  const error = new TypeError(`the result of ${what} could not be sent back from the worker: ${reason}`);
  return { id: job.id, ok: false, error: serializeThrow(error) };
}
