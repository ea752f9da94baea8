import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { sendUnaryData, ServerUnaryCall, ServiceError } from '@grpc/grpc-js';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { PluginInfo, RegistrationClient, RegistrationService } from '../../gen/pluginregistration/api.js';
import type { InfoRequest, RegistrationServer } from '../../gen/pluginregistration/api.js';
import { FakeClock } from '../testing/fake-clock.js';
import type { GrpcService } from './unix-socket-server.js';
import { NotASocketError, UnixSocketServer } from './unix-socket-server.js';

const INFO = PluginInfo.fromPartial({ type: 'CSIPlugin', name: 'test.csi.k8s.io', supportedVersions: ['1.0.0'] });

type GetInfo = (call: ServerUnaryCall<InfoRequest, PluginInfo>) => Promise<PluginInfo>;

/** The plugin-registration service with GetInfo answered by getInfo. */
function registration(getInfo: GetInfo = () => Promise.resolve(INFO)): GrpcService {
  const implementation: RegistrationServer = {
    getInfo: (call, callback: sendUnaryData<PluginInfo>) => {
      getInfo(call).then(
        (info) => callback(null, info),
        (err: Error) => callback({ code: status.INTERNAL, details: err.message }),
      );
    },
    notifyRegistrationStatus: (_call, callback) => callback(null, {}),
  };
  return { definition: RegistrationService, implementation };
}

/** Leaves a socket file nobody listens on at path, as a killed process does. */
function leaveStaleSocket(path: string): void {
  const script = `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`;
  const result = spawnSync(process.execPath, ['-e', script]);
  expect(result.status, result.stderr.toString()).toBe(0);
  expect(lstatSync(path).isSocket()).toBe(true);
}

/** A call whose handler has started and whose answer (or error) is pending. */
interface InFlight {
  answer: Promise<PluginInfo>;
  /** Resolves when the server saw the client's call cancelled. */
  cancelled: Promise<void>;
  /** Lets the handler answer. */
  release(): void;
}

