import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { realClock } from '../clock/clock.js';
import { CsiConnection, exitOnConnectionLoss } from '../csi/connection.js';
import { discoverDriver } from '../csi/driver-discovery.js';
import type { DiscoveredDriver } from '../csi/driver-discovery.js';
import { CsiOperationMetrics } from '../csi/metrics.js';
import { EventBroadcaster } from '../events/event-broadcaster.js';
import { objectReference } from '../events/event-recorder.js';
import { coreV1EventSink } from '../events/event-sink.js';
import { DiagnosticsServer } from '../http/diagnostics-server.js';
import { metricsHandler } from '../http/metrics-handler.js';
import { leaderElectionHealthHandler } from '../http/leader-election-health.js';
import { createKubeClient } from '../kube/client.js';
import type { KubeClient } from '../kube/client.js';
import type { TokenBucket } from '../kube/token-bucket.js';
import { loadKubeConfig } from '../kube/kubeconfig.js';
import { coordinationLeaseClient } from '../leader-election/lease-client.js';
import { leaseNamespace } from '../leader-election/lease-config.js';
import { leaderElectionEventComponent, newSidecarLeaderElector } from '../leader-election/sidecar-leader-election.js';
import type { Logger } from '../log/logger.js';
import { createMetricsRegistry } from '../metrics/registry.js';
import { sidecarVersion } from '../version/version.js';
import type { ControllerSidecarConfig } from './controller-sidecar-config.js';

/** An informer as the runtime starts it. */
export interface StartableCache {
  start(signal: AbortSignal): void;
  waitForSync(signal: AbortSignal): Promise<boolean>;
}

/** What the runtime hands a sidecar once the driver is known. */
export interface ControllerSidecarContext {
  driver: DiscoveredDriver;
  conn: CsiConnection;
  registry: Registry;
  /** The client for the controllers' reads and writes (one token bucket, --kube-api-qps/--kube-api-burst). */
  client: KubeClient;
  /** Another client with a token bucket of its own (events, leader election, or a sidecar's own use). */
  newClient(): KubeClient;
  /**
   * Another client on the main client's budget (same token bucket) in lane `lane`: when both wait, tokens alternate
   * between the lanes, so a burst of one kind of work cannot hold every request of the other behind it.
   */
  sharedBudgetClient(lane: number): KubeClient;
  broadcaster: EventBroadcaster;
}

/** A sidecar's controllers, built by the sidecar from the context. */
export interface ControllerSet {
  /** Started as leader and waited for before run(). */
  caches: readonly StartableCache[];
  /** Started as leader but not waited for (optional APIs such as a CRD that may be missing). */
  optionalCaches?: readonly StartableCache[];
  /** Runs the workers until the signal aborts; caches have synced. */
  run(signal: AbortSignal): Promise<void>;
  /** Releases what outlives run() (timers of background retries). */
  stop?(): void;
}

export interface RunControllerSidecarOptions {
  /** Program name for the User-Agent (`<program>/<version>`). */
  program: string;
  config: ControllerSidecarConfig;
  /** The Lease name, before sanitising, for the driver the sidecar found. */
  leaseName(driverName: string): string;
  /** `--max-grpc-log-length`: the longest gRPC response text logged at -v=5. */
  maxGrpcLogLength?: number;
  /** How the start-up handshake differs between sidecars (see discoverDriver). */
  discovery?: { callTimeoutMs?: number; controllerCapabilitiesNeedService?: boolean };
  /** The ReleaseLeaderElectionOnExit gate. */
  releaseLeaderElectionOnExit: boolean;
  /** Builds the controllers. The log line "Caches synced, starting workers" follows their caches' sync. */
  build(context: ControllerSidecarContext): Promise<ControllerSet> | ControllerSet;
  logger: Logger;
  /** Aborted on SIGTERM/SIGINT. */
  signal: AbortSignal;
  exit(code: number): void;
}

/**
 * The process of a controller sidecar, in upstream's order: the Kubernetes configuration (a bad kubeconfig fails
 * before the 30 s socket wait), the driver connection (exit on loss), the start-up handshake, the controllers, the
 * HTTP server on every replica, then leader election (when enabled) running the controllers as leader.
 */
