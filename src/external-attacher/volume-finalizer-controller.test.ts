import type { V1PersistentVolume, V1VolumeAttachment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../shared/controller/work-queue.js';
import { discardLogger } from '../shared/log/logger.js';
import { MemoryCache } from '../shared/testing/memory-cache.js';
import { AttacherFixture, DELETED_AT, DRIVER, FIN, PV_NAME, inTreePv, pv, va } from './testing/attacher-fixture.js';
import { FakeAttacherKube } from './testing/fake-attacher-kube.js';
import { VolumeFinalizerController } from './volume-finalizer-controller.js';

const deleting = (finalizers?: string[]) =>
  pv((p) => {
    p.metadata!.deletionTimestamp = DELETED_AT;
    if (finalizers) p.metadata!.finalizers = finalizers;
  });

const removal = (index: number) => [
  'jsonPatchVolume',
  PV_NAME,
  [
    { op: 'test', path: `/metadata/finalizers/${index}`, value: FIN },
    { op: 'remove', path: `/metadata/finalizers/${index}` },
  ],
];

interface Scenario {
  name: string;
  volumes: V1PersistentVolume[];
  /** VolumeAttachments that still exist. */
  attachments?: V1VolumeAttachment[];
  /** deleted: a VolumeAttachment of pv1 went away; updated: the PV changed (its own event). */
  event: 'vaDeleted' | 'pvUpdated';
  setup?: (f: AttacherFixture) => void;
  retries?: number;
  api: unknown[][];
  errors?: number;
  check?: (f: AttacherFixture) => void;
}

async function run(scenario: Scenario): Promise<void> {
  const f = new AttacherFixture({ volumes: scenario.volumes, attachments: scenario.attachments });
  scenario.setup?.(f);
  if (scenario.event === 'vaDeleted') f.pvController.attachmentDeleted(va());
  else f.pvController.volumeChanged(f.volumes.get(PV_NAME)!);
  const errors = await f.process(scenario.retries ?? 0);
  expect(f.kube.log()).toEqual(scenario.api);
  expect(errors).toHaveLength(scenario.errors ?? 0);
  scenario.check?.(f);
}

// Upstream TestCSIHandler (pkg/controller/csi_handler_test.go), PV finalizer part, scenarios 51–58.
const scenarios: Scenario[] = [
  {
    name: '#51 VA deleted, PV being deleted with our finalizer → test+remove JSON patch',
    volumes: [deleting([FIN])],
    event: 'vaDeleted',
    api: [removal(0)],
    // The apiserver then deletes the PV: its last finalizer is gone.
    check: (f) => expect(f.kube.volumes.has(PV_NAME)).toBe(false),
  },
  {
    // #52 is upstream's GCE PD variant. Finalizer removal never looks at the volume source, so an in-tree PV that got
    // our finalizer (the attach refused it, #32) is released the same way.
    name: '#52 VA deleted, in-tree PV being deleted with our finalizer → finalizer removed alike',
    volumes: [
      Object.assign(inTreePv([FIN]), { metadata: { name: PV_NAME, finalizers: [FIN], deletionTimestamp: DELETED_AT } }),
    ],
    event: 'vaDeleted',
    api: [removal(0)],
  },
  {
    name: '#53 VA deleted, PV being deleted without our finalizer → nothing',
    volumes: [deleting()],
    event: 'vaDeleted',
    api: [],
  },
  {
    name: '#54 VA deleted, PV being deleted with only other finalizers → nothing',
    volumes: [deleting(['kubernetes.io/pv-protection'])],
    event: 'vaDeleted',
    api: [],
  },
  {
    name: '#55 PV updated (being deleted, our finalizer, no VA) → finalizer removed',
    volumes: [deleting([FIN])],
    event: 'pvUpdated',
    api: [removal(0)],
  },
  {
    name: '#56 other finalizers foo/bar, bar/baz → only ours removed, by its index',
    volumes: [deleting([FIN, 'foo/bar', 'bar/baz'])],
    event: 'vaDeleted',
    api: [removal(0)],
    check: (f) => expect(f.kube.volumes.get(PV_NAME)?.metadata?.finalizers).toEqual(['foo/bar', 'bar/baz']),
  },
  {
    name: 'ours in the middle of the list → removed at index 1',
    volumes: [deleting(['foo/bar', FIN, 'bar/baz'])],
    event: 'vaDeleted',
    api: [removal(1)],
    check: (f) => expect(f.kube.volumes.get(PV_NAME)?.metadata?.finalizers).toEqual(['foo/bar', 'bar/baz']),
  },
  {
    name: '#57 removal fails twice → three patch attempts',
    volumes: [deleting([FIN])],
    event: 'vaDeleted',
    setup: (f) =>
      f.kube.failNext(
        'jsonPatchVolume',
        { status: 403, reason: 'Forbidden', message: 'persistentvolumes "pv1" is forbidden: mock error' },
        2,
      ),
    retries: 2,
    api: [removal(0), removal(0), removal(0)],
    errors: 2,
    check: (f) => expect(f.kube.volumes.has(PV_NAME)).toBe(false),
  },
  {
    name: '#58a PV without our finalizer → nothing',
    volumes: [deleting()],
    event: 'pvUpdated',
    api: [],
  },
  {
    name: '#58b PV with our finalizer but no deletionTimestamp → nothing',
    volumes: [pv((p) => (p.metadata!.finalizers = [FIN]))],
    event: 'vaDeleted',
    api: [],
  },
  {
    name: '#58c a VolumeAttachment still names the PV → nothing',
    volumes: [deleting([FIN])],
    attachments: [va({ attacher: 'other.csi.driver' })],
    event: 'vaDeleted',
    api: [],
  },
  {
    name: '#58d PV of another driver (no deletionTimestamp, no finalizer of ours) → nothing',
    volumes: [pv((p) => (p.spec!.csi!.driver = 'dummy'))],
    event: 'pvUpdated',
    api: [],
  },
];

describe('VolumeFinalizerController (upstream TestCSIHandler 51–58)', () => {
  it.each(scenarios.map((s) => [s.name, s] as const))('%s', async (_name, scenario) => {
    await run(scenario);
  });
});

describe('VolumeFinalizerController: queueing', () => {
  function controller(removesFinalizers = true) {
    const queue = new WorkQueue<string>({ name: 'pv' });
    const kube = new FakeAttacherKube();
    const volumes = new MemoryCache<V1PersistentVolume>();
    const c = new VolumeFinalizerController({
      driverName: DRIVER,
      volumes,
      attachments: new MemoryCache<V1VolumeAttachment>(),
      kube,
      queue,
      removesFinalizers,
      logger: discardLogger(),
    });
    return { c, queue, kube, volumes };
  }

  it('queues a PV event only for a PV being deleted that has our finalizer', () => {
    const { c, queue } = controller();
    c.volumeChanged(pv((p) => (p.metadata!.finalizers = [FIN])));
    c.volumeChanged(deleting());
    c.volumeChanged(deleting(['foo/bar']));
    expect(queue.len()).toBe(0);
    c.volumeChanged(deleting([FIN]));
    expect(queue.len()).toBe(1);
  });

  it('queues the PV of a deleted VolumeAttachment, not an inline one', () => {
    const { c, queue } = controller();
    const inline = va();
    inline.spec.source = { inlineVolumeSpec: { csi: { driver: DRIVER, volumeHandle: 'h' } } };
    c.attachmentDeleted(inline);
    expect(queue.len()).toBe(0);
    c.attachmentDeleted(va());
    expect(queue.len()).toBe(1);
  });

  it('never removes a finalizer for the trivial handler', async () => {
    const { c, kube, volumes } = controller(false);
    volumes.set(deleting([FIN]));
    await c.sync(PV_NAME);
    expect(kube.calls).toEqual([]);
  });
});
