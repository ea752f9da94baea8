import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { errorText } from '../shared/log/logger.js';
import type { Logger } from '../shared/log/logger.js';
import type { ClaimReporter } from './claim-events.js';
import { claimKey } from './in-flight.js';
import { ANN_SELECTED_NODE } from './keys.js';
import type { ProvisionerKube } from './kube-ports.js';

export interface ClaimReschedulerOptions {
  kube: Pick<ProvisionerKube, 'updateClaim'>;
  reporter: ClaimReporter;
  logger: Logger;
}

/**
 * The hand-back of a WaitForFirstConsumer claim to the scheduler (upstream's lib: `rescheduleProvisioning`). As the
 * lib v13 that csi-provisioner v6.3 vendors, the selected node is not looked up before provisioning: only topology
 * reads it, and a node gone with its CSINode comes back here as a Reschedule.
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
