import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { KubeApiError } from '../../shared/kube/errors.js';
import type { JsonPatchOperation } from '../../shared/kube/patch.js';
import type { ClaimPatchPort } from '../durable-in-flight.js';

type Json = unknown;
type Container = Record<string, Json> | Json[];

function apiError(code: number, reason: string, message: string): KubeApiError {
  return new KubeApiError({ code, status: { kind: 'Status', code, reason, message }, context: 'fake' });
}

function pointerSegments(path: string): string[] {
  return path
    .split('/')
    .slice(1)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function deepEqual(a: Json, b: Json): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function isContainer(value: Json): value is Container {
  return typeof value === 'object' && value !== null;
}

/** The parent container of path and the last segment; throws 422 when the parent does not exist. */
function locate(doc: Json, path: string): { parent: Container; key: string } {
  const segments = pointerSegments(path);
  const key = segments.pop() ?? '';
  let node: Json = doc;
  for (const s of segments) {
    if (!isContainer(node)) throw apiError(422, 'Invalid', `path ${path} does not exist`);
    node = Array.isArray(node) ? node[Number(s)] : node[s];
  }
  if (!isContainer(node)) throw apiError(422, 'Invalid', `path ${path} does not exist`);
  return { parent: node, key };
}

function getAt(doc: Json, path: string): Json {
  const { parent, key } = locate(doc, path);
  const value = Array.isArray(parent) ? parent[Number(key)] : parent[key];
  if (value === undefined) throw apiError(422, 'Invalid', `path ${path} does not exist`);
  return value;
}

function applyOp(doc: Json, op: JsonPatchOperation): void {
  if (op.op === 'test') {
    if (!deepEqual(getAt(doc, op.path), op.value)) throw apiError(422, 'Invalid', `test failed at ${op.path}`);
    return;
  }
  const { parent, key } = locate(doc, op.path);
  if (op.op === 'add' || op.op === 'replace') {
    if (Array.isArray(parent)) {
      if (key === '-') parent.push(op.value);
      else parent.splice(Number(key), op.op === 'add' ? 0 : 1, op.value);
    } else {
      parent[key] = op.value;
    }
    return;
  }
  if (op.op === 'remove') {
    getAt(doc, op.path);
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else delete parent[key];
    return;
  }
  throw new Error(`fake does not support ${op.op}`);
}

/**
 * An in-memory claim store for the durable in-flight tests: applies RFC 6902 patches atomically (test ops
 * included), refuses new finalizers on terminating claims as the apiserver does, bumps resourceVersion and
 * removes a terminating claim once its last finalizer is gone.
 */
export class FakeClaimPatchPort implements ClaimPatchPort {
  readonly claims = new Map<string, V1PersistentVolumeClaim>();
  readonly patches: { namespace: string; name: string; ops: JsonPatchOperation[] }[] = [];
  readonly reads: string[] = [];
  private readonly failures: KubeApiError[] = [];

  put(claim: V1PersistentVolumeClaim): V1PersistentVolumeClaim {
    const stored = structuredClone(claim);
    this.claims.set(`${stored.metadata?.namespace ?? ''}/${stored.metadata?.name ?? ''}`, stored);
    return structuredClone(stored);
  }

  get(namespace: string, name: string): V1PersistentVolumeClaim | undefined {
    const found = this.claims.get(`${namespace}/${name}`);
    return found && structuredClone(found);
  }

  /** The next patch fails with this API error. */
  failNextPatch(code: number, reason: string): this {
    this.failures.push(apiError(code, reason, 'injected'));
    return this;
  }

  async jsonPatchClaim(namespace: string, name: string, ops: JsonPatchOperation[]): Promise<V1PersistentVolumeClaim> {
    this.patches.push({ namespace, name, ops: structuredClone(ops) });
    const failure = this.failures.shift();
    if (failure) throw failure;
    const stored = this.claims.get(`${namespace}/${name}`);
    if (!stored) throw apiError(404, 'NotFound', `persistentvolumeclaims "${name}" not found`);
    const doc = JSON.parse(JSON.stringify(stored)) as V1PersistentVolumeClaim;
    for (const op of ops) applyOp(doc, op);
    const before = new Set(stored.metadata?.finalizers ?? []);
    const added = (doc.metadata?.finalizers ?? []).some((f) => !before.has(f));
    if (stored.metadata?.deletionTimestamp && added) {
      throw apiError(
        422,
        'Invalid',
        'metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted',
      );
    }
    doc.metadata = { ...doc.metadata, resourceVersion: String(Number(stored.metadata?.resourceVersion ?? '0') + 1) };
    if (doc.metadata.deletionTimestamp && (doc.metadata.finalizers ?? []).length === 0) {
      this.claims.delete(`${namespace}/${name}`);
    } else {
      this.claims.set(`${namespace}/${name}`, doc);
    }
    return structuredClone(doc);
  }

  async readClaim(namespace: string, name: string): Promise<V1PersistentVolumeClaim> {
    this.reads.push(`${namespace}/${name}`);
    const found = this.get(namespace, name);
    if (!found) throw apiError(404, 'NotFound', `persistentvolumeclaims "${name}" not found`);
    return found;
  }
}
