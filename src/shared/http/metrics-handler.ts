import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { RouteHandler } from './diagnostics-server.js';
import { writeText } from './diagnostics-server.js';

/**
 * Serves a prom-client registry in the Prometheus text format. With `instrumented`, the scrapes themselves are
 * counted as Go's promhttp.InstrumentMetricHandler counts them (the provisioner's handler is wrapped so upstream).
 */
export function metricsHandler(registry: Registry, options: { instrumented?: boolean } = {}): RouteHandler {
  const scrapes = options.instrumented ? scrapeMetrics(registry) : undefined;
  return async (_req, res) => {
    scrapes?.inFlight.inc();
    try {
      const body = await registry.metrics();
      res.writeHead(200, { 'Content-Type': registry.contentType, 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      scrapes?.total.inc({ code: '200' });
    } catch (err) {
      scrapes?.total.inc({ code: '500' });
      writeText(
        res,
        500,
        `An error has occurred while serving metrics:\n\n${err instanceof Error ? err.message : String(err)}`,
      );
    } finally {
      scrapes?.inFlight.dec();
    }
  };
}

function scrapeMetrics(registry: Registry): { total: Counter<'code'>; inFlight: Gauge } {
  const total = new Counter({
    name: 'promhttp_metric_handler_requests_total',
    help: 'Total number of scrapes by HTTP status code.',
    labelNames: ['code'],
    registers: [registry],
  });
  // promhttp shows these codes from the start.
  for (const code of ['200', '500', '503']) total.inc({ code }, 0);
  const inFlight = new Gauge({
    name: 'promhttp_metric_handler_requests_in_flight',
    help: 'Current number of scrapes being served.',
    registers: [registry],
  });
  return { total, inFlight };
}
