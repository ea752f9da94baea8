import { FlagError, boolFlag, durationFlag, floatFlag, intFlag, stringFlag } from '../shared/flags/flag-set.js';
import type { FlagValues } from '../shared/flags/flag-set.js';
import { featureGatesFlag, resolveFeatureGates } from '../shared/flags/feature-gates.js';
import type { FeatureGates as SidecarFeatureGates, GateSpecs } from '../shared/flags/feature-gates.js';
import { automaxprocsFlag, loggingFlags } from '../shared/flags/logging-flags.js';
import { standardFlags } from '../shared/flags/standard-flags.js';
import { standardSidecarConfig } from '../shared/sidecar/controller-sidecar-config.js';
import type { ControllerSidecarConfig } from '../shared/sidecar/controller-sidecar-config.js';

/** The provisioner's own feature gates (upstream pkg/features), with defaults and maturity. */
export const provisionerFeatureGates = {
  Topology: { default: true, stage: 'GA' },
  VolumeAttributesClass: { default: true, stage: 'GA' },
  CrossNamespaceVolumeDataSource: { default: false, stage: 'ALPHA' },
  ReleaseLeaderElectionOnExit: { default: false, stage: 'ALPHA' },
} as const satisfies GateSpecs;

export type ProvisionerFeatureGate = keyof typeof provisionerFeatureGates;
export type FeatureGates = SidecarFeatureGates<typeof provisionerFeatureGates>;

