import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { KubeApiError } from '../../shared/kube/errors.js';
import type { ProtectionKube, VolumeSnapshot } from '../protection-ports.js';

export interface FakeProtectionCall {
  method: keyof ProtectionKube;
  args: unknown[];
}

type Failure = { status: number; reason: string; message?: string };

interface Stored {
  metadata?: { namespace?: string; name?: string; uid?: string; resourceVersion?: string };
}

/**
 * An in-memory ProtectionKube: records every call and replaces the claims and
 * snapshots it holds, keyed "namespace/name", as the apiserver does for a PUT:
 * 404 when missing, 409 Conflict when the sent resourceVersion (or uid) is not
 * the stored one, else the object is stored with the next resourceVersion.
 */
export class FakeProtectionKube implements ProtectionKube {
  readonly calls: FakeProtectionCall[] = [];
  readonly claims = new Map<string, V1PersistentVolumeClaim>();
  readonly snapshots = new Map<string, VolumeSnapshot>();
  private readonly failures = new Map<keyof ProtectionKube, Failure[]>();

  /** The next `times` calls of method fail with an API error of this status and reason. */
  failNext(method: keyof ProtectionKube, failure: Failure, times = 1): this {
    const list = this.failures.get(method) ?? [];
    for (let i = 0; i < times; i++) list.push(failure);
    this.failures.set(method, list);
    return this;
  }

  callsTo(method: keyof ProtectionKube): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  async updateClaim(claim: V1PersistentVolumeClaim): Promise<V1PersistentVolumeClaim> {
    this.record('updateClaim', [claim]);
    return replaceStored(this.claims, claim, 'persistentvolumeclaims');
  }

  async updateVolumeSnapshot(snapshot: VolumeSnapshot): Promise<VolumeSnapshot> {
    this.record('updateVolumeSnapshot', [snapshot]);
    return replaceStored(this.snapshots, snapshot, 'volumesnapshots.snapshot.storage.k8s.io');
  }

  async probeVolumeSnapshotList(): Promise<void> {
    this.record('probeVolumeSnapshotList', []);
  }

  private record(method: keyof ProtectionKube, args: unknown[]): void {
    this.calls.push({ method, args: structuredClone(args) });
    const failure = this.failures.get(method)?.shift();
    if (failure) throw apiError(failure.status, failure.reason, failure.message ?? failure.reason);
  }
}

function replaceStored<T extends Stored>(store: Map<string, T>, obj: T, kind: string): T {
  const key = `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
  const current = store.get(key);
  if (!current) throw apiError(404, 'NotFound', `${kind} "${key}" not found`);
  const sentVersion = obj.metadata?.resourceVersion ?? '';
  const storedVersion = current.metadata?.resourceVersion ?? '';
  const sentUid = obj.metadata?.uid ?? '';
  if ((sentVersion !== '' && sentVersion !== storedVersion) || (sentUid !== '' && sentUid !== current.metadata?.uid)) {
    throw apiError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${kind} "${key}": the object has been modified; please apply your changes to the latest version and try again`,
    );
  }
  const stored = structuredClone(obj);
  stored.metadata = { ...stored.metadata, resourceVersion: String((Number(storedVersion) || 0) + 1) };
  store.set(key, stored);
  return structuredClone(stored);
}

function apiError(code: number, reason: string, message: string): KubeApiError {
  return new KubeApiError({
    code,
    status: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code },
    context: 'fake',
  });
}
