import type { CoreV1Event } from '@kubernetes/client-node';
import { sleep } from '../clock/clock.js';
import type { Clock } from '../clock/clock.js';
import { isAlreadyExists, isNotFound, KubeApiError, statusCode } from '../kube/errors.js';
import { TokenBucket } from '../kube/token-bucket.js';
import type { Logger } from '../log/logger.js';
import { EventCorrelator } from './correlator.js';
import type { CorrelationResult, CorrelatorOptions } from './correlator.js';
import type { EventSink } from './event-sink.js';
import { Recorder } from './event-recorder.js';
import type { EventRecorder, EventSource } from './event-recorder.js';

export interface EventBroadcasterOptions {
  sink: EventSink;
  clock: Clock;
  logger: Logger;
  /** Events waiting to be written; further ones are dropped (client-go: 1000). */
  queueSize?: number;
  /** Attempts per event before giving up (client-go: 12). */
  maxTries?: number;
  /** Pause between attempts; the first pause is randomised (client-go: 10 s). */
  retryDelayMs?: number;
  /** The writer's own request budget, apart from the controllers' client (client-go's defaults 5 / 10). */
  qps?: number;
  burst?: number;
  random?: () => number;
  correlator?: Omit<CorrelatorOptions, 'clock' | 'nanos'>;
  /** When set, every recorded event is also logged at this verbosity, like StartStructuredLogging. */
  logVerbosity?: number;
}

/**
 * client-go's event broadcaster with one sink: recorders hand events to a
 * bounded queue and return at once; a single writer correlates them and
 * writes them (POST, or PATCH for a repeat) at its own rate, retrying
 * transport and server errors a limited number of times. A full queue drops
 * events with a log line rather than growing.
 */
export class EventBroadcaster {
  private readonly sink: EventSink;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly queueSize: number;
  private readonly maxTries: number;
  private readonly retryDelayMs: number;
  private readonly random: () => number;
  private readonly logVerbosity: number | undefined;
  private readonly budget: TokenBucket;
  private readonly correlator: EventCorrelator;
  private readonly stop = new AbortController();
  private readonly queue: CoreV1Event[] = [];
  private readonly idleWaiters: Array<() => void> = [];
  private writing = false;
  private lastNanos = 0n;

  constructor(options: EventBroadcasterOptions) {
    this.sink = options.sink;
    this.clock = options.clock;
    this.logger = options.logger;
    this.queueSize = options.queueSize ?? 1000;
    this.maxTries = options.maxTries ?? 12;
    this.retryDelayMs = options.retryDelayMs ?? 10_000;
    this.random = options.random ?? Math.random;
    this.logVerbosity = options.logVerbosity;
    this.budget = new TokenBucket({ qps: options.qps ?? 5, burst: options.burst ?? 10, clock: options.clock });
    this.correlator = new EventCorrelator({ ...options.correlator, clock: options.clock, nanos: this.nanos });
  }

  newRecorder(source: EventSource): EventRecorder {
    return new Recorder({
      source,
      clock: this.clock,
      logger: this.logger,
      nanos: this.nanos,
      enqueue: (event) => this.enqueue(event),
    });
  }

