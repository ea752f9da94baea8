import type { V1PersistentVolumeClaim, V1StorageClass } from '@kubernetes/client-node';
import type { VolumeCapability_AccessMode_Mode as AccessMode } from '../gen/csi.js';
import {
  CreateVolumeRequest,
  type TopologyRequirement,
  type Volume,
  type VolumeCapability,
  type VolumeContentSource,
} from '../gen/csi.js';
import { toCsiAccessMode as toCsiAccessModeOfSet } from '../shared/csi/access-modes.js';
import { errorText } from '../shared/log/logger.js';
import { PARAM_PV_NAME, PARAM_PVC_NAME, PARAM_PVC_NAMESPACE } from './keys.js';

/**
 * A claim/class combination that cannot be provisioned as it stands. Upstream treats all of these as final
 * (ProvisioningFinished): retrying with the same objects gives the same answer. The message is written for a
 * ProvisioningFailed event.
 */
export class InvalidClaimError extends Error {
  override readonly name = 'InvalidClaimError';
}

export interface BuildCreateVolumeRequestOptions {
  claim: V1PersistentVolumeClaim;
  storageClass: V1StorageClass;
  volumeNamePrefix: string;
  /** `--volume-name-uuid-length`; -1 keeps the UID as it is. */
  volumeNameUUIDLength: number;
  /** `--default-fstype`; used only when the class sets none. */
  defaultFsType: string;
  /** fsType resolved from the class parameters (prefixed or legacy key), if any. */
  fsTypeFromParameters?: string;
  /** Class parameters already stripped of the reserved `csi.storage.k8s.io/` keys. */
  parameters: Readonly<Record<string, string>>;
  /** Provisioner secret data (already fetched). */
  secrets?: Readonly<Record<string, string>>;
  topology?: TopologyRequirement;
  /** `--extra-create-metadata`. */
  extraCreateMetadata: boolean;
  /** VolumeAttributesClass parameters, when a VAC applies. */
  mutableParameters?: Readonly<Record<string, string>>;
  contentSource?: VolumeContentSource;
  /** Driver reports the SINGLE_NODE_MULTI_WRITER controller capability. */
  supportsSingleNodeMultiWriter: boolean;
}

export interface PreparedCreateVolume {
  request: CreateVolumeRequest;
  /** Also the CreateVolume `name`. */
  pvName: string;
  /** Effective fsType, needed again for `PV.spec.csi.fsType`. */
  fsType: string;
  requestedBytes: bigint;
}

export type BuildCreateVolumeRequestResult =
  ({ ok: true } & PreparedCreateVolume) | { ok: false; error: InvalidClaimError };

export function buildCreateVolumeRequest(options: BuildCreateVolumeRequestOptions): BuildCreateVolumeRequestResult {
  try {
    return { ok: true, ...prepare(options) };
  } catch (error) {
    if (error instanceof InvalidClaimError) return { ok: false, error };
    throw error;
  }
}

function prepare(options: BuildCreateVolumeRequestOptions): PreparedCreateVolume {
  const { claim, storageClass } = options;
  if (claim.spec?.selector) throw new InvalidClaimError('claim Selector is not supported');
  const pvName = makeVolumeName({
    prefix: options.volumeNamePrefix,
    uid: claim.metadata?.uid ?? '',
    uuidLength: options.volumeNameUUIDLength,
  });
  // An empty class value falls through to the default, like upstream's `fsType == ""` check.
  const fsType = options.fsTypeFromParameters || options.defaultFsType;
  const requestedBytes = requestedStorageBytes(claim);
  const volumeCapabilities = buildVolumeCapabilities({
    accessModes: claim.spec?.accessModes ?? [],
    block: isBlockClaim(claim),
    fsType,
    mountFlags: storageClass.mountOptions ?? [],
    supportsSingleNodeMultiWriter: options.supportsSingleNodeMultiWriter,
  });
  const request = CreateVolumeRequest.fromPartial({
    name: pvName,
    capacityRange: { requiredBytes: requestedBytes },
    volumeCapabilities,
    parameters: requestParameters({ options, pvName }),
    secrets: { ...options.secrets },
    volumeContentSource: options.contentSource,
    accessibilityRequirements: options.topology,
    mutableParameters: { ...options.mutableParameters },
  });
  return { request, pvName, fsType, requestedBytes };
}

