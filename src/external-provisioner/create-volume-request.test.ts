import type { V1PersistentVolumeClaim, V1StorageClass } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  CreateVolumeRequest,
  VolumeCapability_AccessMode_Mode as AccessMode,
  type Volume,
  type VolumeCapability,
} from '../gen/csi.js';
import type { BuildCreateVolumeRequestOptions } from './create-volume-request.js';
import {
  InvalidClaimError,
  buildCreateVolumeRequest,
  checkCreateVolumeResponse,
  makeVolumeName,
  parseQuantity,
  requestedStorageBytes,
  toCsiAccessMode,
} from './create-volume-request.js';

const UID = '0b5f1e6c-3d2a-4c8e-9f71-2a6b8d4e1c90';
const GI = 1024n ** 3n;

function claim(spec: V1PersistentVolumeClaim['spec'] = {}): V1PersistentVolumeClaim {
  return {
    metadata: { name: 'data', namespace: 'apps', uid: UID, resourceVersion: '42' },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...spec },
  };
}

const storageClass: V1StorageClass = { metadata: { name: 'fast' }, provisioner: 'hostpath.csi.k8s.io' };

function options(overrides: Partial<BuildCreateVolumeRequestOptions> = {}): BuildCreateVolumeRequestOptions {
  return {
    claim: claim(),
    storageClass,
    volumeNamePrefix: 'pvc',
    volumeNameUUIDLength: -1,
    defaultFsType: '',
    parameters: {},
    extraCreateMetadata: false,
    supportsSingleNodeMultiWriter: false,
    ...overrides,
  };
}

function build(overrides: Partial<BuildCreateVolumeRequestOptions> = {}) {
  const result = buildCreateVolumeRequest(options(overrides));
  if (!result.ok) throw new Error(`unexpected failure: ${result.error.message}`);
  return result;
}

function buildError(overrides: Partial<BuildCreateVolumeRequestOptions>): InvalidClaimError {
  const result = buildCreateVolumeRequest(options(overrides));
  if (result.ok) throw new Error('expected a failure');
  expect(result.error).toBeInstanceOf(InvalidClaimError);
  return result.error;
}

function mountCapability(mode: AccessMode, fsType = '', mountFlags: string[] = []): VolumeCapability {
  return { accessType: { $case: 'mount', value: { fsType, mountFlags, volumeMountGroup: '' } }, accessMode: { mode } };
}

