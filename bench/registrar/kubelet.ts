import { join } from 'node:path';
import { TestCluster } from '../../e2e/fixture/cluster.js';
import type { HollowKubelet } from '../../e2e/fixture/cluster.js';
import { endpointOf } from '../shared/cluster.js';
import type { KubeObject } from '../shared/kube.js';
import { Watcher } from '../shared/kube.js';
import { sleep } from '../shared/stats.js';

interface CsiNodeObject extends KubeObject {
  spec?: { drivers?: { name: string; nodeID?: string }[] | null };
}

export const NODE_NAME = 'bench-registrar-node';

/**
 * The local control plane (etcd + kube-apiserver, no KCM) with one hollow kubelet (kubemark: the real kubelet
 * with a fake runtime), whose plugin watcher registers whatever serves a socket in its plugin-registration dir,
 * and a watch on its CSINode that timestamps when the driver is listed and when it is gone.
 */
export class KubeletHost {
  readonly cluster: TestCluster;
  readonly node: HollowKubelet;
  private readonly watcher: Watcher<CsiNodeObject>;
  private readonly driverName: string;
  /** Whether the CSINode lists the driver now, and since when (performance.now()). */
  listed = false;
  changedAt = 0;

  private constructor(cluster: TestCluster, node: HollowKubelet, driverName: string) {
    this.cluster = cluster;
    this.node = node;
    this.driverName = driverName;
    this.watcher = new Watcher<CsiNodeObject>(
      cluster.admin,
      endpointOf(cluster),
      `/apis/storage.k8s.io/v1/csinodes?fieldSelector=metadata.name%3D${NODE_NAME}`,
      (type, obj, atMs) => {
        const listed = type !== 'DELETED' && (obj.spec?.drivers ?? []).some((d) => d.name === this.driverName);
        if (listed !== this.listed) {
          this.listed = listed;
          this.changedAt = atMs;
        }
      },
      'registrar-bench/watch',
    );
  }

  static async start(driverName: string): Promise<KubeletHost> {
    const cluster = await TestCluster.start({ controllerManager: false });
    try {
      const node = await cluster.startHollowKubelet(NODE_NAME);
      const host = new KubeletHost(cluster, node, driverName);
      await host.watcher.start();
      return host;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  get registrationDir(): string {
    return this.node.pluginRegistrationDir;
  }

  /** Resolves with the time the CSINode started listing the driver (at or after `since`). */
  async waitListed(since: number, check: () => void, timeoutMs: number): Promise<number> {
    return this.waitState(true, since, check, timeoutMs);
  }

  /** Resolves with the time the driver left the CSINode (at or after `since`). */
  async waitGone(since: number, timeoutMs: number): Promise<number> {
    return this.waitState(false, since, () => undefined, timeoutMs);
  }

  private async waitState(listed: boolean, since: number, check: () => void, timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    while (this.listed !== listed || this.changedAt < since) {
      if (this.watcher.error) throw this.watcher.error;
      check();
      if (performance.now() > deadline) {
        throw new Error(`CSINode ${NODE_NAME}: driver ${listed ? 'not listed' : 'still listed'} after ${timeoutMs} ms`);
      }
      await sleep(5);
    }
    return this.changedAt;
  }

  /** Stops everything; the cluster's logs (kubemark's among them) go to logDir. */
  async stop(logDir: string): Promise<void> {
    await this.watcher.stop();
    await this.cluster.stop({ keepLogsIn: join(logDir, 'cluster') });
  }
}