  /** Resolves once every queued event has been written or given up on. */
  flush(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops queued events and stops retrying; later events are dropped. */
  shutdown(): void {
    if (this.stop.signal.aborted) return;
    this.stop.abort();
    if (this.queue.length > 0)
      this.logger.info('Event broadcaster shut down, dropping queued events', { count: this.queue.length });
    this.queue.length = 0;
    if (!this.writing) this.notifyIdle();
  }

  /** Unix nanoseconds for event names, strictly increasing so two events in one millisecond never collide. */
  private readonly nanos = (wallMs: number): bigint => {
    let nanos = BigInt(Math.floor(wallMs)) * 1_000_000n;
    if (nanos <= this.lastNanos) nanos = this.lastNanos + 1n;
    this.lastNanos = nanos;
    return nanos;
  };

  private enqueue(event: CoreV1Event): void {
    if (this.logVerbosity !== undefined) this.logEvent(this.logVerbosity, event);
    if (this.stop.signal.aborted) {
      this.logger.error(
        undefined,
        'Unable to record event: broadcaster is shut down (will not retry!)',
        describe(event),
      );
      return;
    }
    if (this.queue.length >= this.queueSize) {
      this.logger.error(undefined, 'Unable to record event: too many queued events, dropped event', describe(event));
      return;
    }
    this.queue.push(event);
    if (this.writing) return;
    this.writing = true;
    // Start writing after the caller's synchronous code, never inside it.
    queueMicrotask(() => void this.drain());
  }

  private async drain(): Promise<void> {
    try {
      for (let event = this.queue.shift(); event; event = this.queue.shift()) {
        try {
          await this.recordToSink(event);
        } catch (err) {
          this.logger.error(err, 'Unable to write event', describe(event));
        }
      }
    } finally {
      this.writing = false;
      this.notifyIdle();
    }
  }

  private async recordToSink(event: CoreV1Event): Promise<void> {
    const result = await this.correlator.correlate(event);
    if (result.skip) return;
    for (let tries = 1; ; tries++) {
      if (await this.write(result)) return;
      if (tries >= this.maxTries) {
        this.logger.error(undefined, 'Unable to write event (retry limit exceeded!)', describe(result.event));
        return;
      }
      // Randomise the first pause so replicas do not retry in lockstep after an apiserver outage.
      const delay = tries === 1 ? this.retryDelayMs * this.random() : this.retryDelayMs;
      await sleep(this.clock, delay, this.stop.signal);
      if (this.stop.signal.aborted) {
        this.logger.error(undefined, 'Unable to write event (broadcaster is shut down)', describe(result.event));
        return;
      }
    }
  }

  /** One attempt; true when the event is written or not worth retrying. */
  private async write({ event, patch }: CorrelationResult): Promise<boolean> {
    const namespace = event.metadata.namespace ?? 'default';
    const name = event.metadata.name ?? '';
    let error: unknown;
    let written: CoreV1Event | undefined;
    const isRepeat = (event.count ?? 0) > 1 && patch !== undefined;
    if (isRepeat) {
      if (!(await this.takeToken(event))) return true;
      try {
        written = await this.sink.patch(namespace, name, patch);
      } catch (err) {
        error = err;
      }
    }
    // A repeat whose Event expired on the server (1 h TTL) is created anew.
    if (!isRepeat || isNotFound(error)) {
      error = undefined;
      if (!(await this.takeToken(event))) return true;
      try {
        written = await this.sink.create(namespace, {
          ...event,
          metadata: { ...event.metadata, resourceVersion: undefined },
        });
      } catch (err) {
        error = err;
      }
    }
    if (error === undefined && written) {
      this.correlator.updateState(written);
      return true;
    }
    return !this.retryable(error, event);
  }

  /**
   * client-go gives up on any apiserver answer but retries transport errors;
   * its REST client has already retried 429 and 5xx by then. client-node does
   * not, so those are retried here.
   */
  private retryable(error: unknown, event: CoreV1Event): boolean {
    const status = statusCode(error);
    if (status !== undefined && status !== 429 && status < 500) {
      const expected = isAlreadyExists(error) || hasStatusCause(error, 'NamespaceTerminating');
      if (expected) this.logger.v(5).info('Server rejected event (will not retry!)', { ...describe(event), error });
      else this.logger.error(error, 'Server rejected event (will not retry!)', describe(event));
      return false;
    }
    this.logger.error(error, 'Unable to write event (may retry after sleeping)', describe(event));
    return true;
  }

  /**
   * Waits for the writer's budget; false, with a log line, once the
   * broadcaster is shut down: nothing may be written after shutdown, even by
   * a write that was already waiting for its token.
   */
  private async takeToken(event: CoreV1Event): Promise<boolean> {
    try {
      await this.budget.take(this.stop.signal);
    } catch {
      // take() rejects only when shutdown aborts the wait; the check below reports it.
    }
    if (!this.stop.signal.aborted) return true;
    this.logger.error(undefined, 'Unable to write event (broadcaster is shut down)', describe(event));
    return false;
  }

  private notifyIdle(): void {
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private logEvent(level: number, event: CoreV1Event): void {
    const ref = event.involvedObject;
    this.logger.v(level).info('Event occurred', {
      object: ref.namespace ? `${ref.namespace}/${ref.name ?? ''}` : (ref.name ?? ''),
      fieldPath: ref.fieldPath ?? '',
      kind: ref.kind,
      apiVersion: ref.apiVersion,
      type: event.type,
      reason: event.reason,
      message: event.message,
    });
  }
}

/** client-go's errors.HasStatusCause; a StatusCause's type goes over the wire as `reason`. */
function hasStatusCause(error: unknown, type: string): boolean {
  return error instanceof KubeApiError && (error.status?.details?.causes?.some((c) => c.reason === type) ?? false);
}

function describe(event: CoreV1Event): Record<string, unknown> {
  const ref = event.involvedObject;
  return {
    event: `${event.metadata.namespace ?? ''}/${event.metadata.name ?? ''}`,
    object: `${ref.kind ?? ''} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name ?? ''}`,
    type: event.type,
    reason: event.reason,
    message: event.message,
  };
}
