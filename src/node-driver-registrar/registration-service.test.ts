import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UnixSocketServer } from '../shared/grpc/unix-socket-server.js';
import { Logger } from '../shared/log/logger.js';
import { registrationService, registrationStatusText } from './registration-service.js';
import { KubeletRegistrationClient } from './testing/registration-client.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(verbosity = 0) {
  const dir = mkdtempSync(join(tmpdir(), 'reg-svc-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const lines: string[] = [];
  const events: string[] = [];
  const service = registrationService({
    driverName: 'hostpath.csi.k8s.io',
    endpoint: '/var/lib/kubelet/plugins/csi-hostpath/csi.sock',
    logger: new Logger({ verbosity, sink: (line) => lines.push(line) }),
    onRegistered: () => events.push('registered'),
    onRejected: (reason) => events.push(`rejected: ${reason}`),
  });
  const server = await UnixSocketServer.listen({
    path: join(dir, 'hostpath.csi.k8s.io-reg.sock'),
    services: [service],
  });
  cleanups.push(() => server.shutdown(0));
  const client = new KubeletRegistrationClient(server.path);
  cleanups.push(() => client.close());
  return { client, lines, events };
}

describe('Registration service', () => {
  it('answers GetInfo with CSIPlugin, the driver, the host endpoint and version 1.0.0, every time', async () => {
    const { client, lines } = await serve();
    for (let i = 0; i < 3; i++) {
      expect(await client.getInfo()).toEqual({
        type: 'CSIPlugin',
        name: 'hostpath.csi.k8s.io',
        endpoint: '/var/lib/kubelet/plugins/csi-hostpath/csi.sock',
        supportedVersions: ['1.0.0'],
      });
    }
    // Silent at the default level (kubernetes-csi/node-driver-registrar#533).
    expect(lines).toEqual([]);
  });

  it('logs GetInfo at V(4)', async () => {
    const { client, lines } = await serve(4);
    await client.getInfo();
    expect(lines.join('')).toContain('"Received GetInfo call"');
  });

  it('logs NotifyRegistrationStatus(true) at the default level, as v2.17.0 does, and reports the registration', async () => {
    const { client, lines, events } = await serve();
    await client.notify(true);
    expect(events).toEqual(['registered']);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^I.*"Received NotifyRegistrationStatus call" status="plugin_registered:true"/);
  });

  it('answers a rejection, logs the reason as an error and reports it', async () => {
    const { client, lines, events } = await serve();
    await client.notify(false, 'RegisterPlugin error -- plugin validation failed with err: no');
    expect(events).toEqual(['rejected: RegisterPlugin error -- plugin validation failed with err: no']);
    expect(lines[0]).toContain('status="error:\\"RegisterPlugin error -- plugin validation failed with err: no\\""');
    expect(lines[1]).toMatch(
      /^E.*"Registration process failed with error, restarting registration container" err="RegisterPlugin error -- plugin validation failed with err: no"/,
    );
  });
});

describe('registrationStatusText', () => {
  it("prints the set fields as Go's protobuf text form", () => {
    expect(registrationStatusText({ pluginRegistered: true, error: '' })).toBe('plugin_registered:true');
    expect(registrationStatusText({ pluginRegistered: false, error: 'x "y"' })).toBe('error:"x \\"y\\""');
    expect(registrationStatusText({ pluginRegistered: true, error: 'e' })).toBe('plugin_registered:true error:"e"');
    expect(registrationStatusText({ pluginRegistered: false, error: '' })).toBe('');
  });
});
