import type {
  V1CSINode,
  V1Node,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1SecretReference,
  V1StorageClass,
  V1VolumeAttributesClass,
} from '@kubernetes/client-node';
import type { CreateVolumeRequest, TopologyRequirement, Volume, VolumeContentSource } from '../gen/csi.js';
import type { Clock } from '../shared/clock/clock.js';
import type { CsiCaller } from '../shared/csi/connection.js';
import type { CacheReader } from '../shared/kube/cache.js';
import { statusMessage } from '../shared/kube/errors.js';
import { errorText } from '../shared/log/logger.js';
import type { Logger } from '../shared/log/logger.js';
import { cloneContentSource } from './clone-source.js';
import { buildCreateVolumeRequest, checkCreateVolumeResponse } from './create-volume-request.js';
import type { PreparedCreateVolume } from './create-volume-request.js';
import { classifyDataSource } from './data-source.js';
import type { DataSourceKind } from './data-source.js';
import { provisioningCapabilityProblem } from './driver-capabilities.js';
import type { ProvisioningCapabilities } from './driver-capabilities.js';
import type { ProvisionerConfig } from './flags.js';
import type { ProvisionerKube } from './kube-ports.js';
import type { ProtectionKube } from './protection-ports.js';
import { createVolumeParameters, fsTypeFromParameters } from './parameters.js';
import { ProvisioningError, ProvisioningState, createVolumeErrorState, isInfeasible } from './provisioning-errors.js';
import { crossNamespaceRefusal } from './reference-grants.js';
import type { ReferenceGrantReader } from './reference-grants.js';
import { buildPersistentVolume } from './pv.js';
import type { PvSecretRefs } from './pv.js';
import { getSecretReferences } from './secrets.js';
import { snapshotSource } from './snapshot-source.js';
import type { VolumeSnapshot } from './snapshot-types.js';
import { protectDataSource } from './source-protection.js';
import type { SecretReference, SecretReferences } from './secrets.js';
import { selectedNodeName } from './should-provision.js';
import {
  CSINodeNotFoundError,
  generateAccessibilityRequirements,
  nodeAffinityFromAccessibleTopology,
} from './topology.js';
import type { TopologyRetryRecord } from './topology.js';

/** Upstream tries to delete an unusable new volume this many times within one --timeout. */
const CLEANUP_ATTEMPTS = 5;

export interface ProvisionerCapabilities extends ProvisioningCapabilities {
  topology: boolean;
  singleNodeMultiWriter: boolean;
  /** CLONE_VOLUME: PVC data sources. */
  cloning?: boolean;
  /** CREATE_DELETE_SNAPSHOT: VolumeSnapshot data sources. */
  snapshots?: boolean;
  /** MODIFY_VOLUME: claims with a VolumeAttributesClass. */
  modifyVolume?: boolean;
}

/** What one provisioning attempt needs besides the claim. */
export interface ProvisionContext {
  kube: ProvisionerKube;
  csi: CsiCaller;
  config: ProvisionerConfig;
  driverName: string;
  provisionerIdentity: string;
  capabilities: ProvisionerCapabilities;
  nodes: CacheReader<V1Node>;
  csiNodes: CacheReader<V1CSINode>;
  /** Clone sources: the source claim and its volume. */
  claims: CacheReader<V1PersistentVolumeClaim>;
  volumes: CacheReader<V1PersistentVolume>;
  /**
   * Writes the data-source protection finalizers (clone source claim,
   * restored VolumeSnapshot) before CreateVolume; without it sources are not
   * protected.
   */
  protection?: ProtectionKube;
  /** Cross-namespace data sources are checked against it; only with the CrossNamespaceVolumeDataSource gate. */
  referenceGrants?: ReferenceGrantReader;
  logger: Logger;
  clock: Clock;
}

export interface ClaimAttempt {
  claim: V1PersistentVolumeClaim;
  storageClass: V1StorageClass;
}

