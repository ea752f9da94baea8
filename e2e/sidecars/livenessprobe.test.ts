import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleSidecar } from '../../src/shared/testing/sidecar-bundle.js';
import { SidecarProcess, freePort } from '../../src/shared/testing/sidecar-process.js';
import { useTestCluster } from '../fixture/cluster-suite.js';

const cluster = useTestCluster('livenessprobe', { controllerManager: false, mockDriver: true });
let probe: SidecarProcess;
let port: number;

beforeAll(async () => {
  port = await freePort();
  probe = new SidecarProcess(await bundleSidecar('livenessprobe'), [
    `--csi-address=unix://${cluster().driverSocket}`,
    `--http-endpoint=127.0.0.1:${port}`,
    '--probe-timeout=2s',
  ]);
  await probe.waitForLog(/ServeMux listening/, 30_000);
});
afterAll(async () => {
  await probe?.stop();
});

async function healthz(): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { status: res.status, body: await res.text() };
}

describe('livenessprobe against a real CSI driver', () => {
  it('learns the driver name and answers 200 while the driver is healthy', async () => {
    expect(probe.log).toMatch(/"CSI driver name" driver="io.kubernetes.storage.mock"/);
    await expect.poll(() => healthz().catch(() => undefined), { timeout: 10_000 }).toEqual({ status: 200, body: 'ok' });
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(
      /csi_sidecar_operations_seconds_count\{driver_name="io.kubernetes.storage.mock",method_name="\/csi.v1.Identity\/Probe",grpc_status_code="OK"\} [1-9]/,
    );
  });

  it('answers 500 with DeadlineExceeded while the driver hangs, and 200 once it resumes', async () => {
    cluster().driver?.pause();
    try {
      const hung = await healthz();
      expect(hung.status).toBe(500);
      expect(hung.body).toMatch(/DeadlineExceeded|failed to connect/);
    } finally {
      cluster().driver?.resume();
    }
    await expect.poll(() => healthz(), { timeout: 10_000 }).toEqual({ status: 200, body: 'ok' });
  });

  it('answers 500 while the driver is down and recovers when it restarts, without restarting itself', async () => {
    await cluster().driver?.kill();
    expect((await healthz()).status).toBe(500);
    await cluster().startDriver();
    await expect.poll(() => healthz(), { timeout: 15_000 }).toEqual({ status: 200, body: 'ok' });
    expect(probe.running).toBe(true);
  });
});