/** `<prefix>-<uid>`, or with the dashes removed and the UID cut to `uuidLength` characters. */
export function makeVolumeName(options: { prefix: string; uid: string; uuidLength: number }): string {
  const { prefix, uid, uuidLength } = options;
  if (prefix.length === 0) throw new InvalidClaimError('volume name prefix cannot be of length 0');
  if (uid.length === 0) throw new InvalidClaimError('corrupted PVC object, it is missing UID');
  if (uuidLength === -1) return `${prefix}-${uid}`;
  const compact = uid.replaceAll('-', '');
  // Upstream slices without a bounds check and panics; a clear error is the useful equivalent.
  if (!Number.isInteger(uuidLength) || uuidLength < 0 || uuidLength > compact.length) {
    throw new InvalidClaimError(
      `volume name UUID length ${uuidLength} is out of range for PVC UID "${uid}" (0..${compact.length} or -1)`,
    );
  }
  return `${prefix}-${compact.slice(0, uuidLength)}`;
}

/**
 * Bytes requested by the claim, as `Quantity.Value()` gives them: fractions rounded up. A claim without a storage
 * request yields 0, as upstream; API validation normally prevents that.
 */
export function requestedStorageBytes(claim: V1PersistentVolumeClaim): bigint {
  const quantity = claim.spec?.resources?.requests?.['storage'];
  if (quantity === undefined) return 0n;
  let bytes: bigint;
  try {
    bytes = parseQuantity(quantity);
  } catch (error) {
    throw new InvalidClaimError(`invalid storage request ${JSON.stringify(quantity)}: ${(error as Error).message}`);
  }
  // Upstream would pass a negative int64 on; CSI forbids it, so refuse early.
  if (bytes < 0n) throw new InvalidClaimError(`invalid storage request "${quantity}": must not be negative`);
  return bytes;
}

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);
/** Bounds the decimal exponent so that a hostile "1e999999999" cannot make us build a giant bigint. */
const MAX_DECIMAL_EXPONENT = 1000n;

const BINARY_SUFFIX_POWER: Readonly<Record<string, bigint>> = { Ki: 10n, Mi: 20n, Gi: 30n, Ti: 40n, Pi: 50n, Ei: 60n };
const DECIMAL_SUFFIX_EXPONENT: Readonly<Record<string, bigint>> = {
  n: -9n,
  u: -6n,
  m: -3n,
  '': 0n,
  k: 3n,
  M: 6n,
  G: 9n,
  T: 12n,
  P: 15n,
  E: 18n,
};

const QUANTITY_PATTERN = /^([+-]?)(\d*)(?:\.(\d*))?([a-zA-Z]*)([+-]?\d*)$/;

/**
 * Parses a Kubernetes resource quantity exactly (no floating point) and returns its integer value rounded away from
 * zero, which is what `resource.Quantity.Value()` does. Throws on malformed input or values outside int64.
 */
export function parseQuantity(text: string): bigint {
  const match = QUANTITY_PATTERN.exec(text);
  if (!match)
    throw new Error('quantities must match the regular expression ^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$');
  const [, sign = '', whole = '', fraction = '', suffixLetters = '', suffixNumber = ''] = match;
  if (whole.length === 0 && fraction.length === 0) throw new Error('a quantity needs at least one digit');
  const mantissa = BigInt(whole + fraction || '0') * (sign === '-' ? -1n : 1n);
  const scale = scaleOf(suffixLetters + suffixNumber);
  const numerator = mantissa * scale.numerator;
  const denominator = scale.denominator * 10n ** BigInt(fraction.length);
  const value = divideAwayFromZero(numerator, denominator);
  if (value > INT64_MAX || value < INT64_MIN) throw new Error('quantity is out of the int64 range');
  return value;
}

function scaleOf(suffix: string): { numerator: bigint; denominator: bigint } {
  const binaryPower = BINARY_SUFFIX_POWER[suffix];
  if (binaryPower !== undefined) return { numerator: 1n << binaryPower, denominator: 1n };
  const exponent = DECIMAL_SUFFIX_EXPONENT[suffix] ?? decimalExponent(suffix);
  return exponent >= 0n
    ? { numerator: 10n ** exponent, denominator: 1n }
    : { numerator: 1n, denominator: 10n ** -exponent };
}

