import { join } from 'node:path';
import type { Clock } from '../shared/clock/clock.js';
import { realClock } from '../shared/clock/clock.js';
import { CsiConnection } from '../shared/csi/connection.js';
import { NotASocketError, UnixSocketServer } from '../shared/grpc/unix-socket-server.js';
import { DiagnosticsServer } from '../shared/http/diagnostics-server.js';
import type { Logger } from '../shared/log/logger.js';
import { sidecarVersion } from '../shared/version/version.js';
import { driverName } from './driver-name.js';
import type { RegistrarFlags } from './flags.js';
import { healthListenAddress, registrationProbeMode } from './flags.js';
import { RegistrationHealth } from './registration-health.js';
import { RegistrationReadiness } from './registration-readiness.js';
import { registrationService } from './registration-service.js';

export interface RegistrarOptions {
  flags: RegistrarFlags;
  logger: Logger;
  /** Aborted on SIGTERM/SIGINT: the registration socket is removed and the process exits 0. */
  signal: AbortSignal;
  exit: (code: number) => void;
  clock?: Clock;
}

/** How long kubelet's NotifyRegistrationStatus call may take to finish after a rejection, before the exit. */
const REJECTED_ANSWER_GRACE_MS = 1_000;

/** Upstream's ConnectWithoutMetrics wait for the driver socket. */
const DRIVER_CONNECT_TIMEOUT_MS = 30_000;

/**
 * Only the owner may dial the registration socket (kubelet runs as root): upstream listens under umask 0077, which
 * leaves the socket at 0700.
 */
const REGISTRATION_SOCKET_MODE = 0o700;

/**
 * Runs node-driver-registrar: learn the driver's name, serve the plugin-registration socket that kubelet's plugin
 * watcher finds in `--plugin-registration-path`, and serve /healthz. Kubelet does the rest (NodeGetInfo, CSINode,
 * the Node's annotation and labels), so this process never talks to the API server.
 */
export async function runRegistrar(options: RegistrarOptions): Promise<void> {
  const { flags, logger, signal, exit } = options;
  const clock = options.clock ?? realClock;
  if (flags.kubeletRegistrationPath === '') {
    logger.error(undefined, 'kubelet-registration-path is a required parameter');
    return exit(1);
  }
  // Only checked a file that releases before v2.9 wrote (kubernetes-csi/node-driver-registrar#309).
  if (flags.mode === registrationProbeMode) return exit(0);

  logger.info('Version', { version: sidecarVersion });
  logger.info('Running node-driver-registrar', { mode: flags.mode });
  let httpAddress: string | undefined;
  try {
    httpAddress = healthListenAddress(flags);
  } catch (err) {
    logger.error(undefined, (err as Error).message);
    return exit(1);
  }
  if (flags.connectionTimeout !== 0) logger.info('--connection-timeout is deprecated and will have no effect');
  if (flags.enablePprof) {
    logger.warn(
      "--enable-pprof: Go's /debug/pprof endpoints are not available here; use node --inspect or heap snapshots",
    );
  }

  const name = await learnDriverName({ flags, logger, clock, signal });
  if (name === undefined) return exit(signal.aborted ? 0 : 1);
  logger.v(2).info('CSI driver name', { csiDriverName: name });

  const socketPath = join(flags.pluginRegistrationPath, `${name}-reg.sock`);
  const readiness = new RegistrationReadiness(socketPath);
  let server: UnixSocketServer | undefined;
  const leave = async (code: number, graceMs = 0): Promise<void> => {
    await server?.shutdown(graceMs);
    exit(code);
  };
  const service = registrationService({
    driverName: name,
    endpoint: flags.kubeletRegistrationPath,
    logger,
    onRegistered: () => readiness.markRegistered(),
    // Upstream exits at once, before its answer and with the socket left behind. Here kubelet gets its answer
    // (the grace lets it leave), and the socket goes, which spares kubelet retries against a dead socket until the
    // container is back.
    onRejected: () => void leave(1, REJECTED_ANSWER_GRACE_MS),
  });
  logger.info('Starting Registration Server', { socketPath });
  try {
    server = await UnixSocketServer.listen({ path: socketPath, services: [service], mode: REGISTRATION_SOCKET_MODE });
  } catch (err) {
    if (err instanceof NotASocketError) {
      logger.error(undefined, `file exists in socketPath ${socketPath} but it's not a socket.`);
    } else {
      logger.error(err, 'Failed to listen on socket', { socketPath });
    }
    return exit(1);
  }
  logger.info('Registration Server started', { socketPath });
  signal.addEventListener('abort', () => void leave(0), { once: true });
  if (signal.aborted) return leave(0);

  if (flags.livenessHttpEndpoint !== '') {
    const { serveDriverLiveness } = await import('./liveness.js');
    try {
      await serveDriverLiveness({ flags, driverName: name, logger, signal });
    } catch (err) {
      logger.error(err, 'Failed to start the liveness probe server', { endpoint: flags.livenessHttpEndpoint });
      return leave(1);
    }
  }
  if (httpAddress === undefined) {
    logger.info('Skipping HTTP server');
    return;
  }
  logger.info('Starting HTTP server', { endpoint: httpAddress });
  const http = new DiagnosticsServer({ address: httpAddress, logger });
  const health = new RegistrationHealth({ socketPath, driverName: name, timeoutMs: flags.timeout, logger });
  http.handle('/healthz', health.handle);
  http.handle('/readyz', readiness.handle);
  signal.addEventListener('abort', () => void http.close(), { once: true });
  try {
    await http.listen();
  } catch (err) {
    logger.error(err, 'Failed to start HTTP server', { endpoint: httpAddress });
    await leave(1);
  }
}

async function learnDriverName(options: {
  flags: RegistrarFlags;
  logger: Logger;
  clock: Clock;
  signal: AbortSignal;
}): Promise<string | undefined> {
  const { flags, logger, clock, signal } = options;
  logger.v(1).info('Attempting to open a gRPC connection', { csiAddress: flags.csiAddress });
  let conn: CsiConnection;
  try {
    conn = await CsiConnection.connect({
      address: flags.csiAddress,
      logger,
      connectTimeoutMs: DRIVER_CONNECT_TIMEOUT_MS,
      signal,
    });
  } catch (err) {
    if (!signal.aborted) logger.error(err, 'Error connecting to CSI driver');
    return undefined;
  }
  // Upstream keeps this connection open but never uses it again; closing it means a driver restart later costs
  // nothing here.
  try {
    logger.v(1).info('Calling CSI driver to discover driver name');
    return await driverName({ conn, logger, clock, timeoutMs: flags.timeout, waitMs: flags.pluginInfoWait, signal });
  } catch (err) {
    // Upstream's spelling.
    if (!signal.aborted) logger.error(err, 'Error retreiving CSI driver name');
    return undefined;
  } finally {
    conn.close();
  }
}
