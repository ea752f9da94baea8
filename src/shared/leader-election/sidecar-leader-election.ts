import { hostname } from 'node:os';
import type { V1Lease } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { Clock } from '../clock/clock.js';
import type { Logger } from '../log/logger.js';
import type { LeaseClient } from './lease-client.js';
import { LeaderElector } from './leader-elector.js';
import { sanitizeLeaseName } from './lease-config.js';

export interface SidecarLeaderElectionOptions {
  /** A client of its own, so a throttled main client cannot starve renewals. */
  leaseClient: LeaseClient;
  /** Unsanitised lock name, e.g. "external-attacher-leader-<driver>". */
  lockName: string;
  /** Unsanitised identity; defaults to the host name (the pod name). */
  identity?: string;
  /** Already resolved with leaseNamespace(). */
  namespace: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  labels?: Record<string, string>;
  releaseOnCancel?: boolean;
  clock: Clock;
  logger: Logger;
  registry?: Registry;
  /**
   * The sidecar's controllers; the signal aborts when leadership ends. A
   * throw or rejection while still leading is fatal (exit 1), as in Go.
   */
  run(signal: AbortSignal): void | Promise<void>;
  /** Defaults to process.exit; injectable for tests. */
  exit?: (code: number) => void;
  recordEvent?(lease: V1Lease, message: string): void;
}

/**
 * csi-lib-utils' leaderelection wrapper: sanitised lock name and identity,
 * and callbacks that log like the Go sidecars. Losing the Lease logs
 * "Stopped leading" and exits 1 — stopping the controllers in place would
 * risk two replicas acting at once. Controllers that fail to start exit 1
 * too, so the Lease is not held by a replica doing nothing. A requested stop
 * (the run signal aborted, e.g. on SIGTERM) just returns, leaving the exit
 * code to main — unlike Go, which exits 1 then as well.
 */
export function newSidecarLeaderElector(options: SidecarLeaderElectionOptions): LeaderElector {
  const logger = options.logger;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  return new LeaderElector({
    leaseClient: options.leaseClient,
    namespace: options.namespace,
    name: sanitizeLeaseName(options.lockName),
    identity: sanitizeLeaseName(options.identity ?? hostname()),
    leaseDurationMs: options.leaseDurationMs,
    renewDeadlineMs: options.renewDeadlineMs,
    retryPeriodMs: options.retryPeriodMs,
    labels: options.labels,
    releaseOnCancel: options.releaseOnCancel,
    clock: options.clock,
    logger,
    registry: options.registry,
    recordEvent: options.recordEvent,
    async onStartedLeading(signal) {
      logger.v(2).info('became leader, starting');
      try {
        await options.run(signal);
      } catch (err) {
        // Once leadership has ended, onStoppedLeading decides the exit; a failure then is only reported.
        logger.error(err, 'Controllers failed');
        if (!signal.aborted) exit(1);
      }
    },
    onStoppedLeading({ lost }) {
      if (!lost) {
        logger.v(2).info('Stopped leading on request');
        return;
      }
      logger.error(undefined, 'Stopped leading');
      exit(1);
    },
    onNewLeader(identity) {
      logger.v(3).info('New leader detected', { leader: identity });
    },
  });
}

/**
 * The event source component csi-lib-utils gives its LeaderElection events:
 * "<lockName>/<identity>", both unsanitised.
 */
export function leaderElectionEventComponent(lockName: string, identity: string = hostname()): string {
  return `${lockName}/${identity}`;
}