/** `e<int>` / `E<int>`; a bare `E` is the exa suffix and handled before this. */
function decimalExponent(suffix: string): bigint {
  const match = /^[eE]([+-]?\d+)$/.exec(suffix);
  if (!match) throw new Error(`unknown quantity suffix ${JSON.stringify(suffix)}`);
  const exponent = BigInt(match[1]);
  if (exponent > MAX_DECIMAL_EXPONENT || exponent < -MAX_DECIMAL_EXPONENT) {
    throw new Error('quantity exponent is out of range');
  }
  return exponent;
}

function divideAwayFromZero(numerator: bigint, denominator: bigint): bigint {
  const quotient = numerator / denominator;
  if (quotient * denominator === numerator) return quotient;
  return numerator < 0n ? quotient - 1n : quotient + 1n;
}

function isBlockClaim(claim: V1PersistentVolumeClaim): boolean {
  // Anything but an explicit Block is a filesystem volume upstream (nil means Filesystem).
  return claim.spec?.volumeMode === 'Block';
}

interface VolumeCapabilitiesOptions {
  accessModes: readonly string[];
  block: boolean;
  fsType: string;
  mountFlags: readonly string[];
  supportsSingleNodeMultiWriter: boolean;
}

/** One capability per claim access mode, each mapped on its own (so RWO+ROX is not rejected as a combination). */
export function buildVolumeCapabilities(options: VolumeCapabilitiesOptions): VolumeCapability[] {
  return options.accessModes.map((accessMode) => ({
    accessType: options.block
      ? { $case: 'block', value: {} }
      : {
          $case: 'mount',
          value: { fsType: options.fsType, mountFlags: [...options.mountFlags], volumeMountGroup: '' },
        },
    accessMode: {
      mode: toCsiAccessMode({ accessMode, supportsSingleNodeMultiWriter: options.supportsSingleNodeMultiWriter }),
    },
  }));
}

/** csi-lib-utils `accessmodes.ToCSIAccessMode` for a single Kubernetes access mode. */
export function toCsiAccessMode(options: { accessMode: string; supportsSingleNodeMultiWriter: boolean }): AccessMode {
  try {
    return toCsiAccessModeOfSet([options.accessMode], options.supportsSingleNodeMultiWriter);
  } catch (err) {
    throw new InvalidClaimError(errorText(err));
  }
}

function requestParameters(input: {
  options: BuildCreateVolumeRequestOptions;
  pvName: string;
}): Record<string, string> {
  const { options, pvName } = input;
  const parameters = { ...options.parameters };
  if (options.extraCreateMetadata) {
    // Added after stripping, so a class cannot pre-set them.
    parameters[PARAM_PVC_NAME] = options.claim.metadata?.name ?? '';
    parameters[PARAM_PVC_NAMESPACE] = options.claim.metadata?.namespace ?? '';
    parameters[PARAM_PV_NAME] = pvName;
  }
  return parameters;
}

export interface CheckCreateVolumeResponseOptions {
  volume: Volume | undefined;
  requestedBytes: bigint;
  /** The claim had a data source (or a cross-namespace dataSourceRef), so the driver must report one. */
  expectContentSource: boolean;
}

export type CheckCreateVolumeResponseResult =
  | { ok: true; volume: Volume; capacityBytes: bigint }
  | { ok: false; cleanup: false; error: Error }
  /** A volume exists and must be deleted (DeleteVolume) before the operation is retried. */
  | { ok: false; cleanup: true; problem: 'capacity' | 'content-source'; error: Error };

/** Validates a successful CreateVolume response before a PV is built from it. */
export function checkCreateVolumeResponse(options: CheckCreateVolumeResponseOptions): CheckCreateVolumeResponseResult {
  const { volume, requestedBytes } = options;
  // Upstream dereferences the missing volume and crashes; there is nothing to clean up without an ID.
  if (!volume) return { ok: false, cleanup: false, error: new Error('CreateVolume response contains no volume') };
  // Zero means "unknown" in CSI (NFS and the like); the API server needs a size, so the request stands in.
  const capacityBytes = volume.capacityBytes === 0n ? requestedBytes : volume.capacityBytes;
  if (capacityBytes < requestedBytes) {
    const error = new Error(`created volume capacity ${capacityBytes} less than requested capacity ${requestedBytes}`);
    return { ok: false, cleanup: true, problem: 'capacity', error };
  }
  if (options.expectContentSource && !volume.contentSource) {
    return { ok: false, cleanup: true, problem: 'content-source', error: new Error('volume content source missing') };
  }
  return { ok: true, volume, capacityBytes };
}
