import { V1MicroTime } from '@kubernetes/client-node';
import type { V1Lease, V1LeaseSpec } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { sleep } from '../clock/clock.js';
import type { Clock } from '../clock/clock.js';
import { isConflict } from '../kube/errors.js';
import type { Logger } from '../log/logger.js';
import type { LeaseClient } from './lease-client.js';
import { leaderMetrics } from './metrics.js';
import type { LeaderMetrics } from './metrics.js';

/** client-go's wait.Jitter factor for the acquire loop. */
export const JITTER_FACTOR = 1.2;
/** client-go's DefaultHealthCheckTimeout used by csi-lib-utils. */
export const HEALTH_CHECK_TIMEOUT_MS = 20_000;

export interface LeaderElectorOptions {
  leaseClient: LeaseClient;
  namespace: string;
  /** The Lease name, already sanitised (sanitizeLeaseName). */
  name: string;
  /** This replica's holder identity, already sanitised. */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Set on the Lease when it is created and merged in on every update (--leader-election-labels). */
  labels?: Record<string, string>;
  /** When run() ends while leading, hand the Lease over at once instead of letting it expire. */
  releaseOnCancel?: boolean;
  clock: Clock;
  logger: Logger;
  registry?: Registry;
  /** The `name` label of the metrics; csi-lib-utils leaves client-go's Name empty, so Go sidecars report "". */
  metricsName?: string;
  /** Source of the acquire loop's jitter; tests pin it. */
  random?: () => number;
  /**
   * Called once leadership is acquired; the signal aborts when leadership ends.
   * A rejection is only logged: whoever must not keep leading on a failed
   * start (newSidecarLeaderElector) handles it in the callback.
   */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Called whenever run() ends, whether leadership was lost, never gained or cancelled (as in client-go). */
  onStoppedLeading(stopped: StoppedLeading): void;
  /** Called when a different holder is observed, including the first one and this replica. */
  onNewLeader?(identity: string): void;
  /** Posts a LeaderElection event about the Lease; message is "<identity> became leader" or "… stopped leading". */
  recordEvent?(lease: V1Lease, message: string): void;
}

export interface StoppedLeading {
  /**
   * True when this replica led and could not renew (deadline passed, Lease
   * taken); false when run() was cancelled, whether it was leading or not.
   */
  lost: boolean;
}

export interface HealthStatus {
  ok: boolean;
  message: string;
}

/** The part of a Lease spec the election reads and writes (client-go's LeaderElectionRecord). */
interface ElectionRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  /** Wall-clock ms; undefined when the Lease has none. */
  acquireTime: number | undefined;
  renewTime: number | undefined;
  leaseTransitions: number;
}

type RenewOutcome = 'renewed' | 'lost' | 'cancelled';

/** A signal that aborts at a deadline or with its parent; dispose() drops the timer and the listener. */
interface Deadline {
  signal: AbortSignal;
  dispose(): void;
}

/**
 * client-go's leader election on a coordination.k8s.io Lease, kept
 * wire-compatible so TS and Go replicas of a sidecar exclude each other.
 * Expiry is judged only from local observations: a holder counts as gone when
 * its record has not changed for leaseDuration on this replica's monotonic
 * clock. The remote renewTime is never compared with the local clock.
 */
export class LeaderElector {
  private readonly client: LeaseClient;
  private readonly namespace: string;
  private readonly name: string;
  private readonly identity: string;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly labels: Record<string, string> | undefined;
  private readonly releaseOnCancel: boolean;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly metrics: LeaderMetrics;
  private readonly metricsName: string;
  private readonly random: () => number;
  private readonly callbacks: Pick<
    LeaderElectorOptions,
    'onStartedLeading' | 'onStoppedLeading' | 'onNewLeader' | 'recordEvent'
  >;

  /** The Lease as last returned by the apiserver; its resourceVersion guards the next PUT. */
  private lease: V1Lease | undefined;
  private observed: ElectionRecord | undefined;
  /** The fetched record in comparable form; a change means the holder is alive. */
  private observedRaw: string | undefined;
  /** Monotonic ms at which `observed` last changed. */
  private observedTime = 0;
  private reportedLeader = '';
  private running = false;
  /**
   * The latest tryAcquireOrRenew. The loops stop waiting for it at its
   * deadline even if the LeaseClient ignores the abort, so it may still be
   * running; release() waits for it so the two writes never race.
   */
  private inflight: Promise<boolean> = Promise.resolve(false);

