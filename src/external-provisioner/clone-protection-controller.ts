import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { WorkQueue } from '../shared/controller/work-queue.js';
import type { CacheReader } from '../shared/kube/cache.js';
import { objectKey, splitKey } from '../shared/kube/cache.js';
import { isNotFound } from '../shared/kube/errors.js';
import type { Logger } from '../shared/log/logger.js';
import { errorMessage } from '../shared/log/logger.js';
import { FINALIZER_CLONE_PROTECTION } from './keys.js';
import { hasFinalizer, withoutFinalizer } from './protection-finalizers.js';
import type { ProtectionKube } from './protection-ports.js';

export interface CloneProtectionControllerOptions {
  claims: CacheReader<V1PersistentVolumeClaim>;
  kube: ProtectionKube;
  /** Upstream's second queue named `claims`; its rate limiter gives the retry backoff. */
  queue: WorkQueue<string>;
  logger: Logger;
}

/**
 * Upstream's CloningProtectionController. The provisioning path puts
 * FINALIZER_CLONE_PROTECTION on a source claim before a clone CreateVolume;
 * this controller takes it off again once the source is being deleted and no
 * claim in its namespace still clones it. A claim that clones it counts while
 * it is Pending, whatever its driver, as upstream assumes a clone stays
 * Pending until provisioned. A live source keeps the finalizer (harmless).
 */
export class CloneProtectionController {
  private readonly options: CloneProtectionControllerOptions;
  private readonly logger: Logger;

  readonly queue: WorkQueue<string>;

  constructor(options: CloneProtectionControllerOptions) {
    this.options = options;
    this.queue = options.queue;
    this.logger = options.logger.withName('clone-protection');
  }

  /**
   * Informer handler for claim adds, updates and resyncs (upstream: 15 min).
   * Only claims being deleted are queued: the finalizer only matters then.
   */
  enqueueClaim(claim: V1PersistentVolumeClaim): void {
    if (!claim.metadata?.deletionTimestamp || !claim.metadata.name) return;
    this.options.queue.add(objectKey(claim));
  }

  /** Removes the finalizer when no clone of the claim is pending; throws (retry with backoff) while one is. */
  async sync(key: string): Promise<void> {
    const claim = this.options.claims.get(key);
    if (!claim) {
      this.logger.v(4).info('Claim no longer exists', { claim: key });
      return;
    }
    if (!hasFinalizer(claim, FINALIZER_CLONE_PROTECTION)) return;
    const pending = this.pendingClone(claim);
    if (pending) throw new Error(`PVC '${pending}' is in 'Pending' state, cloning in progress`);
    await this.removeFinalizer(claim);
  }

  /** Name of a Pending claim in the same namespace whose dataSource is this claim. */
  private pendingClone(source: V1PersistentVolumeClaim): string | undefined {
    const { namespace, name } = splitKey(objectKey(source));
    for (const claim of this.options.claims.list()) {
      // Upstream only follows spec.dataSource: a cross-namespace dataSourceRef clone does not block.
      if ((claim.metadata?.namespace ?? '') !== namespace) continue;
      const dataSource = claim.spec?.dataSource;
      if (dataSource?.kind !== 'PersistentVolumeClaim' || dataSource.name !== name) continue;
      if (claim.status?.phase === 'Pending') return claim.metadata?.name ?? '';
    }
    return undefined;
  }

  private async removeFinalizer(claim: V1PersistentVolumeClaim): Promise<void> {
    // A copy of the cached claim: its resourceVersion makes the update fail
    // with a Conflict (retried with backoff) if the claim changed since.
    const updated = withoutFinalizer(claim, FINALIZER_CLONE_PROTECTION);
    if (!updated) return;
    const { namespace, name } = splitKey(objectKey(claim));
    try {
      await this.options.kube.updateClaim(updated);
    } catch (err) {
      if (isNotFound(err)) return;
      throw new Error(`failed to remove clone finalizer from PVC ${namespace}/${name}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    this.logger.v(2).info('Removed clone protection finalizer', { claim: `${namespace}/${name}` });
  }
}
