import { describe, expect, it } from 'vitest';
import {
  PV_QUEUE_NAME,
  VA_NODE_ID_ANNOTATION,
  VA_QUEUE_NAME,
  attacherFinalizer,
  attacherLeaseName,
  sanitizeDriverName,
} from './keys.js';

// Upstream TestSanitizeDriverName and TestGetFinalizerName (pkg/controller/util_test.go), and more examples.
describe('sanitizeDriverName', () => {
  it.each([
    ['no-Change', 'no-Change'],
    ['not!allowed/characters', 'not-allowed-characters'],
    ['trailing\\', 'trailing-X'],
    ['csi/test', 'csi-test'],
    ['pd.csi.storage.gke.io', 'pd-csi-storage-gke-io'],
    ['s!a@n#i$t(i%z^e&d*', 's-a-n-i-t-i-z-e-d-X'],
    ['ends-with-dash-', 'ends-with-dash-X'],
  ])('%s → %s', (input, output) => {
    expect(sanitizeDriverName(input)).toBe(output);
  });
});

describe('attacherFinalizer', () => {
  it.each([
    ['no-Change', 'external-attacher/no-Change'],
    ['csi/test', 'external-attacher/csi-test'],
    ['pd.csi.storage.gke.io', 'external-attacher/pd-csi-storage-gke-io'],
    ['s!a@n#i$t(i%z^e&d*', 'external-attacher/s-a-n-i-t-i-z-e-d-X'],
  ])('%s → %s', (driver, finalizer) => {
    expect(attacherFinalizer(driver)).toBe(finalizer);
  });
});

describe('names', () => {
  it('keeps upstream names for the lease (sanitised later), the queues and the node-ID annotation', () => {
    expect(attacherLeaseName('csi.vsphere.vmware.com')).toBe('external-attacher-leader-csi.vsphere.vmware.com');
    expect(VA_QUEUE_NAME).toBe('csi-attacher-va');
    expect(PV_QUEUE_NAME).toBe('csi-attacher-pv');
    expect(VA_NODE_ID_ANNOTATION).toBe('csi.alpha.kubernetes.io/node-id');
  });
});
