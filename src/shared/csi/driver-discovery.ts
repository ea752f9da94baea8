import { PluginCapability_Service_Type } from '../../gen/csi.js';
import type { ControllerServiceCapability_RPC_Type } from '../../gen/csi.js';
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
  /** Each Probe of the start-up wait (`--timeout`). */
  timeoutMs: number;
  /** GetPluginInfo and each capability call; default timeoutMs (csi-attacher uses a fixed 1 s). */
  callTimeoutMs?: number;
  /** csi-attacher asks for controller capabilities only when the plugin reports CONTROLLER_SERVICE. */
  controllerCapabilitiesNeedService?: boolean;
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
  const callTimeoutMs = options.callTimeoutMs ?? timeoutMs;
  await probeForever(conn, { probeTimeoutMs: timeoutMs, logger, signal });
  const name = await getDriverName(conn, callTimeoutMs);
  options.metrics?.setDriverName(name);
  logger.info('Detected CSI driver', { driver: name });
  const plugin = await getPluginCapabilities(conn, callTimeoutMs);
  const skipController =
    options.controllerCapabilitiesNeedService === true && !plugin.has(PluginCapability_Service_Type.CONTROLLER_SERVICE);
  const controller = skipController
    ? new Set<ControllerServiceCapability_RPC_Type>()
    : await getControllerCapabilities(conn, callTimeoutMs);
  return { name, plugin, controller };
}
