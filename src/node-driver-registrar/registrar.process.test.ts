import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CsiTestDriver, TEST_DRIVER_NAME } from '../shared/testing/csi-test-driver.js';
import { bundleSidecar } from '../shared/testing/sidecar-bundle.js';
import { SidecarProcess, freePort } from '../shared/testing/sidecar-process.js';
import { KubeletRegistrationClient } from './testing/registration-client.js';

const HOST_ENDPOINT = '/var/lib/kubelet/plugins/csi-test/csi.sock';

let bundle: string;
beforeAll(async () => {
  bundle = await bundleSidecar('csi-node-driver-registrar');
});

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startDriver(): Promise<CsiTestDriver> {
  const driver = await CsiTestDriver.start();
  cleanups.push(() => driver.stop());
  return driver;
}

function registrationDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'plugins-registry-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function startRegistrar(args: string[]): SidecarProcess {
  const proc = new SidecarProcess(bundle, args);
  cleanups.push(() => proc.stop());
  return proc;
}

function client(socketPath: string): KubeletRegistrationClient {
  const c = new KubeletRegistrationClient(socketPath);
  cleanups.push(() => c.close());
  return c;
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

/** A registrar serving the test driver's registration socket in a fresh directory, with /healthz on a port. */
async function registered(extraArgs: string[] = []) {
  const driver = await startDriver();
  const dir = registrationDir();
  const port = await freePort();
  const proc = startRegistrar([
    `--csi-address=${driver.socketPath}`,
    `--kubelet-registration-path=${HOST_ENDPOINT}`,
    `--plugin-registration-path=${dir}`,
    `--http-endpoint=127.0.0.1:${port}`,
    ...extraArgs,
  ]);
  const socketPath = join(dir, `${TEST_DRIVER_NAME}-reg.sock`);
  await proc.waitForLog(/"Registration Server started"/);
  await expect.poll(() => get(port, '/healthz').catch(() => undefined)).toEqual({ status: 200, body: 'ok' });
  return { driver, dir, port, proc, socketPath };
}

describe('csi-node-driver-registrar process', () => {
  it('serves <dir>/<driver>-reg.sock, owner-only, answering GetInfo as kubelet expects', async () => {
    const { proc, socketPath, driver } = await registered();
    expect(statSync(socketPath).isSocket()).toBe(true);
    expect(statSync(socketPath).mode & 0o777).toBe(0o700);
    expect(await client(socketPath).getInfo()).toEqual({
      type: 'CSIPlugin',
      name: TEST_DRIVER_NAME,
      endpoint: HOST_ENDPOINT,
      supportedVersions: ['1.0.0'],
    });
    // GetPluginInfo only: no Probe, as upstream.
    expect(driver.calls.map((c) => c.method)).toEqual(['GetPluginInfo']);
    expect(proc.log).toMatch(/"Starting Registration Server" socketPath=".*-reg.sock"/);
    expect(proc.log).not.toContain('Received GetInfo call');
  });

  it('is ready only once kubelet has accepted the plugin', async () => {
    const { port, socketPath, proc } = await registered();
    expect(await get(port, '/readyz')).toEqual({ status: 503, body: 'not registered by kubelet yet' });
    await client(socketPath).notify(true);
    expect(await get(port, '/readyz')).toEqual({ status: 200, body: 'ok' });
    expect(proc.log).toMatch(/"Received NotifyRegistrationStatus call" status="plugin_registered:true"/);
    expect(proc.running).toBe(true);
  });

  it('exits 1 when kubelet rejects the plugin, and removes its socket', async () => {
    const { proc, socketPath } = await registered();
    await client(socketPath).notify(false, 'RegisterPlugin error -- plugin registration failed with err: boom');
    expect(await proc.waitForExit()).toBe(1);
    expect(proc.log).toMatch(
      /"Registration process failed with error, restarting registration container" err="RegisterPlugin error -- plugin registration failed with err: boom"/,
    );
    expect(existsSync(socketPath)).toBe(false);
  });

  it('removes its socket and exits 0 on SIGTERM', async () => {
    const { proc, socketPath } = await registered();
    proc.child.kill('SIGTERM');
    expect(await proc.waitForExit()).toBe(0);
    expect(existsSync(socketPath)).toBe(false);
  });

  it('answers /healthz 404 once its socket is gone', async () => {
    const { port, socketPath } = await registered();
    rmSync(socketPath);
    expect(await get(port, '/healthz')).toEqual({ status: 404, body: 'registration socket does not exist' });
    expect(await get(port, '/readyz')).toEqual({ status: 503, body: 'registration socket does not exist' });
  });

  it("replaces a predecessor's stale socket", async () => {
    const first = await registered();
    first.proc.child.kill('SIGKILL');
    await first.proc.waitForExit();
    expect(statSync(first.socketPath).isSocket()).toBe(true);
    const port = await freePort();
    const second = startRegistrar([
      `--csi-address=${first.driver.socketPath}`,
      `--kubelet-registration-path=${HOST_ENDPOINT}`,
      `--plugin-registration-path=${first.dir}`,
      `--health-port=${port}`,
    ]);
    await second.waitForLog(/"Registration Server started"/);
    expect((await client(first.socketPath).getInfo()).name).toBe(TEST_DRIVER_NAME);
  });

  it('refuses to start over a file that is not a socket', async () => {
    const driver = await startDriver();
    const dir = registrationDir();
    const socketPath = join(dir, `${TEST_DRIVER_NAME}-reg.sock`);
    writeFileSync(socketPath, 'keep me');
    const proc = startRegistrar([
      `--csi-address=${driver.socketPath}`,
      `--kubelet-registration-path=${HOST_ENDPOINT}`,
      `--plugin-registration-path=${dir}`,
    ]);
    expect(await proc.waitForExit()).toBe(1);
    expect(proc.log).toContain(`file exists in socketPath ${socketPath} but it's not a socket.`);
    expect(statSync(socketPath).isFile()).toBe(true);
  });

  it('exits 1 when GetPluginInfo is slower than --timeout, as upstream (kubernetes-csi/node-driver-registrar#405)', async () => {
    const driver = await startDriver();
    driver.setDelay('GetPluginInfo', 500);
    const proc = startRegistrar([
      `--csi-address=${driver.socketPath}`,
      `--kubelet-registration-path=${HOST_ENDPOINT}`,
      `--plugin-registration-path=${registrationDir()}`,
      '--timeout=200ms',
    ]);
    expect(await proc.waitForExit()).toBe(1);
    expect(proc.log).toMatch(/"Error retreiving CSI driver name" err="rpc error: code = DeadlineExceeded/);
  });

  it('with --plugin-info-wait, waits out a driver that is slow at first', async () => {
    const driver = await startDriver();
    driver.setDelay('GetPluginInfo', 500);
    const dir = registrationDir();
    const proc = startRegistrar([
      `--csi-address=${driver.socketPath}`,
      `--kubelet-registration-path=${HOST_ENDPOINT}`,
      `--plugin-registration-path=${dir}`,
      '--timeout=200ms',
      '--plugin-info-wait=1m',
    ]);
    await proc.waitForLog(/"GetPluginInfo failed, retrying"/);
    driver.setDelay('GetPluginInfo', undefined);
    await proc.waitForLog(/"Registration Server started"/);
    expect(existsSync(join(dir, `${TEST_DRIVER_NAME}-reg.sock`))).toBe(true);
  });

  it('requires --kubelet-registration-path', async () => {
    const proc = startRegistrar([]);
    expect(await proc.waitForExit()).toBe(1);
    expect(proc.log).toMatch(/^E.*"kubelet-registration-path is a required parameter"/m);
  });

  it('exits 0 at once in the deprecated kubelet-registration-probe mode', async () => {
    const proc = startRegistrar(['--kubelet-registration-path=/x', '--mode=kubelet-registration-probe']);
    expect(await proc.waitForExit()).toBe(0);
  });

  it('refuses --health-port with --http-endpoint', async () => {
    const proc = startRegistrar(['--kubelet-registration-path=/x', '--health-port=9809', '--http-endpoint=:9809']);
    expect(await proc.waitForExit()).toBe(1);
    expect(proc.log).toContain('Only one of `--health-port` and `--http-endpoint` can be set');
  });

  it('prints its version', async () => {
    const proc = startRegistrar(['--version']);
    expect(await proc.waitForExit()).toBe(0);
    expect(proc.log).toBe('csi-node-driver-registrar test\n');
  });
});

describe('csi-node-driver-registrar serving the driver liveness probe too', () => {
  it("answers /healthz with the driver's Probe and serves livenessprobe's metrics, on a port of its own", async () => {
    const livenessPort = await freePort();
    const { driver, port } = await registered([`--liveness-http-endpoint=127.0.0.1:${livenessPort}`]);
    await expect.poll(() => get(livenessPort, '/healthz').catch(() => undefined)).toEqual({ status: 200, body: 'ok' });
    expect(driver.calls.filter((c) => c.method === 'Probe')).toHaveLength(1);
    const metrics = await get(livenessPort, '/metrics');
    expect(metrics.body).toContain(
      `csi_sidecar_operations_seconds_count{driver_name="${TEST_DRIVER_NAME}",method_name="/csi.v1.Identity/Probe",grpc_status_code="OK"} 1`,
    );
    // The registration /healthz is unchanged on its own port.
    expect(await get(port, '/healthz')).toEqual({ status: 200, body: 'ok' });
    driver.fail('Probe', 14, 'driver is sick');
    expect(await get(livenessPort, '/healthz')).toEqual({
      status: 500,
      body: 'rpc error: code = Unavailable desc = driver is sick',
    });
  });

  it('with an empty --liveness-metrics-path serves /healthz only', async () => {
    const livenessPort = await freePort();
    await registered([`--liveness-http-endpoint=127.0.0.1:${livenessPort}`, '--liveness-metrics-path=']);
    await expect.poll(() => get(livenessPort, '/healthz').catch(() => undefined)).toEqual({ status: 200, body: 'ok' });
    expect((await get(livenessPort, '/metrics')).status).toBe(404);
  });

  it('runs without JIT and with a small young generation, set by the bundle itself', async () => {
    const { proc } = await registered();
    const cmdline = readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline.slice(1, 3)).toEqual(['--jitless', '--max-semi-space-size=1']);
  });
});
