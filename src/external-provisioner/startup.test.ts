import { describe, expect, it } from 'vitest';
import { parseFlags } from '../shared/flags/flag-set.js';
import { provisionerFlags, resolveProvisionerConfig } from './flags.js';
import { runWorkersOrIdle, startupWarnings } from './startup.js';

function configFor(argv: string[]) {
  return resolveProvisionerConfig(parseFlags(provisionerFlags, argv, 'pflag').values);
}

describe('startupWarnings', () => {
  it('warns nothing with the defaults', () => {
    expect(startupWarnings(configFor([]))).toEqual([]);
  });

  it('says that --enable-pprof has no effect here and names the Node equivalents', () => {
    const [warning, ...rest] = startupWarnings(configFor(['--http-endpoint=:8080', '--enable-pprof']));
    expect(rest).toEqual([]);
    expect(warning).toContain('--enable-pprof');
    expect(warning).toContain('not available');
    expect(warning).toContain('--inspect');
    expect(warning).toContain('heap snapshots');
  });

  it('accepts 0 workers like upstream (idle) and warns about each', () => {
    const config = configFor(['--worker-threads=0', '--cloning-protection-threads=0']);
    expect(config.workerThreads).toBe(0);
    expect(config.cloningProtectionThreads).toBe(0);
    expect(startupWarnings(config)).toEqual([
      '--worker-threads=0: no claim or volume workers run, nothing is provisioned or deleted',
      '--cloning-protection-threads=0: no clone-source protection workers run',
    ]);
  });
});

describe('runWorkersOrIdle', () => {
  it('runs the workers when there are any', async () => {
    let ran = 0;
    await runWorkersOrIdle(2, new AbortController().signal, async () => {
      ran++;
    });
    expect(ran).toBe(1);
  });

  it('with 0 workers runs nothing, does not throw and resolves once the signal aborts', async () => {
    const abort = new AbortController();
    let ran = false;
    let done = false;
    const idle = runWorkersOrIdle(0, abort.signal, async () => {
      ran = true;
    }).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(done).toBe(false);
    abort.abort();
    await idle;
    expect(ran).toBe(false);
    expect(done).toBe(true);
  });

  it('with 0 workers and an aborted signal resolves at once', async () => {
    const abort = new AbortController();
    abort.abort();
    await expect(runWorkersOrIdle(0, abort.signal, () => Promise.reject(new Error('ran')))).resolves.toBeUndefined();
  });
});