describe('buildCreateVolumeRequest', () => {
  it('builds the normal request (upstream "normal provision")', () => {
    const result = build({ parameters: { fstype: 'ext3', custom: 'x' } });
    expect(result.pvName).toBe(`pvc-${UID}`);
    expect(result.requestedBytes).toBe(GI);
    expect(result.fsType).toBe('');
    expect(result.request).toEqual(
      CreateVolumeRequest.fromPartial({
        name: `pvc-${UID}`,
        capacityRange: { requiredBytes: GI, limitBytes: 0n },
        volumeCapabilities: [mountCapability(AccessMode.SINGLE_NODE_WRITER)],
        parameters: { fstype: 'ext3', custom: 'x' },
      }),
    );
    expect(result.request.volumeContentSource).toBeUndefined();
    expect(result.request.accessibilityRequirements).toBeUndefined();
  });

  it('adds the PVC/PV names with --extra-create-metadata, overriding nothing else', () => {
    const result = build({ extraCreateMetadata: true, parameters: { a: 'b' } });
    expect(result.request.parameters).toEqual({
      a: 'b',
      'csi.storage.k8s.io/pvc/name': 'data',
      'csi.storage.k8s.io/pvc/namespace': 'apps',
      'csi.storage.k8s.io/pv/name': `pvc-${UID}`,
    });
  });

  it('does not mutate the caller parameter map', () => {
    const parameters = { a: 'b' };
    build({ extraCreateMetadata: true, parameters });
    expect(parameters).toEqual({ a: 'b' });
  });

  describe('fsType (upstream TestFSTypeProvision)', () => {
    it('uses the default when the class sets none', () => {
      const result = build({ defaultFsType: 'ext4' });
      expect(result.fsType).toBe('ext4');
      expect(result.request.volumeCapabilities).toEqual([mountCapability(AccessMode.SINGLE_NODE_WRITER, 'ext4')]);
    });
    it('prefers the class value over the default', () => {
      expect(build({ fsTypeFromParameters: 'xfs', defaultFsType: 'ext4' }).fsType).toBe('xfs');
    });
    it('is empty with neither', () => {
      expect(build().fsType).toBe('');
    });
    it('uses the class value without a default', () => {
      expect(build({ fsTypeFromParameters: 'xfs' }).fsType).toBe('xfs');
    });
    it('treats an empty class value as unset', () => {
      expect(build({ fsTypeFromParameters: '', defaultFsType: 'ext4' }).fsType).toBe('ext4');
    });
  });

  describe('access modes', () => {
    const cases: [string, string[], boolean, AccessMode[]][] = [
      ['RWX', ['ReadWriteMany'], false, [AccessMode.MULTI_NODE_MULTI_WRITER]],
      ['ROX', ['ReadOnlyMany'], false, [AccessMode.MULTI_NODE_READER_ONLY]],
      ['RWO', ['ReadWriteOnce'], false, [AccessMode.SINGLE_NODE_WRITER]],
      ['RWOP', ['ReadWriteOncePod'], false, [AccessMode.SINGLE_NODE_WRITER]],
      ['RWO with SINGLE_NODE_MULTI_WRITER', ['ReadWriteOnce'], true, [AccessMode.SINGLE_NODE_MULTI_WRITER]],
      ['RWOP with SINGLE_NODE_MULTI_WRITER', ['ReadWriteOncePod'], true, [AccessMode.SINGLE_NODE_SINGLE_WRITER]],
      [
        'multiple modes, one capability each',
        ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany'],
        false,
        [AccessMode.SINGLE_NODE_WRITER, AccessMode.MULTI_NODE_READER_ONLY, AccessMode.MULTI_NODE_MULTI_WRITER],
      ],
    ];
    it.each(cases)('%s', (_name, accessModes, supportsSingleNodeMultiWriter, expected) => {
      const result = build({ claim: claim({ accessModes }), supportsSingleNodeMultiWriter });
      expect(result.request.volumeCapabilities.map((c) => c.accessMode?.mode)).toEqual(expected);
    });

    it('rejects an unknown access mode with upstream wording', () => {
      const error = buildError({ claim: claim({ accessModes: ['ReadWriteSometimes'] }) });
      expect(error.message).toBe('unsupported AccessMode combination: [ReadWriteSometimes]');
    });

    it('sends no capability when the claim has no access mode (as upstream)', () => {
      expect(build({ claim: claim({ accessModes: [] }) }).request.volumeCapabilities).toEqual([]);
    });

    it('toCsiAccessMode maps every mode on its own', () => {
      expect(toCsiAccessMode({ accessMode: 'ReadOnlyMany', supportsSingleNodeMultiWriter: true })).toBe(
        AccessMode.MULTI_NODE_READER_ONLY,
      );
      expect(toCsiAccessMode({ accessMode: 'ReadWriteMany', supportsSingleNodeMultiWriter: true })).toBe(
        AccessMode.MULTI_NODE_MULTI_WRITER,
      );
    });
  });

  describe('volume mode', () => {
    it('sends a block capability for Block and ignores fsType', () => {
      const result = build({ claim: claim({ volumeMode: 'Block' }), fsTypeFromParameters: 'ext4' });
      expect(result.request.volumeCapabilities).toEqual([
        { accessType: { $case: 'block', value: {} }, accessMode: { mode: AccessMode.SINGLE_NODE_WRITER } },
      ]);
    });
    it('sends a mount capability for Filesystem', () => {
      const result = build({ claim: claim({ volumeMode: 'Filesystem' }), fsTypeFromParameters: 'ext4' });
      expect(result.request.volumeCapabilities).toEqual([mountCapability(AccessMode.SINGLE_NODE_WRITER, 'ext4')]);
    });
    it('passes the class mount options as mount flags', () => {
      const result = build({ storageClass: { ...storageClass, mountOptions: ['ro', 'noatime'] } });
      expect(result.request.volumeCapabilities).toEqual([
        mountCapability(AccessMode.SINGLE_NODE_WRITER, '', ['ro', 'noatime']),
      ]);
    });
  });

  it('carries secrets, topology, content source and mutable parameters through', () => {
    const topology = {
      requisite: [{ segments: { zone: 'a' } }, { segments: { zone: 'b' } }],
      preferred: [{ segments: { zone: 'b' } }, { segments: { zone: 'a' } }],
    };
    const contentSource = { type: { $case: 'snapshot' as const, value: { snapshotId: 'snap-1' } } };
    const result = build({
      secrets: { user: 'admin' },
      topology,
      contentSource,
      mutableParameters: { iops: '3000' },
    });
    expect(result.request.secrets).toEqual({ user: 'admin' });
    expect(result.request.accessibilityRequirements).toEqual(topology);
    expect(result.request.volumeContentSource).toEqual(contentSource);
    expect(result.request.mutableParameters).toEqual({ iops: '3000' });
  });

  it('rejects a claim selector', () => {
    const error = buildError({ claim: claim({ selector: { matchLabels: { a: 'b' } } }) });
    expect(error.message).toBe('claim Selector is not supported');
  });

  it('sends 0 bytes for a claim without a storage request (as upstream)', () => {
    expect(build({ claim: claim({ resources: {} }) }).request.capacityRange?.requiredBytes).toBe(0n);
  });

  it('rejects an unparsable storage request', () => {
    const error = buildError({ claim: claim({ resources: { requests: { storage: '1GB' } } }) });
    expect(error.message).toMatch(/^invalid storage request "1GB": unknown quantity suffix "GB"$/);
  });

  it('rejects a negative storage request', () => {
    const error = buildError({ claim: claim({ resources: { requests: { storage: '-1Gi' } } }) });
    expect(error.message).toBe('invalid storage request "-1Gi": must not be negative');
  });

  it('reports a name error as a failure result', () => {
    const error = buildError({ claim: { ...claim(), metadata: { name: 'data', namespace: 'apps' } } });
    expect(error.message).toBe('corrupted PVC object, it is missing UID');
  });
});