export interface PreparedProvision extends PreparedCreateVolume {
  secretRefs: PvSecretRefs;
  deletionSecret?: V1SecretReference;
  modifySecret?: V1SecretReference;
  selectedNode: string;
  /** Set on the PV when a VolumeAttributesClass was applied. */
  volumeAttributesClassName?: string;
  /** The restored VolumeSnapshot, as last written with the protection finalizer, to release after success. */
  protectedSnapshot?: VolumeSnapshot;
}

/**
 * A source in another namespace (only reachable with the CrossNamespaceVolumeDataSource gate) needs a
 * ReferenceGrant there, whatever its kind: upstream checks it before anything else about the source, so a
 * populator's source too. A refusal ends the operation (Finished, as upstream's data source check); the claim is
 * still retried with backoff, so a grant created later is found. Grants not listed yet are a transient NoChange.
 */
export function checkReferenceGrant(
  context: Pick<ProvisionContext, 'referenceGrants'>,
  claim: V1PersistentVolumeClaim,
  source: DataSourceKind,
): void {
  if (source.kind === 'none' || source.kind === 'invalid') return;
  if (source.namespace === (claim.metadata?.namespace ?? '')) return;
  const grants = context.referenceGrants;
  if (!grants?.hasSynced()) {
    throw new ProvisioningError({
      message: `ReferenceGrants are not known yet, so the data source in namespace ${source.namespace} cannot be checked (is the Gateway API ReferenceGrant CRD installed, and may the provisioner list referencegrants?)`,
      state: ProvisioningState.NoChange,
    });
  }
  const refusal = crossNamespaceRefusal(claim, grants.list());
  if (refusal) throw new ProvisioningError({ message: refusal, state: ProvisioningState.Finished });
}

/**
 * Upstream `prepareProvision`: everything up to the CreateVolumeRequest, including the clone or snapshot content
 * source and the VolumeAttributesClass parameters. Throws ProvisioningError: Finished for claim/class mistakes,
 * NoChange for reads that may work next time, Reschedule when the selected node has no CSINode.
 */
export async function prepareProvision(
  context: ProvisionContext,
  attempt: ClaimAttempt & { topologyRecord: TopologyRetryRecord },
): Promise<PreparedProvision> {
  const { claim, storageClass } = attempt;
  const gates = context.config.featureGates;
  const dataSource = classifyDataSource(claim, gates.CrossNamespaceVolumeDataSource);
  if (dataSource.kind === 'invalid') {
    throw new ProvisioningError({ message: dataSource.message, state: ProvisioningState.Finished });
  }
  checkReferenceGrant(context, claim, dataSource);
  const vacName = gates.VolumeAttributesClass ? (claim.spec?.volumeAttributesClassName ?? '') : '';
  checkRequiredCapabilities(context.capabilities, { dataSource, vac: vacName !== '' });
  const parameters = storageClass.parameters ?? {};
  const warn = (message: string): void => context.logger.warn(message, { storageClass: storageClass.metadata?.name });
  const fsType = finished(() => fsTypeFromParameters({ parameters, defaultFsType: '', warn }));
  const requestOptions = {
    claim,
    storageClass,
    volumeNamePrefix: context.config.volumeNamePrefix,
    volumeNameUUIDLength: context.config.volumeNameUuidLength,
    defaultFsType: context.config.defaultFsType,
    fsTypeFromParameters: fsType,
    extraCreateMetadata: context.config.extraCreateMetadata,
    supportsSingleNodeMultiWriter: context.capabilities.singleNodeMultiWriter,
  };
  // The claim's own mistakes (selector, access modes, size) are final and found before anything is written, as
  // upstream: a claim that can never be provisioned must not put a protection finalizer on its source.
  const checked = buildCreateVolumeRequest({ ...requestOptions, parameters: {} });
  if (!checked.ok) throw new ProvisioningError({ message: checked.error.message, state: ProvisioningState.Finished });
  const { contentSource, snapshot } = await volumeContentSource(context, attempt, dataSource);
  // As upstream's prepareProvision: after validating the source, before CreateVolume (failures retry without it).
  const protectedSnapshot = context.protection
    ? await protectDataSource({
        protection: context.protection,
        claims: context.claims,
        dataSource,
        snapshot,
        logger: context.logger,
      })
    : undefined;
  const selectedNode = selectedNodeName(claim);
  const topology = accessibilityRequirements(context, attempt, selectedNode);
  // Upstream retries secret-reference mistakes without ending the operation (NoChange): a claim annotation used
  // by a template may still be added, and a CreateVolume that may be running stays tracked.
  const refs = retried(() =>
    getSecretReferences({
      parameters,
      pvName: checked.pvName,
      claim: {
        name: claim.metadata?.name ?? '',
        namespace: claim.metadata?.namespace ?? '',
        annotations: claim.metadata?.annotations,
      },
      warn,
    }),
  );
  const secrets = refs.provisioner ? await readSecret(context.kube, refs.provisioner) : undefined;
  const driverParameters = finished(() =>
    createVolumeParameters({ parameters, extraCreateMetadata: false, pvcName: '', pvcNamespace: '', pvName: '' }),
  );
  const mutableParameters = vacName ? await attributesClassParameters(context, vacName) : undefined;
  const built = buildCreateVolumeRequest({
    ...requestOptions,
    parameters: driverParameters,
    secrets,
    topology,
    contentSource,
    mutableParameters,
  });
  if (!built.ok) throw new ProvisioningError({ message: built.error.message, state: ProvisioningState.Finished });
  return {
    ...built,
    secretRefs: pvSecretRefs(refs),
    deletionSecret: refs.provisioner,
    modifySecret: refs.controllerModify,
    selectedNode,
    ...(vacName ? { volumeAttributesClassName: vacName } : {}),
    ...(protectedSnapshot ? { protectedSnapshot } : {}),
  };
}

