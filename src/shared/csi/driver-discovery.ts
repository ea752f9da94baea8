import type { ControllerServiceCapability_RPC_Type, PluginCapability_Service_Type } from '../../gen/csi.js';
import type { Logger } from '../log/logger.js';
import type { CsiCaller } from './connection.js';
import type { CsiOperationMetrics } from './metrics.js';
import { getControllerCapabilities, getDriverName, getPluginCapabilities, probeForever } from './rpc.js';

/** What a controller sidecar learns from the driver at start-up; a restart reads it again. */
export interface DiscoveredDriver {
  name: string;
  plugin: ReadonlySet<PluginCapability_Service_Type>;
  controller: ReadonlySet<ControllerServiceCapability_RPC_Type>;
}

export interface DiscoverDriverOptions {
  conn: CsiCaller;
  logger: Logger;
  timeoutMs: number;
  /** Gets the driver's name as soon as GetPluginInfo returns it. */
  metrics?: Pick<CsiOperationMetrics, 'setDriverName'>;
  signal?: AbortSignal;
}

/**
 * The controller sidecars' start-up handshake, as upstream's: Probe until ready, GetPluginInfo, then the plugin and
 * controller capabilities. The metrics learn the name right after GetPluginInfo, so only Probe and GetPluginInfo
 * are labelled `unknown-driver` (csi-provisioner's and csi-attacher's main call SetDriverName there).
 */
export async function discoverDriver(options: DiscoverDriverOptions): Promise<DiscoveredDriver> {
  const { conn, logger, timeoutMs, signal } = options;
  await probeForever(conn, { probeTimeoutMs: timeoutMs, logger, signal });
  const name = await getDriverName(conn, timeoutMs);
  options.metrics?.setDriverName(name);
  logger.info('Detected CSI driver', { driver: name });
  const plugin = await getPluginCapabilities(conn, timeoutMs);
  const controller = await getControllerCapabilities(conn, timeoutMs);
  return { name, plugin, controller };
}
