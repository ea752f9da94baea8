import { chmod, lstat, unlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { resolve } from 'node:path';
import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Clock, TimerHandle } from '../clock/clock.js';
import { realClock } from '../clock/clock.js';
import { errorText } from '../log/logger.js';

/** Linux keeps a unix socket path in `sun_path`, 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

/** How long shutdown() waits for calls in flight before it cancels them, unless told otherwise. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 5_000;

/** One gRPC service: its definition (generated code) and the handlers, as for grpc-js `Server.addService`. */
export interface GrpcService {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

export interface UnixSocketServerOptions {
  /** Filesystem path of the socket (no `unix://` prefix); its directory must exist. */
  path: string;
  services: readonly GrpcService[];
  /**
   * Permission bits given to the socket file once it is bound, such as 0o600 (owner only): connecting needs write
   * permission on the file. Without it the file keeps the mode the process umask gives it.
   */
  mode?: number;
  /** Times the shutdown grace period. Default: the real clock. */
  clock?: Clock;
}

/** The socket path is taken by something that is not a socket; the server leaves it alone. */
export class NotASocketError extends Error {
  readonly path: string;

  constructor(path: string, what: string) {
    super(`file exists at socket path ${path} but it is not a socket (${what})`);
    this.name = 'NotASocketError';
    this.path = path;
  }
}

/** Throws when path cannot be a unix socket address (too long for `sun_path`). */
export function checkSocketPath(path: string): void {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(`socket path longer than ${MAX_SOCKET_PATH_BYTES} bytes: ${path}`);
  }
}

/**
 * A gRPC server on a unix socket, with the socket file's lifecycle: listen() removes a stale socket left at the path
 * (a crashed predecessor's), refuses a path held by anything else, and sets the file's mode; shutdown() removes the
 * socket file and stops accepting, lets calls in flight finish for a bounded time and cancels the rest.
 */
export class UnixSocketServer {
  readonly path: string;
  /** The `unix:///…` target clients dial. */
  readonly address: string;

  private readonly server: Server;
  private readonly clock: Clock;
  private stopping: Promise<void> | undefined;

  private constructor(path: string, server: Server, clock: Clock) {
    this.path = path;
    this.address = `unix://${path}`;
    this.server = server;
    this.clock = clock;
  }

  /** Serves the services on options.path; resolves once the socket accepts connections and has its mode. */
  static async listen(options: UnixSocketServerOptions): Promise<UnixSocketServer> {
    const path = resolve(options.path);
    checkSocketPath(path);
    await removeStaleSocket(path);
    const server = new Server();
    for (const service of options.services) server.addService(service.definition, service.implementation);
    const listening = new UnixSocketServer(path, server, options.clock ?? realClock);
    try {
      await bind(server, listening.address);
    } catch (err) {
      server.forceShutdown();
      throw new Error(`failed to listen on unix socket ${path}: ${errorText(err)}`, { cause: err });
    }
    if (options.mode !== undefined) await listening.applyMode(options.mode);
    return listening;
  }

  /**
   * Removes the socket file and stops accepting connections and calls, waits up to graceMs for calls in flight, then
   * cancels those left. graceMs 0 cancels everything at once. Later calls return the first call's promise.
   */
  shutdown(graceMs = DEFAULT_SHUTDOWN_GRACE_MS): Promise<void> {
    this.stopping ??= this.stop(graceMs);
    return this.stopping;
  }

  // The socket file goes first: closing a listener on a unix socket path unlinks the path (Node's server.close()),
  // and both tryShutdown and forceShutdown close it at once. A successor may bind the path while calls in flight
  // finish here, so nothing is removed afterwards.
  private async stop(graceMs: number): Promise<void> {
    const drained = graceMs > 0 && (await this.drain(graceMs));
    if (!drained) this.server.forceShutdown();
  }

  /** True when every call finished within graceMs. */
  private async drain(graceMs: number): Promise<boolean> {
    let timer: TimerHandle | undefined;
    // tryShutdown closes the listener and sends GOAWAY: no new connections or calls.
    const drained = new Promise<boolean>((done) => this.server.tryShutdown(() => done(true)));
    const graceOver = new Promise<boolean>((done) => {
      timer = this.clock.after(graceMs, () => done(false));
    });
    const finished = await Promise.race([drained, graceOver]);
    timer?.cancel();
    return finished;
  }

  // chmod after bind: the file exists only once bound, and a temporary umask would be process-wide while bindAsync
  // runs. Until the chmod the file has the umask's mode (0755 with the usual 022, which already refuses other users:
  // connecting needs write permission).
  private async applyMode(mode: number): Promise<void> {
    try {
      await chmod(this.path, mode);
    } catch (err) {
      await this.shutdown(0);
      throw new Error(`failed to set mode 0${mode.toString(8)} on socket ${this.path}: ${errorText(err)}`, {
        cause: err,
      });
    }
  }
}

function bind(server: Server, address: string): Promise<void> {
  return new Promise((done, fail) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (err) => (err ? fail(err) : done()));
  });
}

/** Removes a socket file at path; anything else there is a NotASocketError. A missing path is fine. */
async function removeStaleSocket(path: string): Promise<void> {
  const stats = await lstatIfExists(path);
  if (stats === undefined) return;
  if (!stats.isSocket()) throw new NotASocketError(path, fileKind(stats));
  await unlinkIfExists(path);
}

/** lstat, or undefined when nothing is at path. */
async function lstatIfExists(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

async function unlinkIfExists(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

function fileKind(stats: Stats): string {
  if (stats.isFile()) return 'a regular file';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isFIFO()) return 'a named pipe';
  return 'a device';
}
