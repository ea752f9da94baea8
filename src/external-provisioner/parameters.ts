// StorageClass parameters: what the provisioner keeps for itself (reserved
// `csi.storage.k8s.io/` keys) and what reaches the driver in CreateVolume.

import { PARAM_PVC_NAME, PARAM_PVC_NAMESPACE, PARAM_PV_NAME } from './keys.js';
import { CSI_PARAMETER_PREFIX, deprecationWarning, reservedSecretKeys } from './secrets.js';
import type { Warn } from './secrets.js';

export { CSI_PARAMETER_PREFIX };

export const PREFIXED_FSTYPE_KEY = `${CSI_PARAMETER_PREFIX}fstype`;
/** Pre-prefix fsType key, matched case-insensitively and, like the deprecated secret keys, passed on to the driver. */
const LEGACY_FSTYPE_KEY = 'fstype';

/** Reserved keys the provisioner understands; any other key with the prefix is a user error. */
export const knownReservedKeys: ReadonlySet<string> = new Set([PREFIXED_FSTYPE_KEY, ...reservedSecretKeys]);

export interface SplitParameters {
  /** What CreateVolume receives: every key without the reserved prefix, deprecated aliases included. */
  driverParameters: Record<string, string>;
  /** The recognised reserved keys and their values. */
  reserved: Record<string, string>;
}

/**
 * Separates the reserved keys from the driver's parameters. Throws upstream's
 * error for a reserved-prefix key it does not know, which is usually a typo
 * the user has to fix in the StorageClass.
 */
export function splitParameters(parameters: Readonly<Record<string, string>> | undefined): SplitParameters {
  const driverParameters: Record<string, string> = {};
  const reserved: Record<string, string> = {};
  for (const [key, value] of Object.entries(parameters ?? {})) {
    if (!key.startsWith(CSI_PARAMETER_PREFIX)) {
      driverParameters[key] = value;
    } else if (knownReservedKeys.has(key)) {
      reserved[key] = value;
    } else {
      throw new Error(`found unknown parameter key "${key}" with reserved namespace ${CSI_PARAMETER_PREFIX}`);
    }
  }
  return { driverParameters, reserved };
}

export interface CreateVolumeParametersOptions {
  parameters: Readonly<Record<string, string>> | undefined;
  /** --extra-create-metadata */
  extraCreateMetadata: boolean;
  pvcName: string;
  pvcNamespace: string;
  pvName: string;
}

/**
 * CreateVolume `parameters`: the StorageClass parameters without the reserved
 * keys, plus the PVC/PV names when --extra-create-metadata is on. The names
 * are added after stripping, so a StorageClass cannot pre-set them (it gets
 * the unknown-key error instead).
 */
export function createVolumeParameters(options: CreateVolumeParametersOptions): Record<string, string> {
  let driverParameters: Record<string, string>;
  try {
    ({ driverParameters } = splitParameters(options.parameters));
  } catch (err) {
    throw new Error(`failed to strip CSI Parameters of prefixed keys: ${(err as Error).message}`);
  }
  if (options.extraCreateMetadata) {
    driverParameters[PARAM_PVC_NAME] = options.pvcName;
    driverParameters[PARAM_PVC_NAMESPACE] = options.pvcNamespace;
    driverParameters[PARAM_PV_NAME] = options.pvName;
  }
  return driverParameters;
}

export interface FsTypeOptions {
  parameters: Readonly<Record<string, string>> | undefined;
  /** --default-fstype, used when the StorageClass sets none or an empty one. */
  defaultFsType: string;
  warn?: Warn;
}

/**
 * The filesystem type for the volume capability and the PV. More than one
 * fsType key (prefixed plus any spelling of the legacy key) is an error,
 * because which one wins would be arbitrary.
 */
export function fsTypeFromParameters(options: FsTypeOptions): string {
  let fsType = '';
  let found = 0;
  for (const [key, value] of Object.entries(options.parameters ?? {})) {
    const legacy = key.toLowerCase() === LEGACY_FSTYPE_KEY;
    if (legacy) options.warn?.(deprecationWarning(LEGACY_FSTYPE_KEY, PREFIXED_FSTYPE_KEY));
    if (legacy || key === PREFIXED_FSTYPE_KEY) {
      fsType = value;
      found++;
    }
  }
  if (found > 1) {
    throw new Error(
      `fstype specified in parameters with both "${LEGACY_FSTYPE_KEY}" and "${PREFIXED_FSTYPE_KEY}" keys`,
    );
  }
  return fsType === '' ? options.defaultFsType : fsType;
}