  constructor(options: LeaderElectorOptions) {
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 5_000;
    if (this.leaseDurationMs <= this.renewDeadlineMs) {
      throw new Error('leaseDuration must be greater than renewDeadline');
    }
    if (this.renewDeadlineMs <= JITTER_FACTOR * this.retryPeriodMs) {
      throw new Error('renewDeadline must be greater than retryPeriod*JitterFactor');
    }
    if (this.retryPeriodMs <= 0) throw new Error('retryPeriod must be greater than zero');
    if (options.identity === '') throw new Error('leader election identity is empty');
    if (options.name === '') throw new Error('leader election lease name is empty');
    this.client = options.leaseClient;
    this.namespace = options.namespace;
    this.name = options.name;
    this.identity = options.identity;
    this.labels = options.labels && Object.keys(options.labels).length > 0 ? options.labels : undefined;
    this.releaseOnCancel = options.releaseOnCancel ?? false;
    this.clock = options.clock;
    this.logger = options.logger.withValues({ lease: this.describe() });
    this.metrics = leaderMetrics(options.registry);
    this.metricsName = options.metricsName ?? '';
    this.random = options.random ?? Math.random;
    this.callbacks = options;
    this.metrics.leaderOff(this.metricsName);
  }

  /** Identity of the last observed holder ('' before the first observation). */
  getLeader(): string {
    return this.observed?.holderIdentity ?? '';
  }

  /** Whether the last observed holder is this replica. */
  isLeader(): boolean {
    return this.observed !== undefined && this.observed.holderIdentity === this.identity;
  }

  /**
   * client-go's HealthzAdaptor check: a leader whose last successful renewal
   * is older than leaseDuration + timeout is unhealthy (it should have
   * stepped down by then); non-leaders are always healthy.
   */
  healthCheck(timeoutMs = HEALTH_CHECK_TIMEOUT_MS): HealthStatus {
    if (!this.isLeader()) return { ok: true, message: 'ok' };
    if (this.clock.monotonic() - this.observedTime > this.leaseDurationMs + timeoutMs) {
      return { ok: false, message: `failed election to renew leadership on lease ${this.describe()}` };
    }
    return { ok: true, message: 'ok' };
  }

  /**
   * Campaigns until leadership is acquired, then renews until it is lost or
   * the signal aborts. Resolves after onStoppedLeading has been called.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.running) throw new Error('LeaderElector.run called twice');
    this.running = true;
    let lost = false;
    try {
      if (!(await this.acquire(signal))) return;
      // Until renew() says otherwise: an unexpected failure while leading must not pass for a requested stop.
      lost = true;
      const leading = new AbortController();
      const stop = (): void => leading.abort();
      signal.addEventListener('abort', stop, { once: true });
      this.startLeading(leading.signal);
      try {
        lost = (await this.renew(signal)) === 'lost';
      } finally {
        signal.removeEventListener('abort', stop);
        leading.abort();
      }
    } finally {
      this.invoke('onStoppedLeading', () => this.callbacks.onStoppedLeading({ lost }));
    }
  }

  private describe(): string {
    return `${this.namespace}/${this.name}`;
  }

  private async acquire(signal: AbortSignal): Promise<boolean> {
    this.logger.info('Attempting to acquire leader lease');
    while (!signal.aborted) {
      // client-go bounds acquire requests only by the client's timeout, which kube-controller-manager sets to
      // renewDeadline for its leader-election client; without one a hung GET would stall the campaign for good.
      const acquired = await this.attempt(this.clock.monotonic() + this.renewDeadlineMs, signal);
      this.maybeReportTransition();
      if (acquired) {
        this.emitEvent('became leader');
        this.metrics.leaderOn(this.metricsName);
        this.logger.info('Successfully acquired lease');
        return true;
      }
      this.logger.v(4).info('Failed to acquire lease');
      const wait = this.retryPeriodMs * (1 + this.random() * JITTER_FACTOR);
      await sleep(this.clock, wait, signal);
    }
    return false;
  }

  private startLeading(signal: AbortSignal): void {
    this.invoke('onStartedLeading', () => {
      const result = this.callbacks.onStartedLeading(signal);
      if (result instanceof Promise) {
        result.catch((err: unknown) => this.logger.error(err, 'onStartedLeading failed'));
      }
    });
  }

  /** Renews every retryPeriod; a renewal may retry for up to renewDeadline before leadership counts as lost. */
  private async renew(signal: AbortSignal): Promise<'lost' | 'cancelled'> {
    let outcome: RenewOutcome;
    for (;;) {
      outcome = await this.renewWithinDeadline(signal);
      if (outcome === 'cancelled') break;
      this.maybeReportTransition();
      if (outcome === 'lost') {
        this.logger.info('Failed to renew lease', { renewDeadline: `${this.renewDeadlineMs}ms` });
        break;
      }
      this.logger.v(5).info('Successfully renewed lease');
      await sleep(this.clock, this.retryPeriodMs, signal);
      if (signal.aborted) {
        outcome = 'cancelled';
        break;
      }
    }
    this.metrics.leaderOff(this.metricsName);
    if (this.releaseOnCancel) await this.release();
    this.emitEvent('stopped leading');
    return outcome;
  }