/** Upstream `checkDriverCapabilities`: plain provisioning, then what this claim's source and VAC need. */
function checkRequiredCapabilities(
  capabilities: ProvisionerCapabilities,
  needs: { dataSource: DataSourceKind; vac: boolean },
): void {
  const message = provisioningCapabilityProblem(capabilities) ?? claimCapabilityProblem(capabilities, needs);
  if (message) throw new ProvisioningError({ message, state: ProvisioningState.Finished });
}

function claimCapabilityProblem(
  capabilities: ProvisionerCapabilities,
  needs: { dataSource: DataSourceKind; vac: boolean },
): string | undefined {
  if (needs.dataSource.kind === 'snapshot' && !capabilities.snapshots) {
    return 'CSI driver does not support snapshot restore: controller CREATE_DELETE_SNAPSHOT capability is not reported';
  }
  if (needs.dataSource.kind === 'clone' && !capabilities.cloning) {
    return 'CSI driver does not support clone operations: controller CLONE_VOLUME capability is not reported';
  }
  if (needs.vac && !capabilities.modifyVolume) {
    return 'CSI driver does not support VolumeAttributesClass: controller MODIFY_VOLUME capability is not reported';
  }
  return undefined;
}

/**
 * The clone or snapshot to fill the volume from, with the VolumeSnapshot read for a restore; a source that is not
 * usable yet may be later (NoChange).
 */
async function volumeContentSource(
  context: ProvisionContext,
  attempt: ClaimAttempt,
  dataSource: DataSourceKind,
): Promise<{ contentSource?: VolumeContentSource; snapshot?: VolumeSnapshot }> {
  if (dataSource.kind !== 'clone' && dataSource.kind !== 'snapshot') return {};
  const source = { name: dataSource.name, namespace: dataSource.namespace };
  const common = { claim: attempt.claim, storageClass: attempt.storageClass, source, logger: context.logger };
  try {
    if (dataSource.kind === 'clone') {
      return { contentSource: cloneContentSource({ ...common, claims: context.claims, volumes: context.volumes }) };
    }
    return await snapshotSource({
      ...common,
      kube: context.kube,
      preventVolumeModeConversion: context.config.preventVolumeModeConversion,
    });
  } catch (err) {
    const kind = dataSource.kind === 'clone' ? 'PersistentVolumeClaim' : 'VolumeSnapshot';
    throw new ProvisioningError({
      message: `error getting handle for DataSource Type ${kind} by Name ${dataSource.name}: ${errorText(err)}`,
      state: ProvisioningState.NoChange,
      cause: err,
    });
  }
}