describe('UnixSocketServer', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'grpc-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  async function listen(
    path: string,
    options: { mode?: number; clock?: FakeClock; getInfo?: GetInfo } = {},
  ): Promise<UnixSocketServer> {
    const server = await UnixSocketServer.listen({
      path,
      services: [registration(options.getInfo)],
      mode: options.mode,
      clock: options.clock,
    });
    cleanups.push(() => server.shutdown(0));
    return server;
  }

  function client(server: UnixSocketServer): RegistrationClient {
    const c = new RegistrationClient(server.address, credentials.createInsecure());
    cleanups.push(() => c.close());
    return c;
  }

  function getInfo(c: RegistrationClient, timeoutMs = 5000): Promise<PluginInfo> {
    return new Promise((resolve, reject) => {
      c.getInfo({}, new Metadata(), { deadline: Date.now() + timeoutMs }, (err: ServiceError | null, info) =>
        err ? reject(err) : resolve(info),
      );
    });
  }

  /** Starts a server whose GetInfo waits for release() (or the call's cancellation) and one call to it. */
  async function serverWithCallInFlight(clock: FakeClock): Promise<{ server: UnixSocketServer; call: InFlight }> {
    let entered: () => void = () => {};
    const handlerEntered = new Promise<void>((resolve) => (entered = resolve));
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let cancelled: () => void = () => {};
    const cancelSeen = new Promise<void>((resolve) => (cancelled = resolve));
    const server = await listen(join(tempDir(), 'reg.sock'), {
      clock,
      getInfo: async (call) => {
        call.once('cancelled', cancelled);
        entered();
        await released;
        return INFO;
      },
    });
    const answer = getInfo(client(server));
    answer.catch(() => {});
    await handlerEntered;
    return { server, call: { answer, cancelled: cancelSeen, release } };
  }

  it('serves the given services on the socket path', async () => {
    const path = join(tempDir(), 'reg.sock');
    const server = await listen(path);
    expect(server.path).toBe(path);
    expect(server.address).toBe(`unix://${path}`);
    expect(lstatSync(path).isSocket()).toBe(true);
    await expect(getInfo(client(server))).resolves.toEqual(INFO);
  });

  it('replaces a stale socket left at the path', async () => {
    const path = join(tempDir(), 'reg.sock');
    leaveStaleSocket(path);
    const server = await listen(path);
    await expect(getInfo(client(server))).resolves.toEqual(INFO);
  });

  it('refuses a path held by a regular file and leaves the file alone', async () => {
    const path = join(tempDir(), 'reg.sock');
    writeFileSync(path, 'keep me');
    const listening = UnixSocketServer.listen({ path, services: [registration()] });
    await expect(listening).rejects.toBeInstanceOf(NotASocketError);
    await expect(listening).rejects.toThrow(
      `file exists at socket path ${path} but it is not a socket (a regular file)`,
    );
    expect(readFileSync(path, 'utf8')).toBe('keep me');
  });

  it('refuses a path held by a directory', async () => {
    const path = join(tempDir(), 'reg.sock');
    mkdirSync(path);
    await expect(UnixSocketServer.listen({ path, services: [registration()] })).rejects.toThrow(
      /not a socket \(a directory\)/,
    );
    expect(lstatSync(path).isDirectory()).toBe(true);
  });

  it('refuses socket paths longer than 107 bytes', async () => {
    const path = join(tempDir(), 'x'.repeat(110));
    await expect(UnixSocketServer.listen({ path, services: [registration()] })).rejects.toThrow(
      /socket path longer than 107 bytes/,
    );
  });

  it.each([
    { mode: 0o600, text: '0600' },
    { mode: 0o660, text: '0660' },
    { mode: 0o700, text: '0700' },
  ])('gives the socket file mode $text', async ({ mode }) => {
    const path = join(tempDir(), 'reg.sock');
    const server = await listen(path, { mode });
    expect(lstatSync(path).mode & 0o777).toBe(mode);
    await expect(getInfo(client(server))).resolves.toEqual(INFO);
  });

  it('shutdown removes the socket and lets a call in flight finish within the grace period', async () => {
    const clock = new FakeClock();
    const { server, call } = await serverWithCallInFlight(clock);
    const stopping = server.shutdown(5000);
    call.release();
    await expect(call.answer).resolves.toEqual(INFO);
    await stopping;
    expect(existsSync(server.path)).toBe(false);
    // Finished before the grace period: its timer is gone.
    expect(clock.pending()).toBe(0);
  });

  it('shutdown refuses new calls while it waits for one in flight', async () => {
    const clock = new FakeClock();
    const { server, call } = await serverWithCallInFlight(clock);
    const stopping = server.shutdown(5000);
    await expect(getInfo(client(server), 1000)).rejects.toMatchObject({ code: status.UNAVAILABLE });
    call.release();
    await stopping;
  });

  it('shutdown cancels a call still in flight when the grace period ends and removes the socket', async () => {
    const clock = new FakeClock();
    const { server, call } = await serverWithCallInFlight(clock);
    let stopped = false;
    const stopping = server.shutdown(5000).then(() => (stopped = true));
    await clock.advance(4999);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stopped).toBe(false);

    await clock.advance(1);
    await expect(call.answer).rejects.toMatchObject({ code: status.CANCELLED });
    await call.cancelled;
    await stopping;
    expect(existsSync(server.path)).toBe(false);
  });

  it('shutdown frees the path at once and leaves alone a socket bound there while calls finish', async () => {
    const clock = new FakeClock();
    const { server, call } = await serverWithCallInFlight(clock);
    const stopping = server.shutdown(5000);
    expect(existsSync(server.path)).toBe(false);
    leaveStaleSocket(server.path);
    await clock.advance(5000);
    await expect(call.answer).rejects.toMatchObject({ code: status.CANCELLED });
    await stopping;
    expect(lstatSync(server.path).isSocket()).toBe(true);
  });

  it('shutdown called again returns the same promise', async () => {
    const server = await listen(join(tempDir(), 'reg.sock'));
    expect(server.shutdown(0)).toBe(server.shutdown(1000));
    await server.shutdown();
  });
});