  private async renewWithinDeadline(signal: AbortSignal): Promise<RenewOutcome> {
    // As in client-go, the deadline covers the whole renewal, so each request is cut off where it ends.
    const deadline = this.clock.monotonic() + this.renewDeadlineMs;
    for (;;) {
      const renewed = await this.attempt(deadline, signal);
      if (signal.aborted) return 'cancelled';
      if (renewed) return 'renewed';
      const remaining = deadline - this.clock.monotonic();
      if (remaining <= 0) return 'lost';
      await sleep(this.clock, Math.min(this.retryPeriodMs, remaining), signal);
      if (signal.aborted) return 'cancelled';
      if (this.clock.monotonic() >= deadline) return 'lost';
    }
  }

  /**
   * One tryAcquireOrRenew whose requests are aborted at the monotonic
   * deadline or when the signal aborts. Resolves false at that moment even if
   * the LeaseClient ignores the abort: a hung request must not stall the loops.
   */
  private attempt(deadline: number, signal: AbortSignal): Promise<boolean> {
    const limit = this.deadline(deadline, signal);
    const pending = this.tryAcquireOrRenew(limit.signal);
    this.inflight = pending;
    void pending.finally(() => limit.dispose());
    return settle(pending, limit.signal);
  }

  private deadline(deadline: number, parent?: AbortSignal): Deadline {
    const controller = new AbortController();
    const timer = this.clock.after(deadline - this.clock.monotonic(), () =>
      controller.abort(new DOMException('leader election request deadline exceeded', 'TimeoutError')),
    );
    const onAbort = (): void => controller.abort(parent?.reason);
    if (parent?.aborted) onAbort();
    else parent?.addEventListener('abort', onAbort, { once: true });
    return {
      signal: controller.signal,
      dispose() {
        timer.cancel();
        parent?.removeEventListener('abort', onAbort);
      },
    };
  }

  /** One round of client-go's tryAcquireOrRenew; never throws. */
  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const nowWall = this.clock.now();
    const nowMono = this.clock.monotonic();
    const desired: ElectionRecord = {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.floor(this.leaseDurationMs / 1000),
      acquireTime: nowWall,
      renewTime: nowWall,
      leaseTransitions: 0,
    };

    // Fast path: a leader whose observation is still valid writes over the Lease it last saw.
    if (this.observed && this.isLeader() && this.isLeaseValid(nowMono)) {
      desired.acquireTime = this.observed.acquireTime;
      desired.leaseTransitions = this.observed.leaseTransitions;
      try {
        await this.update(desired, signal);
        this.setObserved(desired);
        return true;
      } catch (err) {
        this.logger.error(err, 'Failed to update lock optimistically, falling back to slow path');
        if (signal.aborted) return false;
      }
    }

    let current: V1Lease | undefined;
    try {
      current = await this.client.get(this.namespace, this.name, signal);
    } catch (err) {
      this.logger.error(err, 'Error retrieving resource lock');
      return false;
    }
    if (!current) return this.create(desired, signal);
    this.lease = current;

    const fetched = recordOf(current);
    const raw = rawRecordOf(current);
    if (raw !== this.observedRaw) {
      this.setObserved(fetched);
      this.observedRaw = raw;
    }
    const expired = this.observedTime + fetched.leaseDurationSeconds * 1000 < nowMono;
    if (expired) this.logger.info('Lock has expired');
    if (fetched.holderIdentity !== '' && !expired && !this.isLeader()) {
      this.logger.v(4).info('Lock is held by another replica and has not yet expired', {
        holder: fetched.holderIdentity,
      });
      return false;
    }

