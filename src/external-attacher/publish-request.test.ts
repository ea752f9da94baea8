import type { V1PersistentVolumeSpec } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { VolumeCapability } from '../gen/csi.js';
import { VolumeCapability_AccessMode_Mode as Mode } from '../gen/csi.js';
import { csiSourceOf, publishVolumeCapability } from './publish-request.js';

const DEFAULT_FS = 'ext4';

function mount(mode: Mode, fsType = DEFAULT_FS, mountFlags: string[] = []): VolumeCapability {
  return { accessType: { $case: 'mount', value: { fsType, mountFlags, volumeMountGroup: '' } }, accessMode: { mode } };
}

function block(mode: Mode): VolumeCapability {
  return { accessType: { $case: 'block', value: {} }, accessMode: { mode } };
}

interface Case {
  name: string;
  modes: string[];
  volumeMode?: string;
  fsType?: string;
  mountOptions?: string[];
  singleNodeMultiWriter?: boolean;
  /** The capability, or the error text. */
  expected: VolumeCapability | string;
}

const RWOP_MIX =
  'Kubernetes does not support use of ReadWriteOncePod with other access modes on the same PersistentVolume';
const ROX_RWO = 'CSI does not support ReadOnlyMany and ReadWriteOnce on the same PersistentVolume';

// Upstream TestGetVolumeCapabilities (pkg/controller/util_test.go), with --default-fstype ext4.
const cases: Case[] = [
  { name: 'RWX', modes: ['ReadWriteMany'], volumeMode: 'Filesystem', expected: mount(Mode.MULTI_NODE_MULTI_WRITER) },
  { name: 'Block RWX', modes: ['ReadWriteMany'], volumeMode: 'Block', expected: block(Mode.MULTI_NODE_MULTI_WRITER) },
  {
    name: 'RWX, the PV fsType wins over --default-fstype',
    modes: ['ReadWriteMany'],
    fsType: 'ext3',
    expected: mount(Mode.MULTI_NODE_MULTI_WRITER, 'ext3'),
  },
  { name: 'RWO', modes: ['ReadWriteOnce'], expected: mount(Mode.SINGLE_NODE_WRITER) },
  { name: 'Block RWO', modes: ['ReadWriteOnce'], volumeMode: 'Block', expected: block(Mode.SINGLE_NODE_WRITER) },
  { name: 'ROX', modes: ['ReadOnlyMany'], expected: mount(Mode.MULTI_NODE_READER_ONLY) },
  {
    name: 'RWX with anything else',
    modes: ['ReadWriteMany', 'ReadOnlyMany', 'ReadWriteOnce'],
    expected: mount(Mode.MULTI_NODE_MULTI_WRITER),
  },
  {
    name: 'mount options become mount_flags',
    modes: ['ReadWriteMany'],
    mountOptions: ['first', 'second'],
    expected: mount(Mode.MULTI_NODE_MULTI_WRITER, DEFAULT_FS, ['first', 'second']),
  },
  { name: 'ROX + RWO', modes: ['ReadWriteOnce', 'ReadOnlyMany'], expected: ROX_RWO },
  { name: 'no access mode', modes: [], expected: 'unsupported AccessMode combination: []' },
  { name: 'RWOP', modes: ['ReadWriteOncePod'], expected: mount(Mode.SINGLE_NODE_WRITER) },
  { name: 'RWOP + RWO', modes: ['ReadWriteOnce', 'ReadWriteOncePod'], expected: RWOP_MIX },
  {
    name: 'SINGLE_NODE_MULTI_WRITER driver: RWX',
    modes: ['ReadWriteMany'],
    volumeMode: 'Filesystem',
    singleNodeMultiWriter: true,
    expected: mount(Mode.MULTI_NODE_MULTI_WRITER),
  },
  {
    name: 'SINGLE_NODE_MULTI_WRITER driver: ROX + RWO',
    modes: ['ReadOnlyMany', 'ReadWriteOnce'],
    singleNodeMultiWriter: true,
    expected: ROX_RWO,
  },
  {
    name: 'SINGLE_NODE_MULTI_WRITER driver: ROX + RWOP',
    modes: ['ReadOnlyMany', 'ReadWriteOncePod'],
    singleNodeMultiWriter: true,
    expected: RWOP_MIX,
  },
  {
    name: 'SINGLE_NODE_MULTI_WRITER driver: RWO + RWOP',
    modes: ['ReadWriteOnce', 'ReadWriteOncePod'],
    singleNodeMultiWriter: true,
    expected: RWOP_MIX,
  },
  {
    name: 'SINGLE_NODE_MULTI_WRITER driver: ROX',
    modes: ['ReadOnlyMany'],
    singleNodeMultiWriter: true,
    expected: mount(Mode.MULTI_NODE_READER_ONLY),
  },
  {
    name: 'SINGLE_NODE_MULTI_WRITER driver: RWO',
    modes: ['ReadWriteOnce'],
    singleNodeMultiWriter: true,
    expected: mount(Mode.SINGLE_NODE_MULTI_WRITER),
  },
  {
    name: 'SINGLE_NODE_MULTI_WRITER driver: RWOP',
    modes: ['ReadWriteOncePod'],
    singleNodeMultiWriter: true,
    expected: mount(Mode.SINGLE_NODE_SINGLE_WRITER),
  },
  {
    name: 'SINGLE_NODE_MULTI_WRITER driver: no access mode',
    modes: [],
    singleNodeMultiWriter: true,
    expected: 'unsupported AccessMode combination: []',
  },
];

describe('publishVolumeCapability (upstream TestGetVolumeCapabilities)', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const spec: V1PersistentVolumeSpec = {
      accessModes: c.modes,
      volumeMode: c.volumeMode,
      mountOptions: c.mountOptions,
      csi: { driver: 'csi/test', volumeHandle: 'h', fsType: c.fsType },
    };
    const options = { supportsSingleNodeMultiWriter: c.singleNodeMultiWriter ?? false, defaultFsType: DEFAULT_FS };
    if (typeof c.expected === 'string') {
      expect(() => publishVolumeCapability(spec, options)).toThrow(c.expected);
    } else {
      expect(publishVolumeCapability(spec, options)).toEqual(c.expected);
    }
  });

  it('leaves fsType empty when neither the PV nor --default-fstype names one', () => {
    const spec: V1PersistentVolumeSpec = { accessModes: ['ReadWriteOnce'], csi: { driver: 'd', volumeHandle: 'h' } };
    expect(publishVolumeCapability(spec, { supportsSingleNodeMultiWriter: false, defaultFsType: '' })).toEqual(
      mount(Mode.SINGLE_NODE_WRITER, ''),
    );
  });

  it('refuses a spec without a CSI source', () => {
    expect(() =>
      publishVolumeCapability(
        { accessModes: ['ReadWriteOnce'] },
        { supportsSingleNodeMultiWriter: false, defaultFsType: '' },
      ),
    ).toThrow('CSI volume source was nil');
  });
});

describe('csiSourceOf', () => {
  it("returns spec.csi, and upstream's text for an in-tree source", () => {
    const csi = { driver: 'd', volumeHandle: 'h' };
    expect(csiSourceOf({ csi })).toBe(csi);
    expect(() => csiSourceOf({ gcePersistentDisk: { pdName: 'pd' } })).toThrow(
      'pv spec contained non-csi source that was not migrated',
    );
  });
});
