import { describe, expect, it } from 'vitest';
import {
  CSI_PARAMETER_PREFIX,
  PREFIXED_FSTYPE_KEY,
  createVolumeParameters,
  fsTypeFromParameters,
  knownReservedKeys,
  splitParameters,
} from './parameters.js';

const P = CSI_PARAMETER_PREFIX;

const allKnownPrefixed: Record<string, string> = {
  [`${P}fstype`]: 'ext4',
  [`${P}secret-name`]: 's',
  [`${P}secret-namespace`]: 's',
  [`${P}provisioner-secret-name`]: 's',
  [`${P}provisioner-secret-namespace`]: 's',
  [`${P}controller-publish-secret-name`]: 's',
  [`${P}controller-publish-secret-namespace`]: 's',
  [`${P}node-stage-secret-name`]: 's',
  [`${P}node-stage-secret-namespace`]: 's',
  [`${P}node-publish-secret-name`]: 's',
  [`${P}node-publish-secret-namespace`]: 's',
  [`${P}controller-expand-secret-name`]: 's',
  [`${P}controller-expand-secret-namespace`]: 's',
  [`${P}node-expand-secret-name`]: 's',
  [`${P}node-expand-secret-namespace`]: 's',
  [`${P}controller-modify-secret-name`]: 's',
  [`${P}controller-modify-secret-namespace`]: 's',
};

const allDeprecated: Record<string, string> = {
  fstype: 'ext4',
  csiProvisionerSecretName: 's',
  csiProvisionerSecretNamespace: 's',
  csiControllerPublishSecretName: 's',
  csiControllerPublishSecretNamespace: 's',
  csiNodeStageSecretName: 's',
  csiNodeStageSecretNamespace: 's',
  csiNodePublishSecretName: 's',
  csiNodePublishSecretNamespace: 's',
};

// Upstream TestStripPrefixedCSIParams.
const stripCases: Record<
  string,
  { params?: Record<string, string>; expected?: Record<string, string>; error?: string }
> = {
  'no prefix': { params: { csiFoo: 'bar', bim: 'baz' }, expected: { csiFoo: 'bar', bim: 'baz' } },
  'one prefixed': { params: { [`${P}fstype`]: 'ext4', bim: 'baz' }, expected: { bim: 'baz' } },
  'prefix in value': { params: { foo: `${P}fstype`, bim: 'baz' }, expected: { foo: `${P}fstype`, bim: 'baz' } },
  'all known prefixed': { params: allKnownPrefixed, expected: {} },
  'all known deprecated params not stripped': { params: allDeprecated, expected: allDeprecated },
  'unknown prefixed var': {
    params: { [`${P}bim`]: 'baz' },
    error: 'found unknown parameter key "csi.storage.k8s.io/bim" with reserved namespace csi.storage.k8s.io/',
  },
  empty: { params: {}, expected: {} },
  'no parameters at all': { params: undefined, expected: {} },
  'a typo in a reserved key is caught': {
    params: { [`${P}provisioner-secret-nmae`]: 'x' },
    error: 'found unknown parameter key "csi.storage.k8s.io/provisioner-secret-nmae"',
  },
  'the extra-metadata keys cannot be pre-set': {
    params: { [`${P}pvc/name`]: 'spoof' },
    error: 'found unknown parameter key "csi.storage.k8s.io/pvc/name"',
  },
  'the prefix is case-sensitive': {
    params: { 'CSI.storage.k8s.io/x': 'y' },
    expected: { 'CSI.storage.k8s.io/x': 'y' },
  },
};

describe('splitParameters', () => {
  it.each(Object.entries(stripCases))('%s', (_name, tc) => {
    const act = () => splitParameters(tc.params);
    if (tc.error !== undefined) {
      expect(act).toThrow(tc.error);
    } else {
      expect(act().driverParameters).toEqual(tc.expected);
    }
  });

  it('returns the recognised reserved values next to the driver parameters', () => {
    expect(splitParameters({ [`${P}fstype`]: 'xfs', [`${P}secret-name`]: 's', pool: 'fast' })).toEqual({
      driverParameters: { pool: 'fast' },
      reserved: { [`${P}fstype`]: 'xfs', [`${P}secret-name`]: 's' },
    });
  });

  it('knows exactly the fstype key and the 16 secret keys', () => {
    expect([...knownReservedKeys].sort()).toEqual(Object.keys(allKnownPrefixed).sort());
  });

  it('does not modify its input', () => {
    const params = { [`${P}fstype`]: 'xfs', pool: 'fast' };
    splitParameters(params);
    expect(params).toEqual({ [`${P}fstype`]: 'xfs', pool: 'fast' });
  });
});

