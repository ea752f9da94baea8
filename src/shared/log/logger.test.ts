import { describe, expect, it } from 'vitest';
import { Logger, safeStringify } from './logger.js';

function capture(verbosity: number, format: 'text' | 'json' = 'text') {
  const lines: string[] = [];
  const logger = new Logger({ verbosity, format, name: 'test', sink: (l) => lines.push(l) });
  return { logger, lines };
}

describe('Logger', () => {
  it('writes klog text lines with severity, time, pid, name, quoted message and key=value pairs', () => {
    const { logger, lines } = capture(0);
    logger.info('CSI driver name', { driver: 'hostpath.csi.k8s.io', count: 3, ok: true });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^I\d{4} \d{2}:\d{2}:\d{2}\.\d{6} +\d+ test\] "CSI driver name" driver="hostpath.csi.k8s.io" count=3 ok=true\n$/,
    );
  });

  it('drops V(n) lines above the verbosity and reports whether a level is enabled', () => {
    const { logger, lines } = capture(2);
    logger.v(2).info('kept');
    logger.v(3).info('dropped');
    expect(lines).toHaveLength(1);
    expect(logger.v(2).enabled).toBe(true);
    expect(logger.v(3).enabled).toBe(false);
  });

  it('writes errors with E severity and the error text', () => {
    const { logger, lines } = capture(0);
    logger.error(new Error('boom'), 'Health check failed', { path: '/healthz' });
    expect(lines[0]).toMatch(/^E.* "Health check failed" err="boom" path="\/healthz"\n$/);
  });

  it('writes one JSON object per line with ts, msg, v and err', () => {
    const { logger, lines } = capture(5, 'json');
    logger.v(5).info('GRPC call', { method: '/csi.v1.Identity/Probe', capacity: 2n ** 63n - 1n });
    logger.error(new Error('nope'), 'Failed');
    const first = JSON.parse(lines[0]) as Record<string, unknown>;
    expect(first).toMatchObject({ msg: 'GRPC call', v: 5, method: '/csi.v1.Identity/Probe' });
    expect(typeof first.ts).toBe('number');
    expect(lines[0]).toContain('"capacity":9223372036854775807');
    expect(JSON.parse(lines[1])).toMatchObject({ msg: 'Failed', err: 'nope' });
  });

  it('adds values from withValues to every line of the child', () => {
    const { logger, lines } = capture(0);
    logger.withValues({ pvc: 'ns/claim' }).info('Provisioning');
    expect(lines[0]).toContain('"Provisioning" pvc="ns/claim"');
  });
});

describe('safeStringify', () => {
  it('survives cycles and bigint', () => {
    const o: Record<string, unknown> = { n: 1n };
    o.self = o;
    expect(safeStringify(o)).toBe('{"n":1,"self":"[Circular]"}');
  });
});
