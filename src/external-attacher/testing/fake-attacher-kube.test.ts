import { describe, expect, it } from 'vitest';
import { statusMessage } from '../../shared/kube/errors.js';
import { FakeAttacherKube, applyJsonPatch, applyMergePatch } from './fake-attacher-kube.js';

describe('FakeAttacherKube', () => {
  it('applies JSON patches as the apiserver does: test null passes for a missing list, test failures are 422', async () => {
    const kube = new FakeAttacherKube().seed({ volumes: [{ metadata: { name: 'pv' } }] });
    await kube.jsonPatchVolume('pv', [
      { op: 'test', path: '/metadata/finalizers', value: null },
      { op: 'add', path: '/metadata/finalizers', value: ['a'] },
    ]);
    await kube.jsonPatchVolume('pv', [{ op: 'add', path: '/metadata/finalizers/-', value: 'b' }]);
    expect(kube.volumes.get('pv')?.metadata?.finalizers).toEqual(['a', 'b']);
    await expect(
      kube.jsonPatchVolume('pv', [{ op: 'test', path: '/metadata/finalizers/0', value: 'b' }]),
    ).rejects.toMatchObject({ code: 422 });
    expect(kube.volumes.get('pv')?.metadata?.finalizers).toEqual(['a', 'b']);
  });

  it('takes only status through the status subresource and deletes an object whose last finalizer goes', async () => {
    const kube = new FakeAttacherKube().seed({
      attachments: [
        {
          metadata: { name: 'va', finalizers: ['f'], deletionTimestamp: new Date(0) },
          spec: { attacher: 'd', nodeName: 'n', source: {} },
        },
      ],
    });
    await kube.patchAttachmentStatus('va', { metadata: { finalizers: null }, status: { attached: true } });
    expect(kube.attachments.get('va')?.metadata?.finalizers).toEqual(['f']);
    expect(kube.attachments.get('va')?.status).toEqual({ attached: true });
    await kube.patchAttachment('va', { metadata: { finalizers: null } });
    expect(kube.attachments.has('va')).toBe(false);
    await expect(kube.patchAttachmentStatus('va', { status: { attached: false } })).rejects.toMatchObject({
      code: 404,
    });
  });

  it('records every call, failed ones too, and fails the next N calls with the given status', async () => {
    const kube = new FakeAttacherKube();
    kube.secrets.set('ns/s', { k: 'v' });
    kube.failNext('getSecretData', { status: 403, reason: 'Forbidden', message: 'secrets "s" is forbidden' }, 2);
    const first = await kube.getSecretData('ns', 's').catch((err: unknown) => err);
    expect(statusMessage(first)).toBe('secrets "s" is forbidden');
    await expect(kube.getSecretData('ns', 's')).rejects.toThrow('403 Forbidden');
    expect(await kube.getSecretData('ns', 's')).toEqual({ k: 'v' });
    expect(kube.log()).toEqual(Array(3).fill(['getSecretData', 'ns', 's']));
  });
});

describe('patch helpers', () => {
  it('merge patch: null deletes, objects merge, arrays replace', () => {
    expect(applyMergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] })).toEqual({
      a: { c: 2, d: 3 },
      l: [3],
    });
  });

  it('JSON patch: remove by index, replace requires the member', () => {
    expect(applyJsonPatch({ l: ['x', 'y', 'z'] }, [{ op: 'remove', path: '/l/1' }])).toEqual({ l: ['x', 'z'] });
    expect(() => applyJsonPatch({}, [{ op: 'replace', path: '/l', value: [] }])).toThrow();
  });
});
