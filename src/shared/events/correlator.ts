import type { CoreV1Event } from '@kubernetes/client-node';
import type { Clock } from '../clock/clock.js';
import { TokenBucket } from '../kube/token-bucket.js';
import type { EventPatch } from './event-sink.js';
import { LruCache } from './lru-cache.js';

/** client-go tools/record defaults (events_cache.go). */
export const CORRELATOR_DEFAULTS = {
  lruCacheSize: 4096,
  /** Events a source may send about one object before the refill rate applies. */
  spamBurst: 25,
  /** One more event per source+object every 5 minutes. */
  spamQps: 1 / 300,
  /** Distinct messages of one source/object/type/reason before they are combined. */
  aggregateMaxEvents: 10,
  aggregateIntervalMs: 600_000,
} as const;

export const AGGREGATE_MESSAGE_PREFIX = '(combined from similar events): ';

export interface CorrelatorOptions {
  clock: Clock;
  /** Unique event-name suffix source: unix nanoseconds for a wall-clock ms. */
  nanos: (wallMs: number) => bigint;
  lruCacheSize?: number;
  spamBurst?: number;
  spamQps?: number;
  aggregateMaxEvents?: number;
  aggregateIntervalMs?: number;
}

export interface CorrelationResult {
  event: CoreV1Event;
  /** Set when the event repeats a known one: patch it instead of creating a new one. */
  patch: EventPatch | undefined;
  /** The spam filter dropped it. */
  skip: boolean;
}

interface AggregateRecord {
  localKeys: Set<string>;
  /** Monotonic ms of the last similar event. */
  last: number;
}

interface EventLog {
  count: number;
  firstTimestamp: Date | undefined;
  name: string;
  resourceVersion: string | undefined;
}

/**
 * client-go's EventCorrelator: aggregates similar events, counts repeats of
 * identical ones (so they become a PATCH of count and lastTimestamp), and
 * rate-limits what one source says about one object. Keys and messages are
 * client-go's so the Events look the same in `kubectl describe`.
 */
export class EventCorrelator {
  private readonly clock: Clock;
  private readonly nanos: (wallMs: number) => bigint;
  private readonly spamBurst: number;
  private readonly spamQps: number;
  private readonly aggregateMaxEvents: number;
  private readonly aggregateIntervalMs: number;
  private readonly spam: LruCache<string, TokenBucket>;
  private readonly aggregates: LruCache<string, AggregateRecord>;
  private readonly logs: LruCache<string, EventLog>;

  constructor(options: CorrelatorOptions) {
    const size = options.lruCacheSize ?? CORRELATOR_DEFAULTS.lruCacheSize;
    this.clock = options.clock;
    this.nanos = options.nanos;
    this.spamBurst = options.spamBurst ?? CORRELATOR_DEFAULTS.spamBurst;
    this.spamQps = options.spamQps ?? CORRELATOR_DEFAULTS.spamQps;
    this.aggregateMaxEvents = options.aggregateMaxEvents ?? CORRELATOR_DEFAULTS.aggregateMaxEvents;
    this.aggregateIntervalMs = options.aggregateIntervalMs ?? CORRELATOR_DEFAULTS.aggregateIntervalMs;
    this.spam = new LruCache({ maxEntries: size });
    this.aggregates = new LruCache({ maxEntries: size });
    this.logs = new LruCache({ maxEntries: size });
  }

  /** Asynchronous only because the spam filter's token bucket answers asynchronously; call one at a time. */
  async correlate(event: CoreV1Event): Promise<CorrelationResult> {
    const { event: aggregated, key } = this.aggregate(event);
    const { event: observed, patch } = this.observe(aggregated, key);
    // Filtering last means skipped repeats still count, as in client-go.
    if (await this.isSpam(observed)) return { event: observed, patch: undefined, skip: true };
    return { event: observed, patch, skip: false };
  }

  /** Records what the server returned (name, resourceVersion, count) for the next repeat. */
  updateState(event: CoreV1Event): void {
    this.logs.add(eventKey(event), logOf(event));
  }

