import type { V1ObjectReference, V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { EventRecorder } from '../shared/events/event-recorder.js';
import { objectReference } from '../shared/events/event-recorder.js';
import type { Logger } from '../shared/log/logger.js';
import type { ClaimMetricLabels, ClaimMetrics } from './claim-metrics.js';
import { dataSourceLabel } from './data-source.js';
import { EventReason } from './keys.js';

export function claimReference(claim: V1PersistentVolumeClaim): V1ObjectReference {
  return objectReference(claim, 'v1', 'PersistentVolumeClaim') ?? { name: claim.metadata?.name };
}

/** Upstream's library labels with `spec.storageClassName` as written (not the beta annotation, not the default). */
export function metricLabels(claim: V1PersistentVolumeClaim): ClaimMetricLabels {
  return { class: claim.spec?.storageClassName ?? '', source: dataSourceLabel(claim) };
}

/** The events, logs and metrics of a provisioning attempt's outcome. */
export class ClaimReporter {
  private readonly recorder: EventRecorder;
  private readonly metrics: ClaimMetrics | undefined;
  private readonly logger: Logger;

  constructor(recorder: EventRecorder, metrics: ClaimMetrics | undefined, logger: Logger) {
    this.recorder = recorder;
    this.metrics = metrics;
    this.logger = logger;
  }

  /**
   * The PV is saved. As upstream's library, the event goes to the claim as cached, and only while the cache holds
   * the claim the PV was made for (a claim deleted meanwhile gets none).
   */
  succeeded(pv: V1PersistentVolume, cachedClaim: V1PersistentVolumeClaim | undefined): void {
    const claimRef = pv.spec?.claimRef;
    if (cachedClaim && claimRef?.uid && cachedClaim.metadata?.uid === claimRef.uid) {
      this.recorder.event(
        claimReference(cachedClaim),
        'Normal',
        EventReason.ProvisioningSucceeded,
        `Successfully provisioned volume ${pv.metadata?.name ?? ''}`,
      );
    }
    this.logger.v(2).info('Provisioned volume', {
      pv: pv.metadata?.name,
      pvc: claimRef && `${claimRef.namespace ?? ''}/${claimRef.name ?? ''}`,
    });
  }

  report(claim: V1PersistentVolumeClaim, eventMessage: string): void {
    this.recorder.event(claimReference(claim), 'Warning', EventReason.ProvisioningFailed, eventMessage);
    this.metrics?.failedAttempt(metricLabels(claim));
  }

  /** Reports a failed attempt and throws, so the queue retries the claim with backoff. */
  fail(claim: V1PersistentVolumeClaim, message: string, eventMessage = message): never {
    this.report(claim, eventMessage);
    throw new Error(message);
  }
}