export async function runControllerSidecar(options: RunControllerSidecarOptions): Promise<void> {
  const { config, logger, signal, exit } = options;
  const kubeConfig = loadKubeConfig({ kubeconfig: config.kubeconfig, master: config.master, environmentFirst: true });
  const registry = createMetricsRegistry();
  const csiMetrics = new CsiOperationMetrics({ registry });
  const conn = await CsiConnection.connect({
    address: config.csiAddress,
    logger,
    metrics: csiMetrics,
    onConnectionLoss: exitOnConnectionLoss({ logger }),
    ...(options.maxGrpcLogLength !== undefined ? { maxLogLength: options.maxGrpcLogLength } : {}),
    clock: realClock,
    signal,
  });
  const driver = await discoverDriver({
    conn,
    logger,
    timeoutMs: config.operationTimeoutMs,
    metrics: csiMetrics,
    signal,
  });

  const newClient = clientFactory(kubeConfig, config, `${options.program}/${sidecarVersion}`, logger);
  const eventClient = newClient();
  const broadcaster = new EventBroadcaster({
    sink: coreV1EventSink(eventClient.api(CoreV1Api)),
    clock: realClock,
    logger,
    // The same rate as upstream's shared client, in a bucket of its own: at high QPS events keep up with the work.
    qps: config.kubeApiQps,
    burst: config.kubeApiBurst,
  });
  const client = newClient();
  const sharedBudgetClient = (lane: number): KubeClient => newClient({ bucket: client.bucket, lane });
  const controllers = await options.build({
    driver,
    conn,
    registry,
    client,
    newClient,
    sharedBudgetClient,
    broadcaster,
  });

  const runControllers = async (runSignal: AbortSignal): Promise<void> => {
    try {
      for (const cache of [...controllers.caches, ...(controllers.optionalCaches ?? [])]) cache.start(runSignal);
      for (const cache of controllers.caches) {
        if (!(await cache.waitForSync(runSignal))) return;
      }
      logger.info('Caches synced, starting workers');
      await controllers.run(runSignal);
    } finally {
      controllers.stop?.();
    }
  };

  const lockName = options.leaseName(driver.name);
  // client-go's LeaderElection events, from the source csi-lib-utils gives them.
  const leaderEvents = broadcaster.newRecorder({ component: leaderElectionEventComponent(lockName) });
  const election = config.leaderElection;
  const elector = election.enabled
    ? newSidecarLeaderElector({
        leaseClient: coordinationLeaseClient(newClient().api(CoordinationV1Api)),
        lockName,
        namespace: leaseNamespace(election.namespace),
        leaseDurationMs: election.leaseDurationMs,
        renewDeadlineMs: election.renewDeadlineMs,
        retryPeriodMs: election.retryPeriodMs,
        labels: election.labels,
        releaseOnCancel: options.releaseLeaderElectionOnExit,
        clock: realClock,
        logger,
        registry,
        run: runControllers,
        exit,
        recordEvent: (lease, message) => {
          const ref = objectReference(lease, 'coordination.k8s.io/v1', 'Lease');
          if (ref) leaderEvents.event(ref, 'Normal', 'LeaderElection', message);
        },
      })
    : undefined;

  // The HTTP server runs on every replica, leader or not.
  if (config.http.address !== undefined) {
    const server = new DiagnosticsServer({ address: config.http.address, logger });
    server.handle(config.http.metricsPath, metricsHandler(registry, { instrumented: true }));
    if (config.http.leaderElectionHealthz && elector) {
      server.handle('/healthz/leader-election', leaderElectionHealthHandler(elector));
    }
    await server.listen();
    signal.addEventListener('abort', () => void server.close(), { once: true });
  }

  if (!elector) {
    await runControllers(signal);
    return;
  }
  await elector.run(signal);
}

/**
 * Each call gives a client with a token bucket of its own, so one kind of traffic never waits behind another, or,
 * with `share`, one on another client's bucket in a lane of its own.
 */
function clientFactory(
  kubeConfig: KubeConfig,
  config: ControllerSidecarConfig,
  userAgent: string,
  logger: Logger,
): (share?: { bucket: TokenBucket; lane: number }) => KubeClient {
  return (share) =>
    createKubeClient({
      kubeConfig,
      qps: config.kubeApiQps,
      burst: config.kubeApiBurst,
      userAgent,
      logger,
      ...(share ? { share } : {}),
    });
}
