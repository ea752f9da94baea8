import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { KubeletRegistrationClient } from '../../src/node-driver-registrar/testing/registration-client.js';
import { sleep } from '../shared/stats.js';

// The clients the registrar bench plays: kubelet's plugin watcher on the registration socket, and kubelet's HTTP
// probes on /healthz.

/** True when a unix socket at path accepts a connection now. */
function accepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/**
 * Polls the socket every millisecond until it accepts a connection; resolves with the performance.now() time of
 * the first success. check() throws to give up (the process exited).
 */
export async function waitForAccept(path: string, check: () => void, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await accepts(path)) return performance.now();
    check();
    if (performance.now() > deadline) throw new Error(`${path} did not accept a connection in ${timeoutMs} ms`);
    await sleep(1);
  }
}

/** Records the performance.now() time of the first output line matching each pattern. */
export class LineMatcher {
  readonly firstAt = new Map<string, number>();
  private partial = '';
  private readonly patterns: Record<string, RegExp>;

  constructor(patterns: Record<string, RegExp>) {
    this.patterns = patterns;
  }

  readonly feed = (text: string, atMs: number): void => {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      for (const [key, re] of Object.entries(this.patterns)) {
        if (!this.firstAt.has(key) && re.test(line)) this.firstAt.set(key, atMs);
      }
    }
  };
}

export interface LoadTiming {
  calls: number;
  seconds: number;
  failures: number;
  firstFailure?: string;
}

/**
 * n GetInfo calls, then n NotifyRegistrationStatus(plugin_registered: true) calls, one after the other on one
 * connection (kubelet asks the same two questions when it registers a plugin).
 */
export async function registrationCalls(
  socketPath: string,
  n: number,
  driverName: string,
): Promise<{ getInfo: LoadTiming; notify: LoadTiming }> {
  const client = new KubeletRegistrationClient(socketPath);
  try {
    const getInfo = await timed(n, async () => {
      const info = await client.getInfo(5_000);
      if (info.name !== driverName) throw new Error(`GetInfo answered name ${info.name}`);
    });
    const notify = await timed(n, () => client.notify(true, '', 5_000));
    return { getInfo, notify };
  } finally {
    client.close();
  }
}

/** n GET requests to 127.0.0.1:port/path, one after the other on one keep-alive connection; non-200 counts as failed. */
export async function httpGets(port: number, path: string, n: number): Promise<LoadTiming> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    return await timed(n, async () => {
      const { status, body } = await get(agent, port, path);
      if (status !== 200) throw new Error(`HTTP ${status}: ${body.slice(0, 200)}`);
    });
  } finally {
    agent.destroy();
  }
}

/** One GET; status 0 when the connection failed. */
export function get(agent: Agent | undefined, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ status: 0, body: err.message }));
    req.end();
  });
}

/** Polls GET port/path every 5 ms until it answers 200; resolves with the performance.now() time of that answer. */
export async function waitFor200(port: number, path: string, check: () => void, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if ((await get(undefined, port, path)).status === 200) return performance.now();
    check();
    if (performance.now() > deadline) throw new Error(`${path} on port ${port} did not answer 200 in ${timeoutMs} ms`);
    await sleep(5);
  }
}

async function timed(n: number, call: () => Promise<void>): Promise<LoadTiming> {
  const started = performance.now();
  let failures = 0;
  let firstFailure: string | undefined;
  for (let i = 0; i < n; i++) {
    try {
      await call();
    } catch (err) {
      failures++;
      firstFailure ??= err instanceof Error ? err.message : String(err);
      // A dead server must not spin 10,000 failures at full speed.
      if (failures > 100) throw new Error(`more than 100 failed calls; first: ${firstFailure}`);
    }
  }
  return { calls: n, seconds: +((performance.now() - started) / 1000).toFixed(3), failures, firstFailure };
}