export const provisionerFlags = {
  ...standardFlags,
  master: stringFlag(
    'master',
    '',
    'API server URL, used together with or instead of --kubeconfig when running outside the cluster.',
  ),
  operationTimeout: durationFlag(
    'timeout',
    '10s',
    'Time limit of each CSI call (CreateVolume, DeleteVolume, GetCapacity, Probe and the identity calls).',
  ),
  enablePprof: boolFlag(
    'enable-pprof',
    false,
    "Accepted for compatibility: Go's /debug/pprof endpoints do not exist in Node.js, so this only logs a warning (use node --inspect or heap snapshots).",
  ),
  workerThreads: intFlag(
    'worker-threads',
    100,
    'Number of claim workers and, separately, of volume workers: the limit of concurrent CreateVolume and of concurrent DeleteVolume calls.',
    { typeName: 'uint' },
  ),
  retryIntervalStart: durationFlag(
    'retry-interval-start',
    '1s',
    'First retry delay after a failed provisioning or deletion; every further failure doubles it up to --retry-interval-max.',
  ),
  retryIntervalMax: durationFlag(
    'retry-interval-max',
    '5m',
    'Upper bound of the retry delay of failed provisioning or deletion.',
  ),
  cloningProtectionThreads: intFlag(
    'cloning-protection-threads',
    1,
    'Number of workers that remove the cloning-protection finalizer from clone source claims.',
    { typeName: 'uint' },
  ),
  snapshotOrphanSweepInterval: durationFlag(
    'snapshot-orphan-sweep-interval',
    '5m',
    'Period of the sweep that removes snapshot source-protection finalizers left behind, for example by a crash during a restore. 0 turns the sweep off.',
  ),
  capacityThreads: intFlag('capacity-threads', 1, 'Number of workers that maintain CSIStorageCapacity objects.', {
    typeName: 'uint',
  }),
  volumeNamePrefix: stringFlag(
    'volume-name-prefix',
    'pvc',
    'Prefix of the names of the volumes this provisioner creates.',
  ),
  volumeNameUuidLength: intFlag(
    'volume-name-uuid-length',
    -1,
    'When zero or more, the claim UID in volume names loses its dashes and is cut to this many characters; -1 keeps the full UID. Other values fail each claim with an event.',
  ),
  strictTopology: boolFlag(
    'strict-topology',
    false,
    'For late binding, send only the topology of the node picked by the scheduler instead of all cluster topologies that share its topology keys.',
  ),
  immediateTopology: boolFlag(
    'immediate-topology',
    true,
    'For immediate binding without allowed topologies, send the aggregated topology of every node running the driver (true) or no topology requirement at all (false).',
  ),
  extraCreateMetadata: boolFlag(
    'extra-create-metadata',
    false,
    'Add the PVC name and namespace and the PV name to the CreateVolume parameters.',
  ),
  durableInFlight: boolFlag(
    'durable-in-flight',
    false,
    'Record an in-flight CreateVolume on the claim (a finalizer and an annotation, written with update) so that a claim deleted while the provisioner restarts does not leak its volume. Not an upstream flag; off keeps upstream behaviour.',
  ),
  defaultFsType: stringFlag(
    'default-fstype',
    '',
    'Filesystem type for volumes whose StorageClass names none. Empty leaves the filesystem type unset.',
  ),
  controllerPublishReadOnly: boolFlag(
    'controller-publish-readonly',
    false,
    'Mark the PV read-only for ControllerPublishVolume when ReadOnlyMany is the claim’s only access mode.',
  ),
  preventVolumeModeConversion: boolFlag(
    'prevent-volume-mode-conversion',
    true,
    'Refuse to restore a VolumeSnapshot into a claim with another volume mode unless the snapshot content allows it.',
  ),
  kubeApiCapacityQps: floatFlag(
    'kube-api-capacity-qps',
    1,
    'QPS of the separate API client that writes CSIStorageCapacity objects.',
    { typeName: 'float32' },
  ),
  kubeApiCapacityBurst: intFlag(
    'kube-api-capacity-burst',
    5,
    'Burst of the separate API client that writes CSIStorageCapacity objects.',
  ),
  enableCapacity: boolFlag(
    'enable-capacity',
    false,
    'Publish CSIStorageCapacity objects from the driver’s GetCapacity answers. Not available in this release.',
  ),
  capacityForImmediateBinding: boolFlag(
    'capacity-for-immediate-binding',
    false,
    'Also publish capacity for StorageClasses with Immediate binding (the scheduler does not need it).',
  ),
  capacityPollInterval: durationFlag('capacity-poll-interval', '1m', 'Period between full GetCapacity refreshes.'),
  capacityOwnerrefLevel: intFlag(
    'capacity-ownerref-level',
    1,
    'Owner of the CSIStorageCapacity objects, counted in owner hops from the pod named by POD_NAME in NAMESPACE: -1 none, 0 the pod, 1 its StatefulSet, DaemonSet or ReplicaSet, 2 a Deployment, and so on.',
  ),
  nodeDeployment: boolFlag(
    'node-deployment',
    false,
    'Run one provisioner per node next to the driver, for node-local volumes (needs NODE_NAME). Not available in this release.',
  ),
  nodeDeploymentImmediateBinding: boolFlag(
    'node-deployment-immediate-binding',
    true,
    'With --node-deployment, let the per-node instances compete for claims with Immediate binding.',
  ),
  nodeDeploymentBaseDelay: durationFlag(
    'node-deployment-base-delay',
    '20s',
    'With --node-deployment, the initial wait before an instance tries to take an Immediate-binding claim.',
  ),
  nodeDeploymentMaxDelay: durationFlag(
    'node-deployment-max-delay',
    '60s',
    'With --node-deployment, the longest wait before an instance tries to take an Immediate-binding claim.',
  ),
  featureGates: featureGatesFlag(provisionerFeatureGates),
  ...loggingFlags,
  ...automaxprocsFlag,
};

export type ProvisionerFlagValues = FlagValues<typeof provisionerFlags>;

