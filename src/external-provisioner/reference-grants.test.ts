import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { crossNamespaceRefusal } from './reference-grants.js';
import type { ReferenceGrant } from './reference-grants.js';

const SNAPSHOT_GROUP = 'snapshot.storage.k8s.io';

function claim(ref: { apiGroup?: string; kind: string; name: string; namespace?: string }): V1PersistentVolumeClaim {
  return { metadata: { name: 'restore', namespace: 'apps' }, spec: { dataSourceRef: ref } };
}

const snapshotRef = { apiGroup: SNAPSHOT_GROUP, kind: 'VolumeSnapshot', name: 'snap', namespace: 'backups' };
const claimRef = { kind: 'PersistentVolumeClaim', name: 'golden', namespace: 'backups' };

type GrantSpec = NonNullable<ReferenceGrant['spec']>;

function grant(spec: Partial<GrantSpec> = {}, namespace = 'backups'): ReferenceGrant {
  return {
    metadata: { name: 'allow-apps', namespace },
    spec: {
      from: [{ group: '', kind: 'PersistentVolumeClaim', namespace: 'apps' }],
      to: [{ group: SNAPSHOT_GROUP, kind: 'VolumeSnapshot', name: 'snap' }],
      ...spec,
    },
  };
}

const refused = "accessing backups/snap of VolumeSnapshot dataSource from apps/restore isn't allowed";

describe('crossNamespaceRefusal (upstream IsGranted cases)', () => {
  it.each<[string, ReferenceGrant[], string | undefined]>([
    ['a grant naming the snapshot', [grant()], undefined],
    [
      'a grant without a name (every snapshot)',
      [grant({ to: [{ group: SNAPSHOT_GROUP, kind: 'VolumeSnapshot' }] })],
      undefined,
    ],
    [
      'a grant with an empty name',
      [grant({ to: [{ group: SNAPSHOT_GROUP, kind: 'VolumeSnapshot', name: '' }] })],
      undefined,
    ],
    ['one matching grant among others', [grant({ to: [] }), grant()], undefined],
    ['no grant at all', [], refused],
    ['a grant in another namespace', [grant({}, 'apps')], refused],
    [
      'from a different group',
      [grant({ from: [{ group: 'apps', kind: 'PersistentVolumeClaim', namespace: 'apps' }] })],
      refused,
    ],
    ['from a different kind', [grant({ from: [{ group: '', kind: 'Pod', namespace: 'apps' }] })], refused],
    [
      'from a different namespace',
      [grant({ from: [{ group: '', kind: 'PersistentVolumeClaim', namespace: 'x' }] })],
      refused,
    ],
    ['to a different kind', [grant({ to: [{ group: SNAPSHOT_GROUP, kind: 'VolumeSnapshotContent' }] })], refused],
    ['to a different group', [grant({ to: [{ group: '', kind: 'VolumeSnapshot' }] })], refused],
    [
      'to a different name',
      [grant({ to: [{ group: SNAPSHOT_GROUP, kind: 'VolumeSnapshot', name: 'other' }] })],
      refused,
    ],
    ['an empty from', [grant({ from: [] })], refused],
    ['an empty to', [grant({ to: [] })], refused],
  ])('%s', (_name, grants, expected) => {
    expect(crossNamespaceRefusal(claim(snapshotRef), grants)).toBe(expected);
  });

  it('matches a core-group claim source only with an empty to.group', () => {
    const allowClaims = grant({ to: [{ group: '', kind: 'PersistentVolumeClaim', name: 'golden' }] });
    expect(crossNamespaceRefusal(claim(claimRef), [allowClaims])).toBeUndefined();
    const wrongGroup = grant({ to: [{ group: SNAPSHOT_GROUP, kind: 'PersistentVolumeClaim', name: 'golden' }] });
    expect(crossNamespaceRefusal(claim(claimRef), [wrongGroup])).toBe(
      "accessing backups/golden of PersistentVolumeClaim dataSource from apps/restore isn't allowed",
    );
  });

  it('needs no grant for a source in the claim namespace', () => {
    expect(crossNamespaceRefusal(claim({ ...snapshotRef, namespace: 'apps' }), [])).toBeUndefined();
    expect(crossNamespaceRefusal(claim({ ...snapshotRef, namespace: undefined }), [])).toBeUndefined();
  });
});
