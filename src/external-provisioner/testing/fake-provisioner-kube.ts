import type { V1PersistentVolume, V1PersistentVolumeClaim, V1VolumeAttributesClass } from '@kubernetes/client-node';
import { KubeApiError } from '../../shared/kube/errors.js';
import type { JsonPatchOperation } from '../../shared/kube/patch.js';
import type { ProvisionerKube } from '../kube-ports.js';
import type { VolumeSnapshot, VolumeSnapshotContent } from '../snapshot-types.js';

export interface FakeKubeCall {
  method: keyof ProvisionerKube;
  args: unknown[];
}

type Failure = { status: number; reason: string; message?: string };

/**
 * An in-memory ProvisionerKube: records every call, keeps created volumes,
 * secrets, VolumeAttributesClasses, VolumeSnapshots (by `namespace/name`) and
 * VolumeSnapshotContents, and fails calls on request.
 */
export class FakeProvisionerKube implements ProvisionerKube {
  readonly calls: FakeKubeCall[] = [];
  readonly volumes = new Map<string, V1PersistentVolume>();
  readonly secrets = new Map<string, Record<string, string>>();
  readonly attributesClasses = new Map<string, V1VolumeAttributesClass>();
  readonly snapshots = new Map<string, VolumeSnapshot>();
  readonly snapshotContents = new Map<string, VolumeSnapshotContent>();
  /** What readClaim returns, by `namespace/name`; updateClaim does not store into it. */
  readonly claims = new Map<string, V1PersistentVolumeClaim>();
  private readonly failures = new Map<keyof ProvisionerKube, Failure[]>();

  /** The next `times` calls of method fail with an API error of this status and reason. */
  failNext(method: keyof ProvisionerKube, failure: Failure, times = 1): this {
    const list = this.failures.get(method) ?? [];
    for (let i = 0; i < times; i++) list.push(failure);
    this.failures.set(method, list);
    return this;
  }

  callsTo(method: keyof ProvisionerKube): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  async createPersistentVolume(pv: V1PersistentVolume): Promise<V1PersistentVolume> {
    this.record('createPersistentVolume', [pv]);
    const name = pv.metadata?.name ?? '';
    if (this.volumes.has(name)) throw apiError(409, 'AlreadyExists', `persistentvolumes "${name}" already exists`);
    const stored = structuredClone(pv);
    stored.metadata = { ...stored.metadata, uid: `uid-${name}`, resourceVersion: '1' };
    this.volumes.set(name, stored);
    return structuredClone(stored);
  }

  async updateClaim(claim: V1PersistentVolumeClaim): Promise<V1PersistentVolumeClaim> {
    this.record('updateClaim', [claim]);
    return structuredClone(claim);
  }

  async readClaim(namespace: string, name: string): Promise<V1PersistentVolumeClaim> {
    this.record('readClaim', [namespace, name]);
    const claim = this.claims.get(`${namespace}/${name}`);
    if (!claim) throw apiError(404, 'NotFound', `persistentvolumeclaims "${name}" not found`);
    return structuredClone(claim);
  }

  async jsonPatchVolume(name: string, ops: JsonPatchOperation[]): Promise<V1PersistentVolume> {
    this.record('jsonPatchVolume', [name, ops]);
    return this.volumes.get(name) ?? { metadata: { name } };
  }

  async removeVolumeFinalizer(name: string, uid: string, finalizer: string): Promise<void> {
    this.record('removeVolumeFinalizer', [name, uid, finalizer]);
  }

  async deletePersistentVolume(name: string, uid: string): Promise<void> {
    this.record('deletePersistentVolume', [name, uid]);
    this.volumes.delete(name);
  }

  async getSecretData(namespace: string, name: string): Promise<Record<string, string>> {
    this.record('getSecretData', [namespace, name]);
    const data = this.secrets.get(`${namespace}/${name}`);
    if (!data) throw apiError(404, 'NotFound', `secrets "${name}" not found`);
    return { ...data };
  }

  async getVolumeAttributesClass(name: string): Promise<V1VolumeAttributesClass> {
    this.record('getVolumeAttributesClass', [name]);
    const vac = this.attributesClasses.get(name);
    if (!vac) throw apiError(404, 'NotFound', `volumeattributesclasses.storage.k8s.io "${name}" not found`);
    return structuredClone(vac);
  }

  async getVolumeSnapshot(namespace: string, name: string): Promise<VolumeSnapshot> {
    this.record('getVolumeSnapshot', [namespace, name]);
    const snapshot = this.snapshots.get(`${namespace}/${name}`);
    if (!snapshot) throw apiError(404, 'NotFound', `volumesnapshots.snapshot.storage.k8s.io "${name}" not found`);
    return structuredClone(snapshot);
  }

  async getVolumeSnapshotContent(name: string): Promise<VolumeSnapshotContent> {
    this.record('getVolumeSnapshotContent', [name]);
    const content = this.snapshotContents.get(name);
    if (!content) {
      throw apiError(404, 'NotFound', `volumesnapshotcontents.snapshot.storage.k8s.io "${name}" not found`);
    }
    return structuredClone(content);
  }

  private record(method: keyof ProvisionerKube, args: unknown[]): void {
    this.calls.push({ method, args: structuredClone(args) });
    const failure = this.failures.get(method)?.shift();
    if (failure) throw apiError(failure.status, failure.reason, failure.message ?? failure.reason);
  }
}

function apiError(code: number, reason: string, message: string): KubeApiError {
  return new KubeApiError({
    code,
    status: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code },
    context: 'fake',
  });
}