describe('makeVolumeName', () => {
  it('uses <prefix>-<uid> with length -1', () => {
    expect(makeVolumeName({ prefix: 'pvc', uid: UID, uuidLength: -1 })).toBe(`pvc-${UID}`);
  });
  it('strips dashes and truncates with a length', () => {
    expect(makeVolumeName({ prefix: 'vol', uid: UID, uuidLength: 10 })).toBe('vol-0b5f1e6c3d');
  });
  it('allows the full compact length and zero', () => {
    expect(makeVolumeName({ prefix: 'p', uid: UID, uuidLength: 32 })).toBe(`p-${UID.replaceAll('-', '')}`);
    expect(makeVolumeName({ prefix: 'p', uid: UID, uuidLength: 0 })).toBe('p-');
  });
  it('rejects an empty prefix', () => {
    expect(() => makeVolumeName({ prefix: '', uid: UID, uuidLength: -1 })).toThrow(
      new InvalidClaimError('volume name prefix cannot be of length 0'),
    );
  });
  it('rejects an empty UID', () => {
    expect(() => makeVolumeName({ prefix: 'pvc', uid: '', uuidLength: -1 })).toThrow(
      'corrupted PVC object, it is missing UID',
    );
  });
  it('rejects a length beyond the UID instead of crashing', () => {
    expect(() => makeVolumeName({ prefix: 'pvc', uid: UID, uuidLength: 33 })).toThrow(/out of range/);
    expect(() => makeVolumeName({ prefix: 'pvc', uid: UID, uuidLength: -2 })).toThrow(/out of range/);
  });
});

describe('parseQuantity', () => {
  const valid: [string, bigint][] = [
    ['0', 0n],
    ['1', 1n],
    ['+5', 5n],
    ['007', 7n],
    ['1Ki', 1024n],
    ['1Mi', 1024n ** 2n],
    ['1Gi', GI],
    ['1Ti', 1024n ** 4n],
    ['1Pi', 1024n ** 5n],
    ['1Ei', 1024n ** 6n],
    ['1.5Gi', 1610612736n],
    ['0.5Ki', 512n],
    ['.5Ki', 512n],
    ['5.Mi', 5n * 1024n ** 2n],
    ['1k', 1000n],
    ['1M', 1000000n],
    ['1G', 1000000000n],
    ['1T', 10n ** 12n],
    ['1P', 10n ** 15n],
    ['1E', 10n ** 18n],
    ['2.5G', 2500000000n],
    ['1e3', 1000n],
    ['1E3', 1000n],
    ['1e+3', 1000n],
    ['1.5e9', 1500000000n],
    ['12e-1', 2n],
    ['1e-3', 1n],
    ['100m', 1n],
    ['1000m', 1n],
    ['1001m', 2n],
    ['1u', 1n],
    ['1n', 1n],
    ['0.1', 1n],
    ['1.0000000001', 2n],
    ['-1.5', -2n],
    ['-1Gi', -GI],
  ];
  it.each(valid)('%s', (text, bytes) => {
    expect(parseQuantity(text)).toBe(bytes);
  });

  it('keeps large values exact', () => {
    expect(parseQuantity('7Ei')).toBe(7n * 1024n ** 6n);
    expect(parseQuantity('9223372036854775807')).toBe((1n << 63n) - 1n);
    expect(parseQuantity('1.000000000000000001E')).toBe(10n ** 18n + 1n);
  });

  const invalid = [
    '',
    ' 1Gi',
    '1Gi ',
    '1 Gi',
    'Gi',
    '.',
    '+',
    '1GB',
    '1K',
    '1gi',
    '1e',
    '1e+',
    '1Ki3',
    '1.2.3',
    '0x10',
    '1_000',
  ];
  it.each(invalid)('rejects %j', (text) => {
    expect(() => parseQuantity(text)).toThrow();
  });

  it('rejects values outside int64', () => {
    expect(() => parseQuantity('8Ei')).toThrow('quantity is out of the int64 range');
    expect(() => parseQuantity('9223372036854775808')).toThrow('out of the int64 range');
  });

  it('rejects absurd exponents without computing them', () => {
    expect(() => parseQuantity('1e999999999')).toThrow('quantity exponent is out of range');
  });
});