/** The class's parameters become CreateVolume's mutable_parameters, as upstream's prepareProvision. */
async function attributesClassParameters(context: ProvisionContext, vacName: string): Promise<Record<string, string>> {
  let vac: V1VolumeAttributesClass;
  try {
    vac = await context.kube.getVolumeAttributesClass(vacName);
  } catch (err) {
    // May appear later: retried like any other read.
    throw new ProvisioningError({
      message: statusMessage(err) ?? errorText(err),
      state: ProvisioningState.NoChange,
      cause: err,
    });
  }
  if (vac.driverName !== context.driverName) {
    throw new ProvisioningError({
      message: `VAC ${vacName} referenced in PVC is for driver ${vac.driverName} which does not match driver name ${context.driverName}`,
      state: ProvisioningState.Finished,
    });
  }
  return { ...vac.parameters };
}

/** Runs a validation that, when it fails, fails the same way on every retry. */
function finished<T>(validate: () => T): T {
  return withState(validate, ProvisioningState.Finished);
}

function retried<T>(validate: () => T): T {
  return withState(validate, ProvisioningState.NoChange);
}

function withState<T>(validate: () => T, state: ProvisioningState): T {
  try {
    return validate();
  } catch (err) {
    throw new ProvisioningError({ message: errorText(err), state, cause: err });
  }
}

function accessibilityRequirements(
  context: ProvisionContext,
  attempt: ClaimAttempt & { topologyRecord: TopologyRetryRecord },
  selectedNode: string,
): TopologyRequirement | undefined {
  try {
    return generateAccessibilityRequirements({
      driverName: context.driverName,
      supportsTopology: context.capabilities.topology,
      strictTopology: context.config.strictTopology,
      immediateTopology: context.config.immediateTopology,
      pvcName: attempt.claim.metadata?.name ?? '',
      storageClass: attempt.storageClass,
      selectedNodeName: selectedNode,
      nodes: context.nodes.list(),
      csiNodes: context.csiNodes.list(),
      retryRecord: attempt.topologyRecord,
    });
  } catch (err) {
    // A Node deleted with its CSINode: the scheduler has to choose again (upstream 6.1, #1438). Upstream passes
    // that NotFound error on as it is; only the other errors get the prefix.
    if (err instanceof CSINodeNotFoundError) {
      throw new ProvisioningError({ message: err.message, state: ProvisioningState.Reschedule, cause: err });
    }
    throw new ProvisioningError({
      message: `error generating accessibility requirements: ${errorText(err)}`,
      state: ProvisioningState.NoChange,
      cause: err,
    });
  }
}

async function readSecret(kube: ProvisionerKube, ref: SecretReference): Promise<Record<string, string>> {
  try {
    return await kube.getSecretData(ref.namespace, ref.name);
  } catch (err) {
    // Names the secret, never its content: the user has to create or fix it.
    throw new ProvisioningError({
      message: `error getting secret ${ref.name} in namespace ${ref.namespace}: ${statusMessage(err) ?? errorText(err)}`,
      state: ProvisioningState.NoChange,
      cause: err,
    });
  }
}

function pvSecretRefs(refs: SecretReferences): PvSecretRefs {
  return {
    controllerPublish: refs.controllerPublish,
    nodeStage: refs.nodeStage,
    nodePublish: refs.nodePublish,
    controllerExpand: refs.controllerExpand,
    nodeExpand: refs.nodeExpand,
  };
}

export interface CreatedVolume {
  volume: Volume;
  capacityBytes: bigint;
}

