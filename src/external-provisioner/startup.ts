import { hostname } from 'node:os';
import type { Logger } from '../shared/log/logger.js';
import type { FeatureGates, ProvisionerConfig, ProvisionerFeatureGate } from './flags.js';
import type { KubeClient } from '../shared/kube/client.js';
import type { DiscoveredDriver } from '../shared/csi/driver-discovery.js';
import { ControllerServiceCapability_RPC_Type, PluginCapability_Service_Type } from '../gen/csi.js';
import type { ProvisioningCapabilities } from './driver-capabilities.js';

/** What the driver told us at start-up, read once: a restart re-reads it. */
/** Without CONTROLLER_SERVICE or CREATE_DELETE_VOLUME every claim fails, as upstream (no start-up error). */
export interface DriverInfo extends ProvisioningCapabilities {
  name: string;
  /** VOLUME_ACCESSIBILITY_CONSTRAINTS reported (before the Topology feature gate). */
  accessibilityConstraints: boolean;
  singleNodeMultiWriter: boolean;
  cloning: boolean;
  snapshots: boolean;
  modifyVolume: boolean;
}

/** The provisioner's view of what the driver reported at start-up. */
export function provisioningDriverInfo(driver: DiscoveredDriver): DriverInfo {
  const { plugin, controller } = driver;
  return {
    name: driver.name,
    controllerService: plugin.has(PluginCapability_Service_Type.CONTROLLER_SERVICE),
    createDeleteVolume: controller.has(ControllerServiceCapability_RPC_Type.CREATE_DELETE_VOLUME),
    accessibilityConstraints: plugin.has(PluginCapability_Service_Type.VOLUME_ACCESSIBILITY_CONSTRAINTS),
    singleNodeMultiWriter: controller.has(ControllerServiceCapability_RPC_Type.SINGLE_NODE_MULTI_WRITER),
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
  if (config.enablePprof) {
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

/**
 * Upstream turns the VolumeAttributesClass gate off at start-up when storage.k8s.io/v1 has no
 * volumeattributesclasses resource (an older cluster), unless the gate was set on the command line:
 * otherwise a claim with volumeAttributesClassName would fail to provision forever.
 * `hasApi` undefined (discovery failed) keeps the gate as configured.
 */
export function resolveVolumeAttributesClassGate(options: {
  gates: FeatureGates;
  explicit: ReadonlySet<ProvisionerFeatureGate>;
  hasApi: boolean | undefined;
}): { enabled: boolean; warning?: string } {
  const enabled = options.gates.VolumeAttributesClass;
  if (!enabled || options.hasApi !== false || options.explicit.has('VolumeAttributesClass')) return { enabled };
  return {
    enabled: false,
    warning:
      'VolumeAttributesClass feature gate disabled: the storage.k8s.io/v1 API has no volumeattributesclasses resource; set --feature-gates=VolumeAttributesClass=true to keep it on',
  };
}

/** Whether `GET /apis/storage.k8s.io/v1` lists the volumeattributesclasses resource. Rejects on a discovery error. */
export async function hasVolumeAttributesClassApi(client: Pick<KubeClient, 'request'>): Promise<boolean> {
  const response = await client.request<{ resources?: { name?: unknown }[] } | undefined>({
    method: 'GET',
    path: '/apis/storage.k8s.io/v1',
  });
  const resources = response.body?.resources;
  return Array.isArray(resources) && resources.some((r) => r?.name === 'volumeattributesclasses');
}

/**
 * The config with the VolumeAttributesClass gate resolved against API discovery. A discovery error keeps the
 * gate as configured (and is logged).
 */
export async function adjustVolumeAttributesClassGate(
  config: ProvisionerConfig,
  client: Pick<KubeClient, 'request'>,
  logger: Logger,
): Promise<ProvisionerConfig> {
  if (!config.featureGates.VolumeAttributesClass || config.explicitFeatureGates.has('VolumeAttributesClass')) {
    return config;
  }
  let hasApi: boolean | undefined;
  try {
    hasApi = await hasVolumeAttributesClassApi(client);
  } catch (error) {
    logger.error(
      error,
      'Could not discover the storage.k8s.io/v1 API, keeping the VolumeAttributesClass feature gate as configured',
    );
    return config;
  }
  const result = resolveVolumeAttributesClassGate({
    gates: config.featureGates,
    explicit: config.explicitFeatureGates,
    hasApi,
  });
  if (result.warning !== undefined) logger.warn(result.warning);
  if (result.enabled === config.featureGates.VolumeAttributesClass) return config;
  return { ...config, featureGates: { ...config.featureGates, VolumeAttributesClass: result.enabled } };
}
