import { status } from '@grpc/grpc-js';
import type { ControllerServiceCapability_RPC_Type, PluginCapability_Service_Type } from '../../gen/csi.js';
import type { Clock } from '../clock/clock.js';
import { realClock, sleep } from '../clock/clock.js';
import type { Logger } from '../log/logger.js';
import { errorText } from '../log/logger.js';
import type { CsiCaller } from './connection.js';
import { grpcCode } from './status.js';

/** GetPluginInfo's name; an empty name is an error, as every sidecar needs one. */
export async function getDriverName(conn: CsiCaller, timeoutMs?: number): Promise<string> {
  const info = await conn.call('GetPluginInfo', {}, { timeoutMs });
  if (info.name === '') throw new Error('driver name is empty');
  return info.name;
}

/** The plugin's service capabilities (volume-expansion entries are not included). */
export async function getPluginCapabilities(
  conn: CsiCaller,
  timeoutMs?: number,
): Promise<Set<PluginCapability_Service_Type>> {
  const response = await conn.call('GetPluginCapabilities', {}, { timeoutMs });
  const set = new Set<PluginCapability_Service_Type>();
  for (const cap of response.capabilities) if (cap.type?.$case === 'service') set.add(cap.type.value.type);
  return set;
}

export async function getControllerCapabilities(
  conn: CsiCaller,
  timeoutMs?: number,
): Promise<Set<ControllerServiceCapability_RPC_Type>> {
  const response = await conn.call('ControllerGetCapabilities', {}, { timeoutMs });
  const set = new Set<ControllerServiceCapability_RPC_Type>();
  for (const cap of response.capabilities) if (cap.type?.$case === 'rpc') set.add(cap.type.value.type);
  return set;
}

/** One Probe: the driver's `ready` value, true when it leaves `ready` out (as the spec says). */
export async function probe(conn: CsiCaller, timeoutMs?: number, signal?: AbortSignal): Promise<boolean> {
  const response = await conn.call('Probe', {}, { timeoutMs, signal });
  return response.ready ?? true;
}

export interface ProbeForeverOptions {
  /** Deadline of each single Probe. */
  probeTimeoutMs: number;
  logger: Logger;
  clock?: Clock;
  /** Aborting makes probeForever reject with the abort reason. */
  signal?: AbortSignal;
  /** Time between probe starts. Default 1 s (csi-lib-utils' fixed interval). */
  intervalMs?: number;
}

/**
 * Probes at once, then every second, until the driver reports ready. A probe
 * that times out or answers not-ready is retried; any other failure ends the
 * wait with `CSI driver probe failed: …`.
 */
export async function probeForever(conn: CsiCaller, options: ProbeForeverOptions): Promise<void> {
  const { logger, signal } = options;
  const clock = options.clock ?? realClock;
  const intervalMs = options.intervalMs ?? 1000;
  for (;;) {
    signal?.throwIfAborted();
    const started = clock.monotonic();
    logger.info('Probing CSI driver for readiness');
    try {
      if (await probe(conn, options.probeTimeoutMs, signal)) return;
      logger.info('CSI driver is not ready');
    } catch (err) {
      signal?.throwIfAborted();
      if (grpcCode(err) !== status.DEADLINE_EXCEEDED) {
        throw new Error(`CSI driver probe failed: ${errorText(err)}`, { cause: err });
      }
      logger.info('CSI driver probe timed out');
    }
    await sleep(clock, intervalMs - (clock.monotonic() - started), signal);
  }
}
