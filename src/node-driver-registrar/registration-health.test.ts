import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UnixSocketServer } from '../shared/grpc/unix-socket-server.js';
import { Logger } from '../shared/log/logger.js';
import { RegistrationHealth } from './registration-health.js';
import { registrationService } from './registration-service.js';

const DRIVER = 'hostpath.csi.k8s.io';
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'reg-health-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const lines: string[] = [];
  const logger = new Logger({ sink: (line) => lines.push(line) });
  const socketPath = join(dir, `${DRIVER}-reg.sock`);
  const health = new RegistrationHealth({ socketPath, driverName: DRIVER, timeoutMs: 500, logger });
  return { socketPath, health, lines, logger };
}

async function serveRegistration(socketPath: string, driverName: string, logger: Logger) {
  const service = registrationService({
    driverName,
    endpoint: '/csi/csi.sock',
    logger,
    onRegistered: () => {},
    onRejected: () => {},
  });
  const server = await UnixSocketServer.listen({ path: socketPath, services: [service] });
  cleanups.push(() => server.shutdown(0));
  return server;
}

describe('registration /healthz', () => {
  it('answers 200 ok when its own socket serves GetInfo with the driver name', async () => {
    const { socketPath, health, logger } = setup();
    await serveRegistration(socketPath, DRIVER, logger);
    expect(await health.check()).toEqual({ status: 200, body: 'ok' });
    expect(await health.check()).toEqual({ status: 200, body: 'ok' });
  });

  it('answers 404 when the socket is gone, and logs why', async () => {
    const { health, lines } = setup();
    expect(await health.check()).toEqual({ status: 404, body: 'registration socket does not exist' });
    expect(lines[0]).toMatch(/^E.*"Health check failed, registration socket does not exist"/);
  });

  it('answers 500 when something else holds the socket path', async () => {
    const { socketPath, health } = setup();
    writeFileSync(socketPath, 'not a socket');
    const answer = await health.check();
    expect(answer.status).toBe(500);
    expect(answer.body).toBe(`file exists in socketPath ${socketPath} but it's not a socket.: mode 0644`);
  });

  it('answers 500 naming the driver when another registration server holds the socket', async () => {
    const { socketPath, health, logger, lines } = setup();
    await serveRegistration(socketPath, 'other.csi.k8s.io', logger);
    expect(await health.check()).toEqual({ status: 500, body: 'invalid driver name other.csi.k8s.io' });
    expect(lines.join('')).toMatch(/"Health check failed" err="invalid driver name other.csi.k8s.io"/);
  });

  it('answers 500 within --timeout when the socket accepts but never speaks gRPC', async () => {
    const { socketPath, health } = setup();
    // A hung listener: connections are accepted and never answered.
    const held: Socket[] = [];
    const silent = createServer((socket) => held.push(socket));
    await new Promise<void>((r) => silent.listen(socketPath, r));
    cleanups.push(() => {
      for (const socket of held) socket.destroy();
      return new Promise<void>((r) => silent.close(() => r()));
    });
    const answer = await health.check();
    expect(answer.status).toBe(500);
    expect(answer.body).toBe(`error connecting to node-registrar socket ${socketPath}: context deadline exceeded`);
  });

  it('answers 500 within --timeout for a stale socket file that nobody serves', async () => {
    const { socketPath, health } = setup();
    // A process killed while listening leaves its socket file behind.
    const killed = spawnSync(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    expect(killed.signal).toBe('SIGKILL');
    const answer = await health.check();
    expect(answer).toEqual({
      status: 500,
      body: `error connecting to node-registrar socket ${socketPath}: context deadline exceeded`,
    });
  });
});
