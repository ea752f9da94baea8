import type { V1PersistentVolume, V1VolumeAttachment } from '@kubernetes/client-node';
import { KubeApiError } from '../../shared/kube/errors.js';
import type { JsonPatchOperation } from '../../shared/kube/patch.js';
import type { AttacherKube } from '../attacher-kube.js';

export interface FakeAttacherKubeCall {
  method: keyof AttacherKube;
  args: unknown[];
}

export interface FakeFailure {
  /** HTTP status code. */
  status: number;
  /** metav1.Status reason, e.g. Forbidden. */
  reason: string;
  /** The Status message, which is what the attacher writes into attachError/detachError. */
  message?: string;
}

/**
 * An in-memory AttacherKube standing in for the apiserver: it records every call (arguments deep-copied, so the
 * patch bodies are exactly what was sent), applies merge patches to the stored VolumeAttachments (the status
 * subresource only takes `status`) and JSON patches to the stored PersistentVolumes, deletes an object whose last
 * finalizer goes while it has a deletionTimestamp, as the apiserver does, and fails calls on request.
 */
export class FakeAttacherKube implements AttacherKube {
  readonly calls: FakeAttacherKubeCall[] = [];
  /** Server-side VolumeAttachments by name (JSON form: timestamps are strings). */
  readonly attachments = new Map<string, V1VolumeAttachment>();
  /** Server-side PersistentVolumes by name (JSON form). */
  readonly volumes = new Map<string, V1PersistentVolume>();
  /** Secret data by `namespace/name`. */
  readonly secrets = new Map<string, Record<string, string>>();
  private readonly failures = new Map<keyof AttacherKube, FakeFailure[]>();
  private resourceVersion = 100;

  /** Stores objects as the server has them (no call is recorded). */
  seed(objects: { attachments?: V1VolumeAttachment[]; volumes?: V1PersistentVolume[] }): this {
    for (const va of objects.attachments ?? []) this.attachments.set(va.metadata?.name ?? '', toJson(va));
    for (const pv of objects.volumes ?? []) this.volumes.set(pv.metadata?.name ?? '', toJson(pv));
    return this;
  }

  /** The next `times` calls of method fail with a KubeApiError of this status, reason and message. */
  failNext(method: keyof AttacherKube, failure: FakeFailure, times = 1): this {
    const list = this.failures.get(method) ?? [];
    for (let i = 0; i < times; i++) list.push(failure);
    this.failures.set(method, list);
    return this;
  }

  /** Every call as `[method, ...args]`, oldest first. */
  log(): unknown[][] {
    return this.calls.map((c) => [c.method, ...c.args]);
  }

  callsTo(method: keyof AttacherKube): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  async patchAttachment(name: string, patch: object): Promise<V1VolumeAttachment> {
    this.record('patchAttachment', [name, patch]);
    return this.patchStoredAttachment(name, patch);
  }

  async patchAttachmentStatus(name: string, patch: object): Promise<V1VolumeAttachment> {
    this.record('patchAttachmentStatus', [name, patch]);
    // The status subresource ignores everything but status.
    const { status } = patch as { status?: unknown };
    return this.patchStoredAttachment(name, status === undefined ? {} : { status });
  }

