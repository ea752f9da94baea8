import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundleSidecar } from '../../src/shared/testing/sidecar-bundle.js';
import { SidecarProcess, freePort } from '../../src/shared/testing/sidecar-process.js';
import { testBinDir } from '../fixture/binaries.js';
import { ManagedProcess, waitUntil } from '../fixture/managed-process.js';
import { MOCK_DRIVER } from '../fixture/mock-storage.js';

// The kubelet's real plugin manager (fakekubelet: k8s.io/kubernetes pkg/kubelet/pluginmanager with a CSI handler
// that calls NodeGetInfo like the kubelet's) against this project's registrar and the e2e mock driver.

interface KubeletEvent {
  event: string;
  name?: string;
  endpoint?: string;
  versions?: string[];
  stage?: string;
  reason?: string;
  nodeId?: string;
  maxVolumesPerNode?: number;
  accessibleTopology?: Record<string, string>;
}

let bundle: string;
beforeAll(async () => {
  bundle = await bundleSidecar('csi-node-driver-registrar');
});

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Node {
  dir: string;
  pluginDir: string;
  driverSocket: string;
  driver: ManagedProcess;
  startKubelet(args?: string[]): Promise<ManagedProcess>;
  startRegistrar(args?: string[]): SidecarProcess;
}

/** A node's directories, the mock driver (attach limit and topology on) and, on request, kubelet and registrar. */
async function node(): Promise<Node> {
  const dir = mkdtempSync(join(tmpdir(), 'reg-e2e-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const pluginDir = join(dir, 'plugins_registry');
  mkdirSync(pluginDir);
  const driverSocket = join(dir, 'csi.sock');
  const driver = new ManagedProcess({
    name: 'mockdriver',
    command: join(testBinDir(), 'mockdriver'),
    args: [`--endpoint=unix://${driverSocket}`, '--attach-limit=7', '--enable-topology', '-v=3'],
    logFile: join(dir, 'mockdriver.log'),
  });
  driver.start();
  cleanups.push(() => driver.stop());
  await waitUntil('mock driver socket', () => existsSync(driverSocket), 30_000);
  return {
    dir,
    pluginDir,
    driverSocket,
    driver,
    async startKubelet(args = []) {
      const kubelet = new ManagedProcess({
        name: 'fakekubelet',
        command: join(testBinDir(), 'fakekubelet'),
        args: [`--plugin-dir=${pluginDir}`, '--node-get-info', ...args],
        logFile: join(dir, `fakekubelet-${Date.now()}.log`),
      });
      kubelet.start();
      cleanups.push(() => kubelet.stop());
      await waitUntil('fakekubelet start', () => kubelet.log().includes('"event":"started"'), 30_000);
      return kubelet;
    },
    startRegistrar(args = []) {
      // Kubelet and driver share this host, so the "host path" kubelet dials is the driver's socket itself.
      const registrar = new SidecarProcess(bundle, [
        `--csi-address=${driverSocket}`,
        `--kubelet-registration-path=${driverSocket}`,
        `--plugin-registration-path=${pluginDir}`,
        ...args,
      ]);
      cleanups.push(() => registrar.stop());
      return registrar;
    },
  };
}

function events(kubelet: ManagedProcess, name?: string): KubeletEvent[] {
  return kubelet
    .log()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as KubeletEvent)
    .filter((e) => name === undefined || e.event === name);
}

async function eventCount(kubelet: ManagedProcess, name: string, count: number): Promise<void> {
  await waitUntil(`${count} × ${name}`, () => events(kubelet, name).length >= count, 30_000);
}

describe('csi-node-driver-registrar with the kubelet plugin manager', () => {
  it("registers the driver: kubelet's GetInfo, NodeGetInfo on the endpoint, then NotifyRegistrationStatus(true)", async () => {
    const n = await node();
    const kubelet = await n.startKubelet();
    const port = await freePort();
    const registrar = n.startRegistrar([`--http-endpoint=127.0.0.1:${port}`]);
    await eventCount(kubelet, 'registered', 1);
    const [registered] = events(kubelet, 'registered');
    expect(registered).toMatchObject({
      name: MOCK_DRIVER,
      endpoint: n.driverSocket,
      versions: ['1.0.0'],
      nodeId: MOCK_DRIVER,
      maxVolumesPerNode: 7,
    });
    expect(Object.keys(registered.accessibleTopology ?? {})).not.toHaveLength(0);
    await registrar.waitForLog(/"Received NotifyRegistrationStatus call" status="plugin_registered:true"/);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).text()).toBe('ok');
    expect(n.driver.log()).toContain('NodeGetInfo');
  });

  it('SIGTERM removes the socket and kubelet deregisters the driver; a new registrar registers again', async () => {
    const n = await node();
    const kubelet = await n.startKubelet();
    const first = n.startRegistrar();
    await eventCount(kubelet, 'registered', 1);
    first.child.kill('SIGTERM');
    expect(await first.waitForExit()).toBe(0);
    expect(existsSync(join(n.pluginDir, `${MOCK_DRIVER}-reg.sock`))).toBe(false);
    await eventCount(kubelet, 'deregistered', 1);
    const second = n.startRegistrar();
    await eventCount(kubelet, 'registered', 2);
    await second.waitForLog(/plugin_registered:true/);
  });

  it('a registrar killed outright is replaced: the new one takes over its stale socket and is registered', async () => {
    const n = await node();
    const kubelet = await n.startKubelet();
    const first = n.startRegistrar();
    await eventCount(kubelet, 'registered', 1);
    first.child.kill('SIGKILL');
    await first.waitForExit();
    const second = n.startRegistrar();
    await second.waitForLog(/plugin_registered:true/, 30_000);
    expect(events(kubelet, 'registered').length).toBeGreaterThanOrEqual(2);
  });

  it('kubelet restarts: the new kubelet registers the driver from the socket already there', async () => {
    const n = await node();
    const firstKubelet = await n.startKubelet();
    const registrar = n.startRegistrar();
    await eventCount(firstKubelet, 'registered', 1);
    await firstKubelet.stop();
    const secondKubelet = await n.startKubelet();
    await eventCount(secondKubelet, 'registered', 1);
    await waitUntil(
      'second NotifyRegistrationStatus',
      () => (registrar.log.match(/plugin_registered:true/g)?.length ?? 0) >= 2,
      30_000,
    );
    expect(registrar.running).toBe(true);
  });

  it('the driver restarts after registration: the registrar stays up and healthy, without a word', async () => {
    const n = await node();
    const kubelet = await n.startKubelet();
    const port = await freePort();
    const registrar = n.startRegistrar([`--http-endpoint=127.0.0.1:${port}`, '-v=5']);
    await eventCount(kubelet, 'registered', 1);
    await registrar.waitForLog(/plugin_registered:true/);
    const logged = registrar.log.length;
    await n.driver.stop();
    n.driver.start();
    await waitUntil('mock driver socket', () => existsSync(n.driverSocket), 30_000);
    expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).text()).toBe('ok');
    expect(registrar.running).toBe(true);
    // Only the /healthz check's own lines: nothing about the driver connection.
    expect(registrar.log.slice(logged)).not.toMatch(/Lost connection|CSI driver/);
  });

  it('kubelet rejects the driver: the registrar exits 1; after the restart, with kubelet willing, it registers', async () => {
    const n = await node();
    const refusing = await n.startKubelet([`--reject=${MOCK_DRIVER}`]);
    const first = n.startRegistrar();
    expect(await first.waitForExit(30_000)).toBe(1);
    const [rejected] = events(refusing, 'rejected');
    expect(rejected).toMatchObject({ name: MOCK_DRIVER, stage: 'validate' });
    expect(first.log).toMatch(
      /"Registration process failed with error, restarting registration container" err="RegisterPlugin error -- plugin validation failed with err: driver/,
    );
    expect(existsSync(join(n.pluginDir, `${MOCK_DRIVER}-reg.sock`))).toBe(false);
    await refusing.stop();
    const willing = await n.startKubelet();
    const second = n.startRegistrar();
    await eventCount(willing, 'registered', 1);
    await second.waitForLog(/plugin_registered:true/);
  });
});
