import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RegistrationStatus } from '../../src/gen/pluginregistration/api.js';
import { startRegistrationServer } from '../fixture/registration-server.js';
import { testBinDir } from '../fixture/binaries.js';
import { ManagedProcess, waitUntil } from '../fixture/managed-process.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('kubelet plugin-registration harness (real pluginmanager)', () => {
  async function startKubelet(args: string[] = []) {
    const dir = mkdtempSync(join(tmpdir(), 'reg-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const pluginDir = join(dir, 'plugins_registry');
    mkdirSync(pluginDir);
    const kubelet = new ManagedProcess({
      name: 'fakekubelet',
      command: join(testBinDir(), 'fakekubelet'),
      args: [`--plugin-dir=${pluginDir}`, ...args],
      logFile: join(dir, 'fakekubelet.log'),
    });
    kubelet.start();
    cleanups.push(() => kubelet.stop());
    await waitUntil('fakekubelet start', () => kubelet.log().includes('"event":"started"'), 30_000);
    return { kubelet, pluginDir };
  }

  it('registers a plugin: GetInfo, then NotifyRegistrationStatus(true)', async () => {
    const { kubelet, pluginDir } = await startKubelet();
    const statuses: RegistrationStatus[] = [];
    const server = await startRegistrationServer({
      socket: join(pluginDir, 'e2e.csi.k8s.io-reg.sock'),
      driverName: 'e2e.csi.k8s.io',
      endpoint: '/csi/csi.sock',
      statuses,
    });
    cleanups.push(() => server.forceShutdown());
    await waitUntil('registration', () => statuses.length > 0, 30_000);
    expect(statuses[0]).toMatchObject({ pluginRegistered: true });
    expect(kubelet.log()).toMatch(/"event":"registered".*"name":"e2e.csi.k8s.io"/);
  });

  it('rejects a plugin it is told to reject with NotifyRegistrationStatus(false, reason)', async () => {
    const { pluginDir } = await startKubelet(['--reject=bad.csi.k8s.io']);
    const statuses: RegistrationStatus[] = [];
    const server = await startRegistrationServer({
      socket: join(pluginDir, 'bad.csi.k8s.io-reg.sock'),
      driverName: 'bad.csi.k8s.io',
      endpoint: '/csi/csi.sock',
      statuses,
    });
    cleanups.push(() => server.forceShutdown());
    await waitUntil('rejection', () => statuses.length > 0, 30_000);
    expect(statuses[0].pluginRegistered).toBe(false);
    expect(statuses[0].error).not.toBe('');
  });
});
