import { writeFileSync } from 'node:fs';
import type { ChannelOptions, ServiceError } from '@grpc/grpc-js';
import { Client, Metadata, connectivityState, credentials, status } from '@grpc/grpc-js';
import type { Clock, TimerHandle } from '../clock/clock.js';
import { realClock } from '../clock/clock.js';
import type { Logger } from '../log/logger.js';
import type { CsiAddress } from './address.js';
import { normalizeCsiAddress } from './address.js';
import type { CsiMethod, CsiRequestInit, CsiResponse } from './methods.js';
import { csiMethod } from './methods.js';
import type { CsiOperationMetrics } from './metrics.js';
import { stripSecrets } from './protosanitizer.js';
import { CsiRpcError } from './status.js';

export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
const STILL_CONNECTING_INTERVAL_MS = 10_000;

const CHANNEL_OPTIONS: ChannelOptions = {
  // "Never idle": grpc-js' 30 min default would turn a quiet connection into a
  // false "lost connection". Larger values overflow Node's timer into a 1 ms loop.
  'grpc.client_idle_timeout_ms': 2_147_483_647,
  // Go dials with a 1 s maximum backoff: a driver that starts late is picked up within about a second.
  'grpc.max_reconnect_backoff_ms': 1000,
  // gRPC's default, stated so that it is not raised by accident (Go sidecars keep it).
  'grpc.max_receive_message_length': 4 * 1024 * 1024,
  // No channelz registry entry per connection (livenessprobe connects per request).
  'grpc.enable_channelz': 0,
  // Own socket per connection, as with Go's ClientConn: closing one never touches another's transport.
  'grpc.use_local_subchannel_pool': 1,
};

export interface CsiConnectOptions {
  /** `--csi-address`: an absolute socket path, `unix:///path`, or a TCP target. */
  address: string;
  logger: Logger;
  metrics?: CsiOperationMetrics;
  /** How long to wait for the driver; 0 waits forever. Default 30 s. */
  connectTimeoutMs?: number;
  /** Deadline for calls that do not pass their own timeoutMs. Default: none. */
  callTimeoutMs?: number;
  /** Called once each time an established connection drops (unix sockets only). */
  onConnectionLoss?: () => void;
  /** Aborting stops waiting for the driver. */
  signal?: AbortSignal;
  /** Caps logged responses like Go's SetMaxGRPCLogLength; 0 or less means no cap (the default). */
  maxLogLength?: number;
  /** How often `Still connecting` is logged while waiting. Default 10 s. */
  stillConnectingIntervalMs?: number;
  /** Times the wait for the driver (give-up and `Still connecting`). Default realClock. */
  clock?: Clock;
}

export interface CsiCallOptions {
  /** Per-call deadline; overrides the connection's callTimeoutMs. */
  timeoutMs?: number;
  /** Aborting cancels the call (it fails with Canceled). */
  signal?: AbortSignal;
  /** Values for the metrics' extra labels (e.g. `{ migrated: 'true' }`). */
  metricLabels?: Readonly<Record<string, string>>;
}

/** The part of a connection that rpc helpers and sidecar logic use; small enough to fake. */
export interface CsiCaller {
  call<M extends CsiMethod>(method: M, request: CsiRequestInit<M>, options?: CsiCallOptions): Promise<CsiResponse<M>>;
}

interface WaitOptions {
  clock: Clock;
  /** 0 waits forever. */
  timeoutMs: number;
  logIntervalMs: number;
  signal: AbortSignal | undefined;
}

interface ConnectionParts {
  address: CsiAddress;
  client: Client;
  logger: Logger;
  metrics: CsiOperationMetrics | undefined;
  callTimeoutMs: number | undefined;
  maxLogLength: number;
}

/**
 * One gRPC channel to a CSI driver, shared by all services, with csi-lib-utils'
 * behaviour: wait for the driver at startup, detect a lost unix connection,
 * record the operations histogram and trace calls at V(5) without secrets.
 */