  private aggregate(event: CoreV1Event): { event: CoreV1Event; key: string } {
    const now = this.clock.monotonic();
    const aggregateKey = aggregateKeyOf(event);
    let record = this.aggregates.get(aggregateKey);
    if (!record || now - record.last > this.aggregateIntervalMs) record = { localKeys: new Set(), last: now };
    record.localKeys.add(event.message ?? '');
    record.last = now;
    this.aggregates.add(aggregateKey, record);
    if (record.localKeys.size < this.aggregateMaxEvents) return { event, key: eventKey(event) };

    // Keep the set at the threshold so every further similar event stays aggregated.
    const oldest = record.localKeys.values().next();
    if (!oldest.done) record.localKeys.delete(oldest.value);
    const wallMs = this.clock.now();
    const time = wholeSeconds(wallMs);
    // client-go's combined copy carries no annotations and no reporting fields.
    const combined: CoreV1Event = {
      apiVersion: event.apiVersion,
      kind: event.kind,
      metadata: {
        name: `${event.involvedObject.name ?? ''}.${this.nanos(wallMs).toString(16)}`,
        namespace: event.metadata.namespace,
      },
      involvedObject: event.involvedObject,
      reason: event.reason,
      message: AGGREGATE_MESSAGE_PREFIX + (event.message ?? ''),
      source: event.source,
      type: event.type,
      count: 1,
      firstTimestamp: time,
      lastTimestamp: time,
    };
    return { event: combined, key: aggregateKey };
  }

  private observe(newEvent: CoreV1Event, key: string): { event: CoreV1Event; patch: EventPatch | undefined } {
    const event: CoreV1Event = { ...newEvent, metadata: { ...newEvent.metadata } };
    const last = this.logs.get(key);
    let patch: EventPatch | undefined;
    if (last && last.count > 0) {
      event.metadata.name = last.name;
      event.metadata.resourceVersion = last.resourceVersion;
      event.firstTimestamp = last.firstTimestamp;
      event.count = last.count + 1;
      patch = {
        count: event.count,
        lastTimestamp: rfc3339(event.lastTimestamp),
        ...(event.message ? { message: event.message } : {}),
      };
    }
    this.logs.add(key, logOf(event));
    return { event, patch };
  }

  private async isSpam(event: CoreV1Event): Promise<boolean> {
    const key = spamKey(event);
    let bucket = this.spam.get(key);
    if (!bucket) bucket = new TokenBucket({ qps: this.spamQps, burst: this.spamBurst, clock: this.clock });
    this.spam.add(key, bucket);
    return !(await tryAccept(bucket));
  }
}

/**
 * client-go's TryAccept on the shared TokenBucket, which only offers a
 * waiting take(): a take that is aborted at once resolves when a token was
 * free, and otherwise rejects and gives its reserved token back.
 */
async function tryAccept(bucket: TokenBucket): Promise<boolean> {
  const noWait = new AbortController();
  const taken = bucket.take(noWait.signal);
  noWait.abort();
  try {
    await taken;
    return true;
  } catch {
    return false;
  }
}

function logOf(event: CoreV1Event): EventLog {
  return {
    count: event.count ?? 0,
    firstTimestamp: toDate(event.firstTimestamp),
    name: event.metadata.name ?? '',
    resourceVersion: event.metadata.resourceVersion,
  };
}

// The keys are plain concatenations without separators, exactly as client-go builds them.

function eventKey(e: CoreV1Event): string {
  const o = e.involvedObject;
  return [
    e.source?.component,
    e.source?.host,
    o.kind,
    o.namespace,
    o.name,
    o.fieldPath,
    o.uid,
    o.apiVersion,
    e.type,
    e.reason,
    e.message,
  ].join('');
}

function spamKey(e: CoreV1Event): string {
  const o = e.involvedObject;
  return [e.source?.component, e.source?.host, o.kind, o.namespace, o.name, o.uid, o.apiVersion].join('');
}

function aggregateKeyOf(e: CoreV1Event): string {
  const o = e.involvedObject;
  return [
    e.source?.component,
    e.source?.host,
    o.kind,
    o.namespace,
    o.name,
    o.uid,
    o.apiVersion,
    e.type,
    e.reason,
    e.reportingComponent,
    e.reportingInstance,
  ].join('');
}

/** metav1.Time keeps whole seconds on the wire; keep the same value locally. */
export function wholeSeconds(wallMs: number): Date {
  return new Date(Math.floor(wallMs / 1000) * 1000);
}

/** metav1.Time's JSON form: RFC 3339 without fractional seconds. */
export function rfc3339(value: Date | string | undefined): string {
  const date = toDate(value) ?? new Date(0);
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** client-node types timestamps as Date, but plain JSON (watch events, fakes) carries strings. */
function toDate(value: unknown): Date | undefined {
  if (value === undefined || value === null) return undefined;
  const date = value instanceof Date ? value : new Date(String(value));
  return Number.isNaN(date.getTime()) ? undefined : date;
}
