import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { KubeApiError } from '../../shared/kube/errors.js';
import type { JsonPatchOperation } from '../../shared/kube/patch.js';
import type { ProtectionKube, VolumeSnapshot } from '../protection-ports.js';

export interface FakeProtectionCall {
  method: keyof ProtectionKube;
  args: unknown[];
}

type Failure = { status: number; reason: string; message?: string };

/**
 * An in-memory ProtectionKube: records every call and applies JSON patches
 * (test, add, remove, replace) to the claims and snapshots it holds, keyed
 * "namespace/name", so a failed test op answers 422 as the apiserver does.
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

  async jsonPatchClaim(namespace: string, name: string, ops: JsonPatchOperation[]): Promise<V1PersistentVolumeClaim> {
    this.record('jsonPatchClaim', [namespace, name, ops]);
    return patchStored(this.claims, `${namespace}/${name}`, ops, 'persistentvolumeclaims');
  }

  async jsonPatchVolumeSnapshot(namespace: string, name: string, ops: JsonPatchOperation[]): Promise<VolumeSnapshot> {
    this.record('jsonPatchVolumeSnapshot', [namespace, name, ops]);
    return patchStored(this.snapshots, `${namespace}/${name}`, ops, 'volumesnapshots.snapshot.storage.k8s.io');
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

function patchStored<T extends object>(store: Map<string, T>, key: string, ops: JsonPatchOperation[], kind: string): T {
  const current = store.get(key);
  if (!current) throw apiError(404, 'NotFound', `${kind} "${key}" not found`);
  const patched = structuredClone(current) as Record<string, unknown>;
  for (const op of ops) applyOp(patched, op);
  store.set(key, patched as T);
  return structuredClone(patched) as T;
}

function applyOp(doc: Record<string, unknown>, op: JsonPatchOperation): void {
  const segments = op.path.split('/').slice(1);
  const last = segments.pop() ?? '';
  let parent: unknown = doc;
  for (const segment of segments) parent = child(parent, segment);
  if (typeof parent !== 'object' || parent === null) throw invalid(op.path);
  const list = Array.isArray(parent) ? (parent as unknown[]) : undefined;
  const record = parent as Record<string, unknown>;
  switch (op.op) {
    case 'test':
      if (JSON.stringify(child(parent, last)) !== JSON.stringify(op.value)) throw invalid(op.path);
      return;
    case 'add':
      if (list) list.splice(last === '-' ? list.length : Number(last), 0, op.value);
      else record[last] = op.value;
      return;
    case 'replace':
      child(parent, last);
      record[last] = op.value;
      return;
    case 'remove':
      child(parent, last);
      if (list) list.splice(Number(last), 1);
      else delete record[last];
      return;
    default:
      throw new Error(`unsupported op ${op.op}`);
  }
}

function child(parent: unknown, segment: string): unknown {
  if (typeof parent !== 'object' || parent === null || !(segment in parent)) throw invalid(segment);
  return (parent as Record<string, unknown>)[segment];
}

function invalid(path: string): KubeApiError {
  return apiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${path}`);
}

function apiError(code: number, reason: string, message: string): KubeApiError {
  return new KubeApiError({
    code,
    status: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code },
    context: 'fake',
  });
}