export class CsiConnection implements CsiCaller {
  readonly address: CsiAddress;
  private readonly client: Client;
  private readonly logger: Logger;
  private readonly metrics: CsiOperationMetrics | undefined;
  private readonly callTimeoutMs: number | undefined;
  private readonly maxLogLength: number;
  private closed = false;

  private constructor(parts: ConnectionParts) {
    this.address = parts.address;
    this.client = parts.client;
    this.logger = parts.logger;
    this.metrics = parts.metrics;
    this.callTimeoutMs = parts.callTimeoutMs;
    this.maxLogLength = parts.maxLogLength;
  }

  /**
   * Connects and waits until the channel is READY. Rejects after
   * connectTimeoutMs (sidecars exit 1 then) or when the signal aborts.
   */
  static async connect(options: CsiConnectOptions): Promise<CsiConnection> {
    const address = normalizeCsiAddress(options.address);
    if (options.onConnectionLoss && address.socketPath === undefined) {
      throw new Error('OnConnectionLoss callback only supported for unix:// addresses');
    }
    options.logger.v(5).info('Connecting', { address: address.target });
    const connection = new CsiConnection({
      address,
      client: new Client(address.target, credentials.createInsecure(), CHANNEL_OPTIONS),
      logger: options.logger,
      metrics: options.metrics,
      callTimeoutMs: options.callTimeoutMs,
      maxLogLength: options.maxLogLength ?? 0,
    });
    try {
      await connection.waitUntilReady({
        clock: options.clock ?? realClock,
        timeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
        logIntervalMs: options.stillConnectingIntervalMs ?? STILL_CONNECTING_INTERVAL_MS,
        signal: options.signal,
      });
    } catch (err) {
      connection.close();
      throw err;
    }
    // Like Go, loss detection is only reliable (and only offered) for unix sockets.
    if (address.socketPath !== undefined) connection.watchForLoss(options.onConnectionLoss);
    return connection;
  }

