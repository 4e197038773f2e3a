/**
 * aioloop: asyncio's event-loop model for TypeScript on Node.js.
 *
 * @example
 * ```ts
 * import * as aio from 'aioloop';
 * function* main() {
 *   const t = aio.createTask(aio.sleep(50, 'hello'));
 *   console.log(yield* t);
 * }
 * await aio.run(main);
 * ```
 * @module
 */
export * from './errors.js';
export {
  Handle,
  TimerHandle,
  getRunningLoop,
  getEventLoop,
  setEventLoop,
  newEventLoop,
  getEventLoopPolicy,
  setEventLoopPolicy,
  type EventLoop,
  type EventLoopPolicy,
  type ExceptionContext,
  type ExceptionHandler,
  type TaskFactory,
  type TaskOptions,
} from './events.js';
export { isCoroutine, isCoroutineFunction, type Coroutine, type Awaitable, type TaskTarget } from './coroutines.js';
export { Future, fromPromise, isFuture } from './futures.js';
export { Task, createTask, ensureFuture, sleep, currentTask, allTasks } from './tasks.js';
export { DefaultLoop } from './loops/default/loop.js';
export { NativeLoop } from './loops/native/loop.js';
export { DefaultLoopPolicy, NativeLoopPolicy, install, LOOP_NAMES, type LoopName } from './policies.js';
export { run, Runner, type RunOptions } from './runners.js';
export { gather, wait, waitFor, shield, asCompleted, AsCompleted, type ReturnWhen, type AwaitedOf } from './combinators.js';
export { timeout, timeoutAt, Timeout } from './timeouts.js';
export { taskGroup, TaskGroup } from './taskgroups.js';
export { abortError, type SignalOptions } from './abort.js';
export { Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier, Acquirable, type LockedBody } from './locks.js';
export {
  ThreadPoolExecutor,
  ProcessPoolExecutor,
  PoolExecutor,
  WorkerExitedError,
  toThread,
  defaultThreadWorkers,
  type ModuleWork,
  type Work,
  type SubmitOptions,
  type SubmittingExecutor,
  type ShutdownOptions,
  type ThreadPoolOptions,
  type ProcessPoolOptions,
} from './executors.js';
export { Queue, PriorityQueue, LifoQueue, type PriorityQueueOptions } from './queues.js';
export {
  WriteFlowControl,
  resolveWriteBufferLimits,
  DEFAULT_HIGH_WATER,
  DEFAULT_LOW_WATER,
  type Transport,
  type BaseTransport,
  type ReadTransport,
  type WriteTransport,
  type DatagramTransport,
  type SockAddr,
} from './transports.js';
export {
  isBufferedProtocol,
  type BaseProtocol,
  type Protocol,
  type BufferedProtocol,
  type DatagramProtocol,
  type SubprocessProtocol,
  type ProtocolFactory,
} from './protocols.js';
export { SocketTransport, type ConnectionOptions } from './net_transport.js';
export { Server, nodeSupportsReusePort, type ServerOptions } from './servers.js';
export {
  StreamReader,
  StreamWriter,
  StreamReaderProtocol,
  openConnection,
  openUnixConnection,
  startServer,
  startUnixServer,
  DEFAULT_LIMIT,
  type OnClient,
  type StreamOptions,
} from './streams.js';
export { UdpTransport, type DatagramAddress, type DatagramEndpointOptions } from './datagrams.js';
export {
  Process,
  SubprocessTransport,
  SubprocessStreamProtocol,
  ReadPipeTransport,
  WritePipeTransport,
  createSubprocessExec,
  createSubprocessShell,
  type StdioMode,
  type SubprocessOptions,
} from './subprocess.js';
export { signalName, signalNumber } from './signals.js';
export {
  AF_INET,
  AF_INET6,
  SOCK_STREAM,
  SOCK_DGRAM,
  SOCK_RAW,
  IPPROTO_TCP,
  IPPROTO_UDP,
  AI_PASSIVE,
  AI_NUMERICHOST,
  NI_NUMERICHOST,
  NI_NUMERICSERV,
  NI_NAMEREQD,
  type AddrInfo,
  type GetaddrinfoOptions,
} from './dns.js';
export { PipeReadTransport, PipeWriteTransport } from './pipes.js';
