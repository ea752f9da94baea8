import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { KubeApiError } from '../../shared/kube/errors.js';
import type { ClaimWritePort } from '../durable-in-flight.js';

function apiError(code: number, reason: string, message: string): KubeApiError {
  return new KubeApiError({ code, status: { kind: 'Status', code, reason, message }, context: 'fake' });
}

/**
 * An in-memory claim store for the durable in-flight tests, with the apiserver's update semantics: 404 when the
 * claim is gone, 409 when the resourceVersion (or UID) of the body is not the stored one, 422 for a new finalizer
 * on a terminating claim; bumps resourceVersion and removes a terminating claim once its last finalizer is gone.
 */
export class FakeClaimWritePort implements ClaimWritePort {
  readonly claims = new Map<string, V1PersistentVolumeClaim>();
  /** Every updateClaim body, in order (including the failed ones). */
  readonly updates: V1PersistentVolumeClaim[] = [];
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

  /** The next update fails with this API error. */
  failNextUpdate(code: number, reason: string): this {
    this.failures.push(apiError(code, reason, 'injected'));
    return this;
  }

  async updateClaim(claim: V1PersistentVolumeClaim): Promise<V1PersistentVolumeClaim> {
    this.updates.push(structuredClone(claim));
    const failure = this.failures.shift();
    if (failure) throw failure;
    const namespace = claim.metadata?.namespace ?? '';
    const name = claim.metadata?.name ?? '';
    const stored = this.claims.get(`${namespace}/${name}`);
    if (!stored) throw apiError(404, 'NotFound', `persistentvolumeclaims "${name}" not found`);
    if (
      claim.metadata?.resourceVersion !== stored.metadata?.resourceVersion ||
      (claim.metadata?.uid !== undefined && claim.metadata.uid !== stored.metadata?.uid)
    ) {
      throw apiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on persistentvolumeclaims "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    const before = new Set(stored.metadata?.finalizers ?? []);
    const added = (claim.metadata?.finalizers ?? []).some((f) => !before.has(f));
    if (stored.metadata?.deletionTimestamp && added) {
      throw apiError(
        422,
        'Invalid',
        'metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted',
      );
    }
    const doc = structuredClone(claim);
    // The deletion timestamp cannot be set or cleared by an update.
    doc.metadata = {
      ...doc.metadata,
      deletionTimestamp: stored.metadata?.deletionTimestamp,
      resourceVersion: String(Number(stored.metadata?.resourceVersion ?? '0') + 1),
    };
    if (doc.metadata.deletionTimestamp === undefined) delete doc.metadata.deletionTimestamp;
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
