import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CsiTestDriver } from '../shared/testing/csi-test-driver.js';
import { bundleSidecar } from '../shared/testing/sidecar-bundle.js';
import { SidecarProcess, freePort } from '../shared/testing/sidecar-process.js';

let bundle: string;
beforeAll(async () => {
  bundle = await bundleSidecar('livenessprobe');
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function startDriver(): Promise<CsiTestDriver> {
  const driver = await CsiTestDriver.start();
  cleanups.push(() => driver.stop());
  return driver;
}

function startProbe(args: string[]): SidecarProcess {
  const proc = new SidecarProcess(bundle, args);
  cleanups.push(() => proc.stop());
  return proc;
}

/** The listening log line comes before listen() completes, as upstream's does: poll the port. */
async function listening(proc: SidecarProcess, port: number): Promise<void> {
  await proc.waitForLog(/ServeMux listening/);
  await expect
    .poll(() =>
      fetch(`http://127.0.0.1:${port}/`).then(
        () => true,
        () => false,
      ),
    )
    .toBe(true);
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

describe('livenessprobe process', () => {
  it('serves /healthz and metrics on --http-endpoint once the driver answered', async () => {
    const driver = await startDriver();
    const port = await freePort();
    const proc = startProbe([`--csi-address=${driver.socketPath}`, `--http-endpoint=127.0.0.1:${port}`]);
    await listening(proc, port);
    expect(proc.log).toMatch(/"CSI driver name" driver="test.csi.k8s.io"/);
    await expect.poll(() => get(port, '/healthz').catch(() => undefined)).toEqual({ status: 200, body: 'ok' });
    const metrics = await get(port, '/metrics');
    expect(metrics.body).toContain(
      'csi_sidecar_operations_seconds_count{driver_name="unknown-driver",method_name="/csi.v1.Identity/GetPluginInfo",grpc_status_code="OK"} 1',
    );
    expect(metrics.body).toContain(
      'csi_sidecar_operations_seconds_count{driver_name="test.csi.k8s.io",method_name="/csi.v1.Identity/Probe",grpc_status_code="OK"} 1',
    );
    expect(metrics.body).toContain('process_start_time_seconds');
  });

  it('serves only /healthz on --health-port, on IPv4 and IPv6', async () => {
    const driver = await startDriver();
    const port = await freePort();
    const proc = startProbe([`-csi-address`, driver.address, `-health-port`, String(port)]);
    await listening(proc, port);
    await expect.poll(() => get(port, '/healthz').catch(() => undefined)).toEqual({ status: 200, body: 'ok' });
    expect((await fetch(`http://[::1]:${port}/healthz`)).status).toBe(200);
    expect((await get(port, '/metrics')).status).toBe(404);
  });

  it('waits for a driver that starts late instead of exiting, and listens only after it answered', async () => {
    const driver = new CsiTestDriver();
    cleanups.push(() => driver.stop());
    const port = await freePort();
    const proc = startProbe([`--csi-address=${driver.socketPath}`, `--http-endpoint=127.0.0.1:${port}`]);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(proc.running).toBe(true);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    await driver.start();
    await listening(proc, port);
    await expect.poll(() => get(port, '/healthz').catch(() => undefined)).toEqual({ status: 200, body: 'ok' });
  });

  it('reports a stopped driver with 500 and recovers when it comes back', async () => {
    const driver = await startDriver();
    const port = await freePort();
    const proc = startProbe([
      `--csi-address=${driver.socketPath}`,
      `--http-endpoint=127.0.0.1:${port}`,
      '--probe-timeout=1s',
    ]);
    await listening(proc, port);
    await driver.restart();
    driver.enqueue('Probe', { ready: false });
    expect(await get(port, '/healthz')).toEqual({ status: 500, body: 'driver responded but is not ready' });
    await driver.stop();
    const down = await get(port, '/healthz');
    expect(down.status).toBe(500);
    expect(proc.log).toMatch(/Failed to establish connection to CSI driver/);
    await driver.start();
    await expect.poll(() => get(port, '/healthz')).toEqual({ status: 200, body: 'ok' });
    expect(proc.running).toBe(true);
  });

  it('exits 2 with usage on an unknown flag and 1 on conflicting listeners', async () => {
    const bad = startProbe(['--no-such-flag']);
    expect(await bad.waitForExit()).toBe(2);
    expect(bad.log).toContain('flag provided but not defined: -no-such-flag');
    expect(bad.log).toContain('Usage of livenessprobe:');
    const conflict = startProbe(['--health-port=1', '--http-endpoint=:2']);
    expect(await conflict.waitForExit()).toBe(1);
    expect(conflict.log).toContain('Only one of `--health-port` and `--http-endpoint` can be explicitly set');
  });

  it('exits 1 when the driver reports an empty name', async () => {
    const driver = await startDriver();
    driver.enqueue('GetPluginInfo', { name: '' });
    const proc = startProbe([`--csi-address=${driver.socketPath}`, '--health-port=0']);
    expect(await proc.waitForExit()).toBe(1);
    expect(proc.log).toMatch(/Failed to get CSI driver name.*driver name is empty/);
  });

  it('shuts down with exit code 0 on SIGTERM', async () => {
    const driver = await startDriver();
    const port = await freePort();
    const proc = startProbe([`--csi-address=${driver.socketPath}`, `--http-endpoint=127.0.0.1:${port}`]);
    await listening(proc, port);
    proc.child.kill('SIGTERM');
    expect(await proc.waitForExit()).toBe(0);
  });

  it('does not grow RSS or keep sockets open over 1,000 probes', async () => {
    const driver = await startDriver();
    const port = await freePort();
    const proc = startProbe([`--csi-address=${driver.socketPath}`, `--http-endpoint=127.0.0.1:${port}`]);
    await listening(proc, port);
    // Four probes at a time, so overlapping checks are covered too.
    const probeMany = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i += 4) {
        const batch = await Promise.all([0, 1, 2, 3].map(() => get(port, '/healthz')));
        const bad = batch.find((r) => r.status !== 200);
        if (bad) throw new Error(`probe ${i}: ${bad.status} ${bad.body}`);
      }
    };
    // Warm-up: RSS settles (JIT code, allocator pools) within the first ~750 probes.
    await probeMany(1_000);
    const fdsBefore = proc.openFds();
    const rssBefore = proc.rssKiB();
    await probeMany(1_000);
    await new Promise((r) => setTimeout(r, 200));
    const fdsAfter = proc.openFds();
    const rssAfter = proc.rssKiB();
    console.log(
      `livenessprobe over 1,000 probes: fds ${fdsBefore} -> ${fdsAfter}, RSS ${rssBefore} -> ${rssAfter} KiB`,
    );
    expect(fdsAfter).toBeLessThanOrEqual(fdsBefore + 2);
    expect(rssAfter - rssBefore).toBeLessThan(12 * 1024);
    expect(driver.callsTo('Probe').length).toBe(2_000);
  });
});
