import type { V1VolumeAttachment } from '@kubernetes/client-node';
import type { Clock } from '../shared/clock/clock.js';
import { sleep } from '../shared/clock/clock.js';
import type { CsiCaller } from '../shared/csi/connection.js';
import type { CacheReader } from '../shared/kube/cache.js';
import { errorText } from '../shared/log/logger.js';
import type { Logger } from '../shared/log/logger.js';
import type { CsiAttachHandler } from './csi-attach-handler.js';
import { csiSourceOf } from './publish-request.js';

export interface AttachmentReconcilerOptions {
  driverName: string;
  attachments: CacheReader<V1VolumeAttachment>;
  handler: CsiAttachHandler;
  /** Queues a VolumeAttachment for its next sync (the controller picks the attach or detach queue). */
  enqueue(name: string): void;
  csi: CsiCaller;
  /** `--max-entries`: the page size asked of ListVolumes; 0 lets the driver choose. */
  maxEntries: number;
  /** `--timeout`: the budget of one whole reconcile, every ListVolumes page included. */
  timeoutMs: number;
  /** `--reconcile-sync`. */
  periodMs: number;
  clock: Clock;
  logger: Logger;
}

/**
 * For drivers with LIST_VOLUMES_PUBLISHED_NODES: compares each VolumeAttachment with where the driver says the
 * volume is published. One that is out of step (attached but not published, or detached but still published) is
 * queued with a forced sync, so the next attach or detach calls the driver again whatever its status says.
 */
export class AttachmentReconciler {
  private readonly options: AttachmentReconcilerOptions;
  private readonly logger: Logger;

  constructor(options: AttachmentReconcilerOptions) {
    this.options = options;
    this.logger = options.logger.withName('reconciler');
  }

  /** Reconciles every --reconcile-sync until the signal aborts; a failed round is logged and the next one runs. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.reconcile();
      } catch (err) {
        this.logger.error(err, 'Failed to reconcile VolumeAttachment');
      }
      await sleep(this.options.clock, this.options.periodMs, signal).catch(() => undefined);
    }
  }

  async reconcile(): Promise<void> {
    this.logger.v(4).info('Reconciling VolumeAttachments with driver backend state');
    const deadline = this.options.clock.monotonic() + this.options.timeoutMs;
    const published = await this.listPublished(deadline);
    for (const va of this.options.attachments.list()) {
      if (va.spec.attacher !== this.options.driverName) continue;
      const name = va.metadata?.name ?? '';
      let volumeHandle: string;
      let nodeId: string;
      try {
        nodeId = this.options.handler.nodeIdForDetach(va);
        volumeHandle = csiSourceOf(this.options.handler.volumeSpec(va)).volumeHandle;
      } catch (err) {
        this.logger.error(err, 'Cannot reconcile VolumeAttachment', { volumeAttachment: name });
        continue;
      }
      const attached = va.status?.attached ?? false;
      const found = published.get(volumeHandle)?.includes(nodeId) ?? false;
      if (attached === found) continue;
      this.logger.error(
        undefined,
        'VolumeAttachment attached status and actual state do not match. Adding back to VolumeAttachment queue for forced reprocessing',
        { volumeAttachment: name, volumeHandle, attachedStatus: attached, found },
      );
      this.options.handler.forceNextSync(name);
      this.options.enqueue(name);
    }
  }

  /** volume_id → published node IDs, page by page; entries without a volume or a status are skipped, as upstream. */
  private async listPublished(deadline: number): Promise<Map<string, string[]>> {
    const published = new Map<string, string[]>();
    let startingToken = '';
    do {
      const timeoutMs = deadline - this.options.clock.monotonic();
      if (timeoutMs <= 0) throw new Error('failed to ListVolumes: context deadline exceeded');
      let response;
      try {
        response = await this.options.csi.call(
          'ListVolumes',
          { maxEntries: this.options.maxEntries, startingToken },
          { timeoutMs },
        );
      } catch (err) {
        throw new Error(`failed to ListVolumes: ${errorText(err)}`, { cause: err });
      }
      for (const entry of response.entries) {
        if (!entry.volume || !entry.status) continue;
        published.set(entry.volume.volumeId, [...entry.status.publishedNodeIds]);
      }
      startingToken = response.nextToken;
    } while (startingToken !== '');
    return published;
  }
}
