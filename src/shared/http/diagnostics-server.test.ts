import { afterEach, describe, expect, it } from 'vitest';
import { Counter } from 'prom-client';
import { discardLogger } from '../log/logger.js';
import { createMetricsRegistry } from '../metrics/registry.js';
import { DiagnosticsServer, writeText } from './diagnostics-server.js';
import { metricsHandler } from './metrics-handler.js';
import { parseListenAddress } from './listen-address.js';
import { leaderElectionHealthHandler } from './leader-election-health.js';

const servers: DiagnosticsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(address: string): Promise<{ server: DiagnosticsServer; port: number }> {
  const server = new DiagnosticsServer({ address, logger: discardLogger() });
  servers.push(server);
  server.handle('/healthz', (_req, res) => writeText(res, 200, 'ok'));
  server.handle('/throws', () => {
    throw new Error('handler bug');
  });
  const port = await server.listen();
  return { server, port };
}

describe('parseListenAddress', () => {
  it.each([
    [':8080', '', 8080, true],
    ['0.0.0.0:9808', '0.0.0.0', 9808, true],
    ['127.0.0.1:80', '127.0.0.1', 80, false],
    ['[::1]:9808', '::1', 9808, false],
    ['[::]:9808', '::', 9808, true],
  ])('parses %s', (text, host, port, wildcard) => {
    expect(parseListenAddress(text)).toEqual({ host, port, wildcard });
  });

  it.each(['8080', 'localhost', ':http', ':99999'])('rejects %s', (text) => {
    expect(() => parseListenAddress(text)).toThrow(/invalid listen address/);
  });
});

describe('DiagnosticsServer', () => {
  it('serves exact paths and answers 404 like Go for anything else', async () => {
    const { port } = await start('127.0.0.1:0');
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('ok');
    const missing = await fetch(`http://127.0.0.1:${port}/healthz/extra`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe('404 page not found\n');
  });

  it('turns a throwing handler into a 500 and keeps serving', async () => {
    const { port } = await start('127.0.0.1:0');
    expect((await fetch(`http://127.0.0.1:${port}/throws`)).status).toBe(500);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
  });

  it('listens on IPv4 and IPv6 loopback for a wildcard address', async () => {
    const { port } = await start(':0');
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://[::1]:${port}/healthz`)).status).toBe(200);
  });

  it('fails to listen on a port that is taken', async () => {
    const { port } = await start('127.0.0.1:0');
    const second = new DiagnosticsServer({ address: `127.0.0.1:${port}`, logger: discardLogger() });
    await expect(second.listen()).rejects.toThrow(/EADDRINUSE/);
  });

  it('serves a registry in the Prometheus text format', async () => {
    const registry = createMetricsRegistry();
    new Counter({ name: 'test_total', help: 'A test counter.', registers: [registry] }).inc(2);
    const server = new DiagnosticsServer({ address: '127.0.0.1:0', logger: discardLogger() });
    servers.push(server);
    server.handle('/metrics', metricsHandler(registry));
    const port = await server.listen();
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const body = await res.text();
    expect(body).toContain('test_total 2');
    expect(body).toContain('process_start_time_seconds');
  });
});

describe('metricsHandler instrumented like promhttp.InstrumentMetricHandler', () => {
  it('counts finished scrapes by code and shows the running one as in flight', async () => {
    const registry = createMetricsRegistry();
    const server = new DiagnosticsServer({ address: '127.0.0.1:0', logger: discardLogger() });
    servers.push(server);
    server.handle('/metrics', metricsHandler(registry, { instrumented: true }));
    const port = await server.listen();
    const first = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(first).toContain('promhttp_metric_handler_requests_total{code="200"} 0');
    expect(first).toContain('promhttp_metric_handler_requests_total{code="503"} 0');
    expect(first).toContain('promhttp_metric_handler_requests_in_flight 1');
    const second = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(second).toContain('promhttp_metric_handler_requests_total{code="200"} 1');
  });

  it('is off by default (livenessprobe serves the registry unwrapped, as upstream)', async () => {
    const registry = createMetricsRegistry();
    const server = new DiagnosticsServer({ address: '127.0.0.1:0', logger: discardLogger() });
    servers.push(server);
    server.handle('/metrics', metricsHandler(registry));
    const port = await server.listen();
    expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).not.toContain('promhttp_');
  });
});

describe('leaderElectionHealthHandler', () => {
  it('answers ok while healthy and 500 with the reason once renewals stopped', async () => {
    let status = { ok: true, message: 'ok' };
    const server = new DiagnosticsServer({ address: '127.0.0.1:0', logger: discardLogger() });
    servers.push(server);
    server.handle('/healthz/leader-election', leaderElectionHealthHandler({ healthCheck: () => status }));
    const port = await server.listen();
    const url = `http://127.0.0.1:${port}/healthz/leader-election`;
    expect(await (await fetch(url)).text()).toBe('ok');
    status = { ok: false, message: 'failed election to renew leadership on lease ns/x' };
    const res = await fetch(url);
    expect(res.status).toBe(500);
    expect(await res.text()).toContain('failed election to renew leadership on lease ns/x');
  });
});
