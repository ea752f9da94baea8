import type { V1Node, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { CacheReader } from '../shared/kube/cache.js';
import { isNotFound } from '../shared/kube/errors.js';
import { errorText } from '../shared/log/logger.js';
import type { Logger } from '../shared/log/logger.js';
import type { ClaimReporter } from './claim-events.js';
import { claimKey } from './in-flight.js';
import { ANN_SELECTED_NODE } from './keys.js';
import type { ProvisionerKube } from './kube-ports.js';
import { selectedNodeName } from './should-provision.js';

export interface ClaimReschedulerOptions {
  kube: Pick<ProvisionerKube, 'getNode' | 'updateClaim'>;
  /** The Node informer; it runs only with topology, otherwise the selected node is read with a GET. */
  nodes: CacheReader<V1Node>;
  topology: boolean;
  reporter: ClaimReporter;
  logger: Logger;
}

/**
 * The hand-back of a WaitForFirstConsumer claim to the scheduler (upstream's lib: the selected-node check before
 * provisioning and `rescheduleProvisioning`).
 */
export class ClaimRescheduler {
  private readonly options: ClaimReschedulerOptions;
  /**
   * Claims just sent back, by UID, with the resourceVersion of the cached copy that still names the old node: that
   * copy is skipped until the watch brings the update (upstream writes the update into its informer cache).
   */
  private readonly rescheduled = new Map<string, string>();

  constructor(options: ClaimReschedulerOptions) {
    this.options = options;
  }

  get size(): number {
    return this.rescheduled.size;
  }

  /** True for the stale cached copy of a claim this controller has just rescheduled. */
  isStale(claim: V1PersistentVolumeClaim): boolean {
    const uid = claim.metadata?.uid ?? '';
    const staleVersion = this.rescheduled.get(uid);
    if (staleVersion === undefined) return false;
    if (staleVersion === claim.metadata?.resourceVersion) return true;
    this.rescheduled.delete(uid);
    return false;
  }

  forget(uid: string): void {
    this.rescheduled.delete(uid);
  }

  /**
   * Upstream's library reads the selected node before provisioning; a node that is gone sends the claim back to
   * the scheduler. Throws (retry) when the node cannot be read or the claim cannot be rescheduled.
   */
  async selectedNodeExists(claim: V1PersistentVolumeClaim): Promise<boolean> {
    const name = selectedNodeName(claim);
    if (name === '') return true;
    if (this.options.topology) {
      if (this.options.nodes.get(name)) return true;
      await this.rescheduleOrFail(claim, `node "${name}" not found`);
      return false;
    }
    try {
      await this.options.kube.getNode(name);
      return true;
    } catch (err) {
      if (!isNotFound(err)) this.options.reporter.fail(claim, `failed to get target node: ${errorText(err)}`);
    }
    await this.rescheduleOrFail(claim, `nodes "${name}" not found`);
    return false;
  }

  /** Upstream reschedules only a claim with the GA selected-node annotation; otherwise the failure is retried. */
  async rescheduleOrFail(claim: V1PersistentVolumeClaim, message: string, eventMessage = message): Promise<void> {
    const { reporter } = this.options;
    if (!claim.metadata?.annotations?.[ANN_SELECTED_NODE]) return reporter.fail(claim, message, eventMessage);
    reporter.report(claim, eventMessage);
    await this.reschedule(claim);
  }

  /** Drops the selected node so the scheduler picks another one; the claim comes back with a new annotation. */
  private async reschedule(claim: V1PersistentVolumeClaim): Promise<void> {
    // The cached object is shared with the informer: change a copy.
    const updated = structuredClone(claim);
    if (updated.metadata?.annotations) delete updated.metadata.annotations[ANN_SELECTED_NODE];
    try {
      await this.options.kube.updateClaim(updated);
    } catch (err) {
      throw new Error(`failed to remove the selected-node annotation to reschedule claim: ${errorText(err)}`, {
        cause: err,
      });
    }
    this.rescheduled.set(claim.metadata?.uid ?? '', claim.metadata?.resourceVersion ?? '');
    this.options.logger.v(2).info('Rescheduling claim', { pvc: claimKey(claim) });
  }
}