export interface ProvisionerConfig extends ControllerSidecarConfig {
  /** `--enable-pprof`: accepted, only warned about. */
  enablePprof: boolean;
  workerThreads: number;
  retryIntervalStartMs: number;
  retryIntervalMaxMs: number;
  cloningProtectionThreads: number;
  snapshotOrphanSweepIntervalMs: number;
  volumeNamePrefix: string;
  volumeNameUuidLength: number;
  strictTopology: boolean;
  immediateTopology: boolean;
  extraCreateMetadata: boolean;
  /** --durable-in-flight: mark claims before CreateVolume (see durable-in-flight.ts). */
  durableInFlight: boolean;
  defaultFsType: string;
  controllerPublishReadOnly: boolean;
  preventVolumeModeConversion: boolean;
  featureGates: FeatureGates;
  /** Gates named on the command line; VolumeAttributesClass is only auto-disabled when it is not among them. */
  explicitFeatureGates: ReadonlySet<ProvisionerFeatureGate>;
}

/** The provisioner's gates from --feature-gates (component-base rules). */
export function resolveProvisionerFeatureGates(requested: Record<string, boolean>): {
  gates: FeatureGates;
  explicit: Set<ProvisionerFeatureGate>;
} {
  return resolveFeatureGates(provisionerFeatureGates, requested);
}

/** pflag's uint flags reject negative numbers while parsing; the shared parser reads them as ints. */
function requireUnsigned(values: ProvisionerFlagValues, key: keyof ProvisionerFlagValues): number {
  const value = values[key] as number;
  if (value < 0) {
    const name = provisionerFlags[key].name;
    throw new FlagError(
      `invalid argument "${value}" for "--${name}" flag: strconv.ParseUint: parsing "${value}": invalid syntax`,
    );
  }
  return value;
}

/**
 * Refuses modes this release does not implement instead of running without
 * them: a user who asked for capacity objects or per-node provisioning would
 * otherwise get a provisioner that silently behaves differently.
 */
function rejectUnimplementedModes(values: ProvisionerFlagValues): void {
  if (values.enableCapacity) {
    throw new Error(
      '--enable-capacity: storage capacity tracking (CSIStorageCapacity objects) is not implemented in this release of the TypeScript csi-provisioner; remove the flag or use the upstream image',
    );
  }
  if (values.nodeDeployment) {
    throw new Error(
      '--node-deployment: distributed provisioning (one provisioner per node) is not implemented in this release of the TypeScript csi-provisioner; remove the flag or use the upstream image',
    );
  }
}

/**
 * Turns parsed flag values into the provisioner configuration. Throws
 * FlagError for values pflag itself would reject (exit 2 with usage) and
 * Error for start-up failures upstream reports after parsing (exit 1).
 */
export function resolveProvisionerConfig(values: ProvisionerFlagValues): ProvisionerConfig {
  const workerThreads = requireUnsigned(values, 'workerThreads');
  const cloningProtectionThreads = requireUnsigned(values, 'cloningProtectionThreads');
  requireUnsigned(values, 'capacityThreads');
  const { gates, explicit } = resolveProvisionerFeatureGates(values.featureGates);
  rejectUnimplementedModes(values);
  return {
    ...standardSidecarConfig(values),
    master: values.master,
    operationTimeoutMs: values.operationTimeout,
    enablePprof: values.enablePprof,
    workerThreads,
    retryIntervalStartMs: values.retryIntervalStart,
    retryIntervalMaxMs: values.retryIntervalMax,
    cloningProtectionThreads,
    snapshotOrphanSweepIntervalMs: values.snapshotOrphanSweepInterval,
    volumeNamePrefix: values.volumeNamePrefix,
    volumeNameUuidLength: values.volumeNameUuidLength,
    strictTopology: values.strictTopology,
    immediateTopology: values.immediateTopology,
    extraCreateMetadata: values.extraCreateMetadata,
    durableInFlight: values.durableInFlight,
    defaultFsType: values.defaultFsType,
    controllerPublishReadOnly: values.controllerPublishReadOnly,
    preventVolumeModeConversion: values.preventVolumeModeConversion,
    featureGates: gates,
    explicitFeatureGates: explicit,
  };
}
