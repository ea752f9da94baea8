import { featureGatesFlag, resolveFeatureGates } from '../shared/flags/feature-gates.js';
import type { FeatureGates, GateSpecs } from '../shared/flags/feature-gates.js';
import { boolFlag, durationFlag, FlagError, intFlag, stringFlag } from '../shared/flags/flag-set.js';
import type { FlagValues } from '../shared/flags/flag-set.js';
import { automaxprocsFlag, loggingFlags } from '../shared/flags/logging-flags.js';
import { standardFlags } from '../shared/flags/standard-flags.js';
import { standardSidecarConfig } from '../shared/sidecar/controller-sidecar-config.js';
import type { ControllerSidecarConfig } from '../shared/sidecar/controller-sidecar-config.js';

/** The attacher's feature gates (upstream pkg/features). */
export const attacherFeatureGates = {
  ReleaseLeaderElectionOnExit: { default: false, stage: 'ALPHA' },
  MutableCSINodeAllocatableCount: { default: true, stage: 'GA' },
} as const satisfies GateSpecs;

export type AttacherFeatureGates = FeatureGates<typeof attacherFeatureGates>;

/** Upstream csi-attacher's flags, with its names and defaults (Go flag syntax). */
export const attacherFlags = {
  ...standardFlags,
  resync: durationFlag('resync', '10m', 'Period of the informer resync: every VolumeAttachment is synced again.'),
  operationTimeout: durationFlag(
    'timeout',
    '15s',
    'Time limit of each ControllerPublishVolume and ControllerUnpublishVolume call, of each start-up Probe, and of a whole ListVolumes reconcile.',
  ),
  retryIntervalStart: durationFlag(
    'retry-interval-start',
    '1s',
    'First retry delay after a failed attach, detach or PV finalizer removal; it doubles with each failure, up to --retry-interval-max.',
  ),
  retryIntervalMax: durationFlag('retry-interval-max', '5m', 'Upper bound of the retry delay.'),
  workerThreads: intFlag(
    'worker-threads',
    10,
    'Number of workers that attach, and as many that detach and that release PersistentVolumes. Must be greater than zero.',
    { typeName: 'uint' },
  ),
  maxEntries: intFlag(
    'max-entries',
    0,
    'max_entries of each ListVolumes page of the reconciler; 0 lets the driver choose.',
  ),
  defaultFsType: stringFlag(
    'default-fstype',
    '',
    'Filesystem type for ControllerPublishVolume when the PV names none. Empty leaves it unset.',
  ),
  reconcileSync: durationFlag(
    'reconcile-sync',
    '1m',
    'Period of the reconciler that compares VolumeAttachments with ListVolumes (drivers with LIST_VOLUMES_PUBLISHED_NODES).',
  ),
  maxGrpcLogLength: intFlag(
    'max-grpc-log-length',
    -1,
    'Longest gRPC response text logged at -v=5; zero or less logs it whole.',
  ),
  backlogLogInterval: durationFlag(
    'backlog-log-interval',
    '1m',
    'Period of the log line that counts the VolumeAttachments waiting to be attached or detached, while any wait; 0 turns it off. Not an upstream flag.',
  ),
  volumeAttachmentEvents: boolFlag(
    'volumeattachment-events',
    false,
    'Record a FailedAttach or FailedDetach Warning event on a VolumeAttachment whose attach or detach failed (needs the opt-in events rule of the RBAC file). Not an upstream flag.',
  ),
  featureGates: featureGatesFlag(attacherFeatureGates),
  ...loggingFlags,
  ...automaxprocsFlag,
};

export type AttacherFlagValues = FlagValues<typeof attacherFlags>;

export interface AttacherConfig extends ControllerSidecarConfig {
  resyncMs: number;
  retryIntervalStartMs: number;
  retryIntervalMaxMs: number;
  workerThreads: number;
  maxEntries: number;
  defaultFsType: string;
  reconcileSyncMs: number;
  maxGrpcLogLength: number;
  backlogLogIntervalMs: number;
  volumeAttachmentEvents: boolean;
  featureGates: AttacherFeatureGates;
}

/**
 * Turns parsed flag values into the attacher configuration. Throws FlagError for what Go's flag package rejects
 * while parsing (exit 2) and Error for start-up checks upstream makes after it (exit 1).
 */
export function resolveAttacherConfig(values: AttacherFlagValues): AttacherConfig {
  if (values.workerThreads < 0) {
    throw new FlagError(`invalid value "${values.workerThreads}" for flag -worker-threads: parse error`);
  }
  if (values.workerThreads === 0) throw new Error('Option -worker-threads must be greater than zero');
  const { gates } = resolveFeatureGates(attacherFeatureGates, values.featureGates);
  return {
    ...standardSidecarConfig(values),
    master: '',
    operationTimeoutMs: values.operationTimeout,
    resyncMs: values.resync,
    retryIntervalStartMs: values.retryIntervalStart,
    retryIntervalMaxMs: values.retryIntervalMax,
    workerThreads: values.workerThreads,
    maxEntries: values.maxEntries,
    defaultFsType: values.defaultFsType,
    reconcileSyncMs: values.reconcileSync,
    maxGrpcLogLength: values.maxGrpcLogLength,
    backlogLogIntervalMs: values.backlogLogInterval,
    volumeAttachmentEvents: values.volumeAttachmentEvents,
    featureGates: gates,
  };
}
