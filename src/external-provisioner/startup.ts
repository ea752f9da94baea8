import { hostname } from 'node:os';
import type { Logger } from '../shared/log/logger.js';
import type { ProvisionerConfig } from './flags.js';
import type { CsiConnection } from '../shared/csi/connection.js';
import { getControllerCapabilities, getDriverName, getPluginCapabilities, probeForever } from '../shared/csi/rpc.js';
import { ControllerServiceCapability_RPC_Type, PluginCapability_Service_Type } from '../gen/csi.js';

/** What the driver told us at start-up, read once: a restart re-reads it. */
export interface DriverInfo {
  name: string;
  /** VOLUME_ACCESSIBILITY_CONSTRAINTS reported (before the Topology feature gate). */
  accessibilityConstraints: boolean;
  singleNodeMultiWriter: boolean;
  publishUnpublish: boolean;
  cloning: boolean;
  snapshots: boolean;
  modifyVolume: boolean;
}

/**
 * Start-up handshake as upstream: probe until ready, GetPluginInfo, plugin and
 * controller capabilities. A driver without a controller service or without
 * CREATE_DELETE_VOLUME cannot provision: that is a start-up error.
 */
export async function discoverDriver(options: {
  conn: CsiConnection;
  logger: Logger;
  timeoutMs: number;
  signal?: AbortSignal;
}): Promise<DriverInfo> {
  const { conn, logger, timeoutMs, signal } = options;
  await probeForever(conn, { probeTimeoutMs: timeoutMs, logger, signal });
  const name = await getDriverName(conn, timeoutMs);
  logger.info('Detected CSI driver', { driver: name });
  const plugin = await getPluginCapabilities(conn, timeoutMs);
  if (!plugin.has(PluginCapability_Service_Type.CONTROLLER_SERVICE)) {
    throw new Error(
      'CSI driver does not support dynamic provisioning: plugin CONTROLLER_SERVICE capability is not reported',
    );
  }
  const controller = await getControllerCapabilities(conn, timeoutMs);
  if (!controller.has(ControllerServiceCapability_RPC_Type.CREATE_DELETE_VOLUME)) {
    throw new Error(
      'CSI driver does not support dynamic provisioning: controller CREATE_DELETE_VOLUME capability is not reported',
    );
  }
  return {
    name,
    accessibilityConstraints: plugin.has(PluginCapability_Service_Type.VOLUME_ACCESSIBILITY_CONSTRAINTS),
    singleNodeMultiWriter: controller.has(ControllerServiceCapability_RPC_Type.SINGLE_NODE_MULTI_WRITER),
    publishUnpublish: controller.has(ControllerServiceCapability_RPC_Type.PUBLISH_UNPUBLISH_VOLUME),
    cloning: controller.has(ControllerServiceCapability_RPC_Type.CLONE_VOLUME),
    snapshots: controller.has(ControllerServiceCapability_RPC_Type.CREATE_DELETE_SNAPSHOT),
    modifyVolume: controller.has(ControllerServiceCapability_RPC_Type.MODIFY_VOLUME),
  };
}

/** `<unix-ms>-<random 0..9999>-<driver>`: written into every PV so a restart can tell its own volumes apart. */
export function provisionerIdentity(options: { driverName: string; now: number; random?: () => number }): string {
  const random = options.random ?? Math.random;
  return `${options.now}-${Math.floor(random() * 10_000)}-${options.driverName}`;
}

/** The event source component of the provisioning library: `<driver>_<hostname>_<uuid>`. */
export function eventComponent(driverName: string, uuid: string): string {
  return `${driverName}_${hostname()}_${uuid}`;
}

/** Start-up warnings for flags that are accepted (for compatibility) but change nothing or stop some work. */
export function startupWarnings(config: ProvisionerConfig): string[] {
  const warnings: string[] = [];
  if (config.http.enablePprof) {
    warnings.push(
      "--enable-pprof: Go's /debug/pprof endpoints are not available in this implementation; use node --inspect or heap snapshots instead",
    );
  }
  // Upstream starts `for i := 0; i < n` workers: with 0 it runs idle, and so does this one (no crash loop).
  if (config.workerThreads === 0) {
    warnings.push('--worker-threads=0: no claim or volume workers run, nothing is provisioned or deleted');
  }
  if (config.cloningProtectionThreads === 0) {
    warnings.push('--cloning-protection-threads=0: no clone-source protection workers run');
  }
  return warnings;
}

/** Runs the workers, or with 0 of them (upstream's idle loop) just waits until the signal aborts. */
export async function runWorkersOrIdle(workers: number, signal: AbortSignal, run: () => Promise<void>): Promise<void> {
  if (workers > 0) return run();
  if (signal.aborted) return;
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