    if (this.isLeader()) {
      desired.acquireTime = fetched.acquireTime;
      desired.leaseTransitions = fetched.leaseTransitions;
      this.metrics.slowpathExercised(this.metricsName);
    } else {
      desired.leaseTransitions = fetched.leaseTransitions + 1;
    }
    try {
      await this.update(desired, signal);
    } catch (err) {
      this.logger.error(err, 'Failed to update lock');
      return false;
    }
    this.setObserved(desired);
    return true;
  }

  private async create(record: ElectionRecord, signal: AbortSignal): Promise<boolean> {
    const lease: V1Lease = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.name, namespace: this.namespace, ...(this.labels && { labels: { ...this.labels } }) },
      spec: specOf(record),
    };
    try {
      this.lease = await this.client.create(this.namespace, lease, signal);
    } catch (err) {
      this.logger.error(err, 'Error initially creating leader election record');
      return false;
    }
    this.setObserved(record);
    return true;
  }

  /** PUTs the last seen Lease with the record applied; other fields (preferredHolder, strategy, …) ride along. */
  private async update(record: ElectionRecord, signal: AbortSignal): Promise<void> {
    const base = this.lease;
    if (!base) throw new Error('lease not initialized, get or create it first');
    const metadata = this.labels
      ? { ...base.metadata, labels: { ...base.metadata?.labels, ...this.labels } }
      : base.metadata;
    const body: V1Lease = { ...base, metadata, spec: { ...base.spec, ...specOf(record) } };
    this.lease = await this.client.replace(this.namespace, this.name, body, signal);
  }

  /**
   * client-go's release, within renewDeadline. The last attempt may still be
   * on the wire (aborted, but not yet answered): a renewal PUT landing first
   * would make the release PUT's resourceVersion stale and leave the Lease
   * held for a full leaseDuration. So wait for it, then write over the latest
   * observed Lease, and on a conflict over a fresh read if it is still ours.
   */
  private async release(): Promise<void> {
    const limit = this.deadline(this.clock.monotonic() + this.renewDeadlineMs);
    try {
      await settle(this.inflight, limit.signal);
      if (!this.observed || !this.isLeader()) return;
      const now = this.clock.now();
      const record: ElectionRecord = {
        holderIdentity: '',
        leaseDurationSeconds: 1,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: this.observed.leaseTransitions,
      };
      try {
        await this.update(record, limit.signal);
      } catch (err) {
        // An aborted PUT may still have been applied by the apiserver, leaving our resourceVersion behind.
        if (!isConflict(err)) throw err;
        const current = await this.client.get(this.namespace, this.name, limit.signal);
        if (!current || recordOf(current).holderIdentity !== this.identity) return;
        this.lease = current;
        record.leaseTransitions = recordOf(current).leaseTransitions;
        await this.update(record, limit.signal);
      }
      this.setObserved(record);
    } catch (err) {
      this.logger.error(err, 'Failed to release lock');
    } finally {
      limit.dispose();
    }
  }

  private isLeaseValid(nowMono: number): boolean {
    return this.observedTime + (this.observed?.leaseDurationSeconds ?? 0) * 1000 > nowMono;
  }

  private setObserved(record: ElectionRecord): void {
    this.observed = record;
    this.observedTime = this.clock.monotonic();
  }

  private maybeReportTransition(): void {
    const holder = this.getLeader();
    if (holder === this.reportedLeader) return;
    this.reportedLeader = holder;
    const onNewLeader = this.callbacks.onNewLeader;
    if (onNewLeader) this.invoke('onNewLeader', () => onNewLeader(holder));
  }

  private emitEvent(action: string): void {
    const recordEvent = this.callbacks.recordEvent;
    if (!recordEvent || !this.lease) return;
    const lease: V1Lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: this.lease.metadata };
    this.invoke('recordEvent', () => recordEvent(lease, `${this.identity} ${action}`));
  }

  private invoke(callback: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error(err, 'Leader election callback failed', { callback });
    }
  }
}

/** Resolves with the attempt's result, or false once the signal aborts. */
function settle(attempt: Promise<boolean>, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const onAbort = (): void => finish(false);
    function finish(result: boolean): void {
      signal.removeEventListener('abort', onAbort);
      resolve(result);
    }
    if (signal.aborted) return finish(false);
    signal.addEventListener('abort', onAbort, { once: true });
    attempt.then(finish, () => finish(false));
  });
}

function specOf(record: ElectionRecord): V1LeaseSpec {
  return {
    holderIdentity: record.holderIdentity,
    leaseDurationSeconds: record.leaseDurationSeconds,
    acquireTime: microTime(record.acquireTime),
    renewTime: microTime(record.renewTime),
    leaseTransitions: record.leaseTransitions,
  };
}

/** V1MicroTime serialises with 6 fractional digits; a plain Date's 3 are rejected by the apiserver. */
function microTime(ms: number | undefined): V1MicroTime | undefined {
  return ms === undefined ? undefined : new V1MicroTime(ms);
}

function recordOf(lease: V1Lease): ElectionRecord {
  const spec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: parseTime(spec.acquireTime),
    renewTime: parseTime(spec.renewTime),
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

/** client-node types MicroTimes as Date but hands back the wire string; accept both. */
function parseTime(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = value instanceof Date ? value.getTime() : new Date(String(value)).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

function timeText(value: unknown): string {
  if (value === undefined || value === null) return '';
  return value instanceof Date ? value.toISOString() : String(value);
}

/** Everything client-go's record holds, in the form it came over the wire, so any change by the holder shows. */
function rawRecordOf(lease: V1Lease): string {
  const spec = lease.spec ?? {};
  return JSON.stringify([
    spec.holderIdentity ?? '',
    spec.leaseDurationSeconds ?? 0,
    timeText(spec.acquireTime),
    timeText(spec.renewTime),
    spec.leaseTransitions ?? 0,
    spec.strategy ?? '',
    spec.preferredHolder ?? '',
  ]);
}
