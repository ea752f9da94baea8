import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistrationReadiness } from './registration-readiness.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function socketAt(path: string): Promise<Server> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(path, r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return server;
}

function socketPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'readyz-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'driver-reg.sock');
}

describe('registration /readyz', () => {
  it('is not ready while kubelet has not accepted the plugin', async () => {
    const path = socketPath();
    await socketAt(path);
    expect(await new RegistrationReadiness(path).check()).toEqual({
      status: 503,
      body: 'not registered by kubelet yet',
    });
  });

  it('is ready once kubelet accepted the plugin and the socket is in place', async () => {
    const path = socketPath();
    await socketAt(path);
    const readiness = new RegistrationReadiness(path);
    readiness.markRegistered();
    expect(await readiness.check()).toEqual({ status: 200, body: 'ok' });
  });

  it('is not ready once the socket is gone, registered or not', async () => {
    const path = socketPath();
    const readiness = new RegistrationReadiness(path);
    readiness.markRegistered();
    expect(await readiness.check()).toEqual({ status: 503, body: 'registration socket does not exist' });
  });
});