describe('createVolumeParameters', () => {
  const names = { pvcName: 'data', pvcNamespace: 'team-a', pvName: 'pvc-123' };

  it('strips the reserved keys', () => {
    expect(
      createVolumeParameters({
        parameters: { ...allKnownPrefixed, pool: 'fast' },
        extraCreateMetadata: false,
        ...names,
      }),
    ).toEqual({ pool: 'fast' });
  });

  it('adds PVC and PV names after stripping with --extra-create-metadata', () => {
    expect(
      createVolumeParameters({
        parameters: { [`${P}fstype`]: 'xfs', pool: 'fast' },
        extraCreateMetadata: true,
        ...names,
      }),
    ).toEqual({
      pool: 'fast',
      'csi.storage.k8s.io/pvc/name': 'data',
      'csi.storage.k8s.io/pvc/namespace': 'team-a',
      'csi.storage.k8s.io/pv/name': 'pvc-123',
    });
  });

  it('works for a class without parameters', () => {
    expect(createVolumeParameters({ parameters: undefined, extraCreateMetadata: false, ...names })).toEqual({});
  });

  it('wraps the unknown-key error the way upstream reports it in ProvisioningFailed', () => {
    expect(() =>
      createVolumeParameters({ parameters: { [`${P}foo`]: 'bar' }, extraCreateMetadata: true, ...names }),
    ).toThrow(
      'failed to strip CSI Parameters of prefixed keys: found unknown parameter key "csi.storage.k8s.io/foo" with reserved namespace csi.storage.k8s.io/',
    );
  });
});

describe('fsTypeFromParameters', () => {
  // Upstream TestFSTypeProvision plus the "multiple fsType keys" / "prefixed fsType key" cases of TestProvision.
  const cases: Record<
    string,
    { params?: Record<string, string>; defaultFsType: string; expected?: string; error?: string }
  > = {
    'fstype not set in SC: the default applies': { params: {}, defaultFsType: 'ext4', expected: 'ext4' },
    'other fstype (xfs) set in SC': { params: { fstype: 'xfs' }, defaultFsType: 'ext4', expected: 'xfs' },
    'fstype not set and no default': { params: {}, defaultFsType: '', expected: '' },
    'fstype set and no default': { params: { fstype: 'xfs' }, defaultFsType: '', expected: 'xfs' },
    'prefixed fsType key': { params: { [PREFIXED_FSTYPE_KEY]: 'xfs' }, defaultFsType: 'ext4', expected: 'xfs' },
    'legacy key in another case': { params: { FSType: 'btrfs' }, defaultFsType: '', expected: 'btrfs' },
    'empty value falls back to the default': {
      params: { [PREFIXED_FSTYPE_KEY]: '' },
      defaultFsType: 'ext4',
      expected: 'ext4',
    },
    'no parameters at all': { params: undefined, defaultFsType: 'ext4', expected: 'ext4' },
    'multiple fsType keys': {
      params: { fstype: 'ext4', [PREFIXED_FSTYPE_KEY]: 'xfs' },
      defaultFsType: '',
      error: 'fstype specified in parameters with both "fstype" and "csi.storage.k8s.io/fstype" keys',
    },
    'two spellings of the legacy key': {
      params: { fstype: 'ext4', FsType: 'xfs' },
      defaultFsType: '',
      error: 'fstype specified in parameters with both',
    },
  };

  it.each(Object.entries(cases))('%s', (_name, tc) => {
    const act = () => fsTypeFromParameters({ parameters: tc.params, defaultFsType: tc.defaultFsType });
    if (tc.error !== undefined) {
      expect(act).toThrow(tc.error);
    } else {
      expect(act()).toBe(tc.expected);
    }
  });

  it('warns when the legacy key is used', () => {
    const warnings: string[] = [];
    fsTypeFromParameters({ parameters: { fstype: 'xfs' }, defaultFsType: '', warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([
      '"fstype" is deprecated and will be removed in a future release, please use "csi.storage.k8s.io/fstype" instead',
    ]);
  });

  it('does not warn for the prefixed key', () => {
    const warnings: string[] = [];
    fsTypeFromParameters({
      parameters: { [PREFIXED_FSTYPE_KEY]: 'xfs' },
      defaultFsType: '',
      warn: (m) => warnings.push(m),
    });
    expect(warnings).toEqual([]);
  });
});
