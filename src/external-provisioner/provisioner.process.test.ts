import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundleSidecar } from '../shared/testing/sidecar-bundle.js';
import { SidecarProcess } from '../shared/testing/sidecar-process.js';

let bundle: string;
beforeAll(async () => {
  bundle = await bundleSidecar('csi-provisioner');
});

let proc: SidecarProcess | undefined;
afterEach(async () => {
  await proc?.stop();
  proc = undefined;
});

describe('csi-provisioner process start-up', () => {
  it('fails on an unusable kubeconfig before it waits for the driver socket, as upstream', async () => {
    proc = new SidecarProcess(bundle, [
      '--kubeconfig=/nonexistent/kubeconfig',
      '--csi-address=/nonexistent/csi.sock',
      '--leader-election=false',
    ]);
    // Connecting to a missing socket would take 30 s; the kubeconfig error comes first.
    expect(await proc.waitForExit(10_000)).toBe(1);
    expect(proc.log).toContain('/nonexistent/kubeconfig');
    expect(proc.log).not.toContain('Still connecting');
  });
});