  async jsonPatchVolume(name: string, ops: JsonPatchOperation[]): Promise<V1PersistentVolume> {
    this.record('jsonPatchVolume', [name, ops]);
    const pv = this.volumes.get(name);
    if (!pv) throw apiError(404, 'NotFound', `persistentvolumes "${name}" not found`);
    let patched: V1PersistentVolume;
    try {
      patched = applyJsonPatch(pv, ops) as V1PersistentVolume;
    } catch (err) {
      throw apiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${String(err)}`);
    }
    return this.store(this.volumes, name, patched);
  }

  async getSecretData(namespace: string, name: string): Promise<Record<string, string>> {
    this.record('getSecretData', [namespace, name]);
    const data = this.secrets.get(`${namespace}/${name}`);
    if (!data) throw apiError(404, 'NotFound', `secrets "${name}" not found`);
    return { ...data };
  }

  private patchStoredAttachment(name: string, patch: object): V1VolumeAttachment {
    const va = this.attachments.get(name);
    if (!va) throw apiError(404, 'NotFound', `volumeattachments.storage.k8s.io "${name}" not found`);
    return this.store(this.attachments, name, applyMergePatch(va, patch) as V1VolumeAttachment);
  }

  private store<T extends V1VolumeAttachment | V1PersistentVolume>(map: Map<string, T>, name: string, obj: T): T {
    obj.metadata = { ...obj.metadata, resourceVersion: String(++this.resourceVersion) };
    if (obj.metadata.deletionTimestamp && (obj.metadata.finalizers ?? []).length === 0) map.delete(name);
    else map.set(name, obj);
    return structuredClone(obj);
  }

  private record(method: keyof AttacherKube, args: unknown[]): void {
    this.calls.push({ method, args: structuredClone(args) });
    const failure = this.failures.get(method)?.shift();
    if (failure) throw apiError(failure.status, failure.reason, failure.message ?? failure.reason);
  }
}

export function apiError(code: number, reason: string, message: string): KubeApiError {
  return new KubeApiError({
    code,
    status: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code },
    context: 'fake',
  });
}

/** The JSON form of an object, as the apiserver and an informer hand it out (Dates become strings). */
export function toJson<T>(obj: T): T {
  return JSON.parse(JSON.stringify(obj)) as T;
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** RFC 7386: null deletes a member, objects merge member by member, anything else replaces. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return structuredClone(patch);
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

/**
 * RFC 6902 for the operations the attacher sends (test, add, replace, remove). Like the apiserver's json-patch
 * library, `test` with value null passes for a missing member.
 */
export function applyJsonPatch(doc: unknown, ops: readonly JsonPatchOperation[]): unknown {
  const result = structuredClone(doc);
  for (const op of ops) {
    const segments = op.path
      .split('/')
      .slice(1)
      .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
    const key = segments.pop();
    if (key === undefined) throw new Error(`cannot patch the whole document (${op.op})`);
    const parent = segments.reduce<unknown>(
      (node, segment) => (isObject(node) || Array.isArray(node) ? (node as JsonObject)[segment] : undefined),
      result,
    );
    applyOperation(parent, key, op);
  }
  return result;
}

function applyOperation(parent: unknown, key: string, op: JsonPatchOperation): void {
  if (Array.isArray(parent)) {
    applyArrayOperation(parent, key, op);
    return;
  }
  if (!isObject(parent)) throw new Error(`path ${op.path} does not exist`);
  const exists = Object.hasOwn(parent, key);
  switch (op.op) {
    case 'test':
      if (!deepEqual(exists ? parent[key] : null, op.value)) throw new Error(`test of ${op.path} failed`);
      return;
    case 'add':
      parent[key] = structuredClone(op.value);
      return;
    case 'replace':
      if (!exists) throw new Error(`replace: ${op.path} does not exist`);
      parent[key] = structuredClone(op.value);
      return;
    case 'remove':
      if (!exists) throw new Error(`remove: ${op.path} does not exist`);
      delete parent[key];
      return;
    default:
      throw new Error(`unsupported op ${op.op}`);
  }
}

function applyArrayOperation(parent: unknown[], key: string, op: JsonPatchOperation): void {
  const index = key === '-' ? parent.length : Number(key);
  if (!Number.isInteger(index) || index < 0 || index > parent.length) throw new Error(`bad index in ${op.path}`);
  const exists = index < parent.length;
  switch (op.op) {
    case 'test':
      if (!exists || !deepEqual(parent[index], op.value)) throw new Error(`test of ${op.path} failed`);
      return;
    case 'add':
      parent.splice(index, 0, structuredClone(op.value));
      return;
    case 'replace':
      if (!exists) throw new Error(`replace: ${op.path} does not exist`);
      parent[index] = structuredClone(op.value);
      return;
    case 'remove':
      if (!exists) throw new Error(`remove: ${op.path} does not exist`);
      parent.splice(index, 1);
      return;
    default:
      throw new Error(`unsupported op ${op.op}`);
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
