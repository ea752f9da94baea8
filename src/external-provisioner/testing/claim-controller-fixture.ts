import type {
  V1CSINode,
  V1Node,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1StorageClass,
} from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { afterEach } from 'vitest';
import { ItemExponentialRateLimiter } from '../../shared/controller/rate-limiter.js';
import { WorkQueue } from '../../shared/controller/work-queue.js';
import { CsiConnection } from '../../shared/csi/connection.js';
import { Logger } from '../../shared/log/logger.js';
import { parseFlags } from '../../shared/flags/flag-set.js';
import { CsiTestDriver, TEST_DRIVER_NAME } from '../../shared/testing/csi-test-driver.js';
import type { CsiTestDriverOptions } from '../../shared/testing/csi-test-driver.js';
import { FakeClock } from '../../shared/testing/fake-clock.js';
import { MemoryCache } from '../../shared/testing/memory-cache.js';
import { RecordingRecorder } from '../../shared/testing/recording-recorder.js';
import { ClaimController } from '../claim-controller.js';
import type { ProvisionerCapabilities } from '../provision-claim.js';
import { provisionerFlags, resolveProvisionerConfig } from '../flags.js';
import { ANN_STORAGE_PROVISIONER } from '../keys.js';
import type { ReferenceGrantReader } from '../reference-grants.js';
import { FakeProtectionKube } from './fake-protection-kube.js';
import { FakeProvisionerKube } from './fake-provisioner-kube.js';

export const CLAIM_KEY = 'default/pvc1';
export const CLAIM_UID = '11111111-2222-3333-4444-555555555555';
export const PV_NAME = `pvc-${CLAIM_UID}`;

export function makeClaim(): V1PersistentVolumeClaim {
  return {
    metadata: {
      name: 'pvc1',
      namespace: 'default',
      uid: CLAIM_UID,
      resourceVersion: '7',
      annotations: { [ANN_STORAGE_PROVISIONER]: TEST_DRIVER_NAME },
    },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'sc' },
  };
}

export function makeClass(): V1StorageClass {
  return {
    metadata: { name: 'sc', uid: 'sc-uid', resourceVersion: '1' },
    provisioner: TEST_DRIVER_NAME,
    parameters: { foo: 'bar' },
    reclaimPolicy: 'Delete',
    volumeBindingMode: 'Immediate',
  };
}

export interface FixtureOptions {
  capabilities?: Partial<ProvisionerCapabilities>;
  argv?: string[];
  driver?: CsiTestDriverOptions;
  /** Pass `protection` to the controller, so data sources get their protection finalizers. */
  protection?: boolean;
  /** Pass `provisionerRecorder` (a second RecordingRecorder) to the controller. */
  provisionerRecorder?: boolean;
  /** The ReferenceGrant cache handed to the controller (cross-namespace data sources). */
  referenceGrants?: ReferenceGrantReader;
}

/** A ClaimController over in-memory caches, FakeProvisionerKube and a real CSI test driver on a unix socket. */
export class ClaimControllerFixture {
  readonly claims = new MemoryCache<V1PersistentVolumeClaim>([makeClaim()]);
  readonly classes = new MemoryCache<V1StorageClass>([makeClass()]);
  readonly volumes = new MemoryCache<V1PersistentVolume>();
  readonly nodes = new MemoryCache<V1Node>();
  readonly csiNodes = new MemoryCache<V1CSINode>();
  readonly kube = new FakeProvisionerKube();
  /** Used only with FixtureOptions.protection. */
  readonly protection = new FakeProtectionKube();
  readonly recorder = new RecordingRecorder();
  /** Used only with FixtureOptions.provisionerRecorder. */
  readonly provisionerRecorder = new RecordingRecorder();
  readonly clock = new FakeClock();
  readonly logs: string[] = [];
  readonly registry = new Registry();
  readonly queue: WorkQueue<string>;
  controller!: ClaimController;
  driver!: CsiTestDriver;
  private connection!: CsiConnection;

  constructor() {
    this.queue = new WorkQueue<string>({
      name: 'claims',
      clock: this.clock,
      rateLimiter: new ItemExponentialRateLimiter({ baseDelayMs: 1000, maxDelayMs: 300_000 }),
    });
  }

  static async start(options: FixtureOptions = {}): Promise<ClaimControllerFixture> {
    const fixture = new ClaimControllerFixture();
    await fixture.init(options);
    return fixture;
  }

  private async init(options: FixtureOptions): Promise<void> {
    const logger = new Logger({ verbosity: 5, sink: (line) => this.logs.push(line) });
    this.driver = await CsiTestDriver.start(options.driver);
    this.connection = await CsiConnection.connect({ address: this.driver.address, logger, connectTimeoutMs: 5000 });
    const config = resolveProvisionerConfig(parseFlags(provisionerFlags, options.argv ?? [], 'pflag').values);
    this.controller = new ClaimController({
      claims: this.claims,
      classes: this.classes,
      volumes: this.volumes,
      nodes: this.nodes,
      csiNodes: this.csiNodes,
      kube: this.kube,
      ...(options.protection ? { protection: this.protection } : {}),
      csi: this.connection,
      recorder: this.recorder,
      ...(options.provisionerRecorder ? { provisionerRecorder: this.provisionerRecorder } : {}),
      ...(options.referenceGrants ? { referenceGrants: options.referenceGrants } : {}),
      config,
      driverName: TEST_DRIVER_NAME,
      provisionerIdentity: '1700000000000-1234-test.csi.k8s.io',
      capabilities: {
        controllerService: true,
        createDeleteVolume: true,
        topology: false,
        singleNodeMultiWriter: false,
        ...options.capabilities,
      },
      queue: this.queue,
      clock: this.clock,
      logger,
      registry: this.registry,
    });
  }

  async stop(): Promise<void> {
    this.controller.stop();
    this.queue.shutDown();
    this.connection.close();
    await this.driver.stop();
  }

  /** Sum over all label sets of a counter. */
  async counter(name: string): Promise<number> {
    const metric = await this.registry.getSingleMetric(name)?.get();
    return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
  }
}

/** A `start` for a test file: the fixture of each test is stopped after it. */
export function useClaimControllerFixture(): (options?: FixtureOptions) => Promise<ClaimControllerFixture> {
  let current: ClaimControllerFixture | undefined;
  afterEach(async () => {
    await current?.stop();
    current = undefined;
  });
  return async (options) => (current = await ClaimControllerFixture.start(options));
}
