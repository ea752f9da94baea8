import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KubeletRegistrationClient } from '../../src/node-driver-registrar/testing/registration-client.js';
import { bundleSidecar } from '../../src/shared/testing/sidecar-bundle.js';
import { SidecarProcess, freePort } from '../../src/shared/testing/sidecar-process.js';
import { testBinDir, testBinary } from '../fixture/binaries.js';
import { ManagedProcess, waitUntil } from '../fixture/managed-process.js';
import { MOCK_DRIVER } from '../fixture/mock-storage.js';

// Ours and the Go node-driver-registrar v2.17.0 (built by e2e/infra/build.sh from the upstream source) on the same
// driver, asked the same things: what kubelet and kubelet's probes see must not differ.

const HOST_ENDPOINT = '/var/lib/kubelet/plugins/mock/csi.sock';

interface Observed {
  info: unknown;
  socketMode: string;
  healthy: { status: number; body: string };
  notifyLine: string | undefined;
  gone: { status: number; body: string };
  exitAfterSigterm: number | null;
  socketAfterSigterm: boolean;
  exitAfterRejection: number | null;
}

let ours: string;
beforeAll(async () => {
  ours = await bundleSidecar('csi-node-driver-registrar');
});

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

/** Runs one registrar implementation through the same script and records what a kubelet would see. */
async function observe(command: { bin: string; node: boolean }): Promise<Observed> {
  const dir = mkdtempSync(join(tmpdir(), 'reg-compat-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const driverSocket = join(dir, 'csi.sock');
  const driver = new ManagedProcess({
    name: 'mockdriver',
    command: join(testBinDir(), 'mockdriver'),
    args: [`--endpoint=unix://${driverSocket}`],
    logFile: join(dir, 'mockdriver.log'),
  });
  driver.start();
  cleanups.push(() => driver.stop());
  await waitUntil('mock driver socket', () => existsSync(driverSocket), 30_000);
  const registrationDir = join(dir, 'registry');
  mkdirSync(registrationDir);
  const socket = join(registrationDir, `${MOCK_DRIVER}-reg.sock`);

  const start = (port: number): SidecarProcess => {
    const args = [
      `--csi-address=${driverSocket}`,
      `--kubelet-registration-path=${HOST_ENDPOINT}`,
      `--plugin-registration-path=${registrationDir}`,
      `--http-endpoint=127.0.0.1:${port}`,
    ];
    const proc = new SidecarProcess(command.bin, args, { binary: !command.node });
    cleanups.push(() => proc.stop());
    return proc;
  };
  const client = (): KubeletRegistrationClient => {
    const c = new KubeletRegistrationClient(socket);
    cleanups.push(() => c.close());
    return c;
  };

  const port = await freePort();
  const proc = start(port);
  await waitUntil('registration socket', () => existsSync(socket), 30_000);
  const info = await client().getInfo();
  const socketMode = (statSync(socket).mode & 0o777).toString(8);
  await expect.poll(() => get(port, '/healthz').catch(() => undefined), { timeout: 10_000 }).toBeDefined();
  const healthy = await get(port, '/healthz');
  await client().notify(true);
  await waitUntil('notify logged', () => proc.log.includes('Received NotifyRegistrationStatus call'), 10_000);
  const notifyLine = /"Received NotifyRegistrationStatus call".*/.exec(proc.log)?.[0];
  rmSync(socket);
  const gone = await get(port, '/healthz');
  proc.child.kill('SIGTERM');
  const exitAfterSigterm = await proc.waitForExit();
  const socketAfterSigterm = existsSync(socket);

  const rejectedPort = await freePort();
  const rejected = start(rejectedPort);
  await waitUntil('registration socket again', () => existsSync(socket), 30_000);
  await client()
    .notify(false, 'RegisterPlugin error -- plugin validation failed with err: no')
    .catch(() => undefined);
  const exitAfterRejection = await rejected.waitForExit();
  return {
    info,
    socketMode,
    healthy,
    notifyLine,
    gone,
    exitAfterSigterm,
    socketAfterSigterm,
    exitAfterRejection,
  };
}

describe('csi-node-driver-registrar side by side with the Go v2.17.0 binary', () => {
  it('kubelet and its probes see the same answers, socket mode, log line and exits', async () => {
    const go = await observe({ bin: testBinary('go-csi-node-driver-registrar'), node: false });
    const ts = await observe({ bin: ours, node: true });
    expect(go.info).toEqual({
      type: 'CSIPlugin',
      name: MOCK_DRIVER,
      endpoint: HOST_ENDPOINT,
      supportedVersions: ['1.0.0'],
    });
    expect(go.healthy).toEqual({ status: 200, body: 'ok' });
    expect(go.notifyLine).toBe('"Received NotifyRegistrationStatus call" status="plugin_registered:true"');
    expect(ts).toEqual(go);
  });
});