describe('requestedStorageBytes', () => {
  it('reads spec.resources.requests.storage', () => {
    expect(requestedStorageBytes(claim({ resources: { requests: { storage: '1536Mi' } } }))).toBe(1536n * 1024n ** 2n);
  });
  it('ignores limits', () => {
    expect(requestedStorageBytes(claim({ resources: { limits: { storage: '5Gi' } } }))).toBe(0n);
  });
});

describe('checkCreateVolumeResponse', () => {
  function volume(overrides: Partial<Volume> = {}): Volume {
    return { capacityBytes: GI, volumeId: 'vol-1', volumeContext: {}, accessibleTopology: [], ...overrides };
  }

  it('accepts the exact size', () => {
    const v = volume();
    expect(checkCreateVolumeResponse({ volume: v, requestedBytes: GI, expectContentSource: false })).toEqual({
      ok: true,
      volume: v,
      capacityBytes: GI,
    });
  });

  it('accepts a larger volume and reports its real size', () => {
    const result = checkCreateVolumeResponse({
      volume: volume({ capacityBytes: 2n * GI }),
      requestedBytes: GI,
      expectContentSource: false,
    });
    expect(result).toMatchObject({ ok: true, capacityBytes: 2n * GI });
  });

  it('treats capacity 0 as unknown and uses the requested size (upstream "provision with size 0")', () => {
    const result = checkCreateVolumeResponse({
      volume: volume({ capacityBytes: 0n }),
      requestedBytes: GI,
      expectContentSource: false,
    });
    expect(result).toMatchObject({ ok: true, capacityBytes: GI });
  });

  it('asks for cleanup when the volume is smaller than requested (TestCreateDriverReturnsInvalidCapacityDuringProvision)', () => {
    const result = checkCreateVolumeResponse({
      volume: volume({ capacityBytes: 100n }),
      requestedBytes: 200n,
      expectContentSource: false,
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.cleanup).toBe(true);
    expect(result.error.message).toBe('created volume capacity 100 less than requested capacity 200');
  });

  it('asks for cleanup when a requested content source is missing', () => {
    const result = checkCreateVolumeResponse({ volume: volume(), requestedBytes: GI, expectContentSource: true });
    expect(result).toEqual({
      ok: false,
      cleanup: true,
      problem: 'content-source',
      error: new Error('volume content source missing'),
    });
  });

  it('accepts a reported content source', () => {
    const result = checkCreateVolumeResponse({
      volume: volume({ contentSource: { type: { $case: 'volume', value: { volumeId: 'src' } } } }),
      requestedBytes: GI,
      expectContentSource: true,
    });
    expect(result.ok).toBe(true);
  });

  it('checks the size before the content source', () => {
    const result = checkCreateVolumeResponse({
      volume: volume({ capacityBytes: 1n }),
      requestedBytes: GI,
      expectContentSource: true,
    });
    expect(result.ok || result.error.message).toMatch(/less than requested/);
  });

  it('fails without cleanup when the response has no volume', () => {
    const result = checkCreateVolumeResponse({ volume: undefined, requestedBytes: GI, expectContentSource: false });
    expect(result).toEqual({ ok: false, cleanup: false, error: new Error('CreateVolume response contains no volume') });
  });
});