  /** Calls a unary CSI method; rejects with CsiRpcError on any gRPC failure. */
  call<M extends CsiMethod>(
    method: M,
    request: CsiRequestInit<M>,
    options: CsiCallOptions = {},
  ): Promise<CsiResponse<M>> {
    const info = csiMethod(method);
    const message = info.requestFromPartial(request);
    const trace = this.logger.v(5);
    if (trace.enabled) {
      trace.info('GRPC call', {
        method: info.path,
        request: stripSecrets(message, { messageName: `${method}Request` }),
      });
    }
    const timeoutMs = options.timeoutMs ?? this.callTimeoutMs;
    // Real time, not the injected clock: grpc-js checks call deadlines against the wall clock.
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    const started = performance.now();
    const { signal } = options;

    return new Promise<CsiResponse<M>>((resolve, reject) => {
      let onAbort: (() => void) | undefined;
      const finish = (error: CsiRpcError | undefined, response: CsiResponse<M> | undefined): void => {
        if (onAbort) signal?.removeEventListener('abort', onAbort);
        this.metrics?.record(info.path, error, (performance.now() - started) / 1000, options.metricLabels);
        if (trace.enabled) {
          const text = stripSecrets(response ?? {}, { messageName: `${method}Response` });
          trace.info('GRPC response', { response: this.capLogLength(text), err: error ?? null });
        }
        if (error) reject(error);
        else resolve(response as CsiResponse<M>);
      };
      if (this.closed) {
        // What grpc-go answers on a closed ClientConn.
        const details = 'grpc: the client connection is closing';
        finish(new CsiRpcError({ method: info.path, code: status.CANCELLED, details }), undefined);
        return;
      }
      const call = this.client.makeUnaryRequest(
        info.path,
        info.serializeRequest,
        info.deserializeResponse,
        message,
        new Metadata(),
        { deadline },
        (err: ServiceError | null, response?: CsiResponse<M>) => {
          const error = err
            ? new CsiRpcError({
                method: info.path,
                code: err.code,
                details: err.details,
                metadata: err.metadata,
                cause: err,
              })
            : undefined;
          finish(error, response);
        },
      );
      if (signal?.aborted) {
        call.cancel();
      } else if (signal) {
        onAbort = () => call.cancel();
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  /** Closes the channel; later calls fail with Canceled. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }

  private capLogLength(text: string): string {
    const max = this.maxLogLength;
    if (max <= 0 || text.length <= max) return text;
    return `${text.slice(0, max)} [response body too large, log capped to ${max} chars]`;
  }

  private waitUntilReady({ clock, timeoutMs, logIntervalMs, signal }: WaitOptions): Promise<void> {
    const channel = this.client.getChannel();

    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let giveUp: TimerHandle | undefined;
      let stillConnecting: TimerHandle | undefined;
      const settle = (err?: unknown): void => {
        if (settled) return;
        settled = true;
        giveUp?.cancel();
        stillConnecting?.cancel();
        signal?.removeEventListener('abort', onAbort);
        if (err === undefined) resolve();
        else reject(err);
      };
      // The caller closes the channel on rejection; that wakes the pending watcher, which then finds settled set.
      const onAbort = (): void => settle(abortReason(signal));
      const onGiveUp = (): void => {
        const state = channel.getConnectivityState(false);
        settle(
          new Error(
            `failed to connect to CSI driver at ${this.address.target} within ${timeoutMs} ms ` +
              `(channel state ${connectivityState[state]})`,
          ),
        );
      };
      const logStillConnecting = (): void => {
        this.logger.warn('Still connecting', { address: this.address.target });
        stillConnecting = clock.after(logIntervalMs, logStillConnecting);
      };
      const step = (): void => {
        if (settled) return;
        // tryToConnect: an IDLE channel only dials when asked.
        const state = channel.getConnectivityState(true);
        if (state === connectivityState.READY) return settle();
        if (state === connectivityState.SHUTDOWN) return settle(new Error('CSI connection closed while connecting'));
        channel.watchConnectivityState(state, Infinity, step);
      };
      if (signal?.aborted) return settle(abortReason(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs > 0) giveUp = clock.after(timeoutMs, onGiveUp);
      stillConnecting = clock.after(logIntervalMs, logStillConnecting);
      step();
    });
  }

  /**
   * grpc-js moves an established connection READY → IDLE (or
   * TRANSIENT_FAILURE) when the driver goes away. Report each such drop once;
   * after a reconnect (the next call dials again) a later drop is reported too.
   */
  private watchForLoss(onConnectionLoss: (() => void) | undefined): void {
    const channel = this.client.getChannel();
    const watch = (previous: connectivityState): void => {
      // watchConnectivityState throws once the channel is SHUTDOWN.
      if (this.closed) return;
      channel.watchConnectivityState(previous, Infinity, () => {
        if (this.closed) return;
        const state = channel.getConnectivityState(false);
        if (previous === connectivityState.READY && state !== connectivityState.READY) {
          this.logger.error(undefined, 'Lost connection to CSI driver', {
            address: this.address.target,
            state: connectivityState[state],
          });
          try {
            onConnectionLoss?.();
          } catch (err) {
            // Thrown inside grpc-js' state notification otherwise.
            this.logger.error(err, 'Connection loss handler failed');
          }
        }
        watch(state);
      });
    };
    watch(connectivityState.READY);
  }
}

function abortReason(signal: AbortSignal | undefined): unknown {
  return signal?.reason ?? new Error('aborted');
}

export interface ExitOnConnectionLossOptions {
  logger: Logger;
  exit?: (code: number) => void;
  terminationLogPath?: string;
}

/**
 * The attacher's and provisioner's reaction to a lost driver: restart the
 * container so capabilities are read again. Writes the reason where kubelet
 * shows it as the container's termination message.
 */
export function exitOnConnectionLoss(options: ExitOnConnectionLossOptions): () => void {
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const path = options.terminationLogPath ?? '/dev/termination-log';
  return () => {
    const message = 'Lost connection to CSI driver, exiting';
    try {
      writeFileSync(path, message, { mode: 0o644 });
    } catch (err) {
      options.logger.error(err, 'Failed to write termination log', { path });
    }
    options.logger.error(undefined, message);
    exit(1);
  };
}