/** CreateVolume under --timeout, the response checked; errors classified per upstream `checkError`. */
export async function createVolume(
  context: ProvisionContext,
  prepared: Pick<PreparedProvision, 'request' | 'requestedBytes' | 'selectedNode'>,
): Promise<CreatedVolume> {
  let volume: Volume | undefined;
  try {
    ({ volume } = await context.csi.call('CreateVolume', prepared.request, {
      timeoutMs: context.config.operationTimeoutMs,
    }));
  } catch (err) {
    const mayReschedule = context.capabilities.topology && prepared.selectedNode !== '';
    throw new ProvisioningError({
      message: errorText(err),
      state: createVolumeErrorState({ error: err, mayReschedule }),
      infeasible: isInfeasible(err),
      cause: err,
    });
  }
  const checked = checkCreateVolumeResponse({
    volume,
    requestedBytes: prepared.requestedBytes,
    // Only a request with a content source can get a volume back without the content (an empty volume).
    expectContentSource: prepared.request.volumeContentSource !== undefined,
  });
  if (checked.ok) return { volume: checked.volume, capacityBytes: checked.capacityBytes };
  if (!checked.cleanup || !volume) {
    throw new ProvisioningError({ message: checked.error.message, state: ProvisioningState.Finished });
  }
  const cleanupError = await deleteUnusableVolume(context, { volumeId: volume.volumeId, request: prepared.request });
  // Upstream's texts, which differ in one capital letter between the two problems.
  const cleanup = checked.problem === 'capacity' ? 'Cleanup' : 'cleanup';
  const message = cleanupError
    ? `${checked.error.message}. ${cleanup} of volume ${prepared.request.name} failed, volume is orphaned: ${cleanupError}`
    : checked.error.message;
  // The whole operation is retried; a failed cleanup is retried by the next CreateVolume returning the same volume.
  throw new ProvisioningError({ message, state: ProvisioningState.InBackground });
}

/** DeleteVolume up to CLEANUP_ATTEMPTS times within one --timeout; returns the last error text, if any. */
async function deleteUnusableVolume(
  context: ProvisionContext,
  target: { volumeId: string; request: CreateVolumeRequest },
): Promise<string | undefined> {
  const deadline = context.clock.monotonic() + context.config.operationTimeoutMs;
  let lastError: string | undefined;
  for (let i = 0; i < CLEANUP_ATTEMPTS && context.clock.monotonic() < deadline; i++) {
    try {
      await deleteVolume(context, { ...target, timeoutMs: deadline - context.clock.monotonic() });
      return undefined;
    } catch (err) {
      lastError = errorText(err);
    }
  }
  return lastError ?? 'timed out';
}

/** DeleteVolume with the secrets the volume was created with. */
export async function deleteVolume(
  context: Pick<ProvisionContext, 'csi' | 'config'>,
  target: { volumeId: string; request: CreateVolumeRequest; timeoutMs?: number },
): Promise<void> {
  await context.csi.call(
    'DeleteVolume',
    { volumeId: target.volumeId, secrets: { ...target.request.secrets } },
    { timeoutMs: target.timeoutMs ?? context.config.operationTimeoutMs },
  );
}

/** The PV saved for a created volume. */
export function buildVolume(
  context: ProvisionContext,
  input: ClaimAttempt & { prepared: PreparedProvision; created: CreatedVolume },
): V1PersistentVolume {
  const { prepared, created } = input;
  return buildPersistentVolume({
    claim: input.claim,
    storageClass: input.storageClass,
    driverName: context.driverName,
    provisionerIdentity: context.provisionerIdentity,
    pvName: prepared.pvName,
    volume: created.volume,
    capacityBytes: created.capacityBytes,
    fsType: prepared.fsType,
    controllerPublishReadOnly: context.config.controllerPublishReadOnly,
    secretRefs: prepared.secretRefs,
    deletionSecret: prepared.deletionSecret,
    modifySecret: prepared.modifySecret,
    nodeAffinity: context.capabilities.topology
      ? nodeAffinityFromAccessibleTopology({ accessibleTopology: created.volume.accessibleTopology })
      : undefined,
    volumeAttributesClassName: prepared.volumeAttributesClassName,
  });
}
