import { describe, expect, it } from 'vitest';
import { parseFlags } from '../shared/flags/flag-set.js';
import { provisionerFlags, resolveProvisionerConfig } from './flags.js';
import { Logger } from '../shared/log/logger.js';
import type { KubeRequest } from '../shared/kube/client.js';
import {
  adjustVolumeAttributesClassGate,
  hasVolumeAttributesClassApi,
  resolveVolumeAttributesClassGate,
  startupWarnings,
} from './startup.js';

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

describe('resolveVolumeAttributesClassGate', () => {
  it('keeps an explicitly enabled gate on without the API', () => {
    const config = configFor(['--feature-gates=VolumeAttributesClass=true']);
    expect(
      resolveVolumeAttributesClassGate({
        gates: config.featureGates,
        explicit: config.explicitFeatureGates,
        hasApi: false,
      }),
    ).toEqual({ enabled: true });
  });

  it('turns a defaulted gate off without the API, with a warning', () => {
    const config = configFor([]);
    const result = resolveVolumeAttributesClassGate({
      gates: config.featureGates,
      explicit: config.explicitFeatureGates,
      hasApi: false,
    });
    expect(result.enabled).toBe(false);
    expect(result.warning).toContain('VolumeAttributesClass');
    expect(result.warning).toContain('volumeattributesclasses');
  });

  it('leaves the gate unchanged when the API is present or discovery failed', () => {
    for (const argv of [[], ['--feature-gates=VolumeAttributesClass=false']]) {
      const config = configFor(argv);
      for (const hasApi of [true, undefined]) {
        expect(
          resolveVolumeAttributesClassGate({
            gates: config.featureGates,
            explicit: config.explicitFeatureGates,
            hasApi,
          }),
        ).toEqual({ enabled: config.featureGates.VolumeAttributesClass });
      }
    }
  });

  it('never turns an explicitly disabled gate on', () => {
    const config = configFor(['--feature-gates=VolumeAttributesClass=false']);
    expect(
      resolveVolumeAttributesClassGate({
        gates: config.featureGates,
        explicit: config.explicitFeatureGates,
        hasApi: false,
      }),
    ).toEqual({ enabled: false });
  });
});

function fakeDiscovery(respond: () => unknown) {
  const requests: KubeRequest[] = [];
  return {
    requests,
    request: <T>(request: KubeRequest) => {
      requests.push(request);
      try {
        return Promise.resolve({ status: 200, body: respond() as T });
      } catch (error) {
        return Promise.reject(error as Error);
      }
    },
  };
}

const storageV1 = (names: string[]) => ({
  kind: 'APIResourceList',
  groupVersion: 'storage.k8s.io/v1',
  resources: names.map((name) => ({ name, namespaced: false, kind: 'X', verbs: ['get'] })),
});

describe('hasVolumeAttributesClassApi', () => {
  it('finds volumeattributesclasses in GET /apis/storage.k8s.io/v1', async () => {
    const fake = fakeDiscovery(() => storageV1(['csidrivers', 'storageclasses', 'volumeattributesclasses']));
    await expect(hasVolumeAttributesClassApi(fake)).resolves.toBe(true);
    expect(fake.requests).toEqual([{ method: 'GET', path: '/apis/storage.k8s.io/v1' }]);
  });

  it('is false without the resource (subresources and other names do not count) or without a body', async () => {
    await expect(
      hasVolumeAttributesClassApi(fakeDiscovery(() => storageV1(['storageclasses', 'volumeattachments/status']))),
    ).resolves.toBe(false);
    await expect(hasVolumeAttributesClassApi(fakeDiscovery(() => undefined))).resolves.toBe(false);
    await expect(hasVolumeAttributesClassApi(fakeDiscovery(() => ({})))).resolves.toBe(false);
  });
});

describe('adjustVolumeAttributesClassGate', () => {
  function capture() {
    const lines: string[] = [];
    return { lines, logger: new Logger({ verbosity: 5, sink: (l) => lines.push(l) }) };
  }

  it('turns the defaulted gate off on an older cluster and logs it', async () => {
    const { lines, logger } = capture();
    const config = configFor([]);
    const adjusted = await adjustVolumeAttributesClassGate(
      config,
      fakeDiscovery(() => storageV1(['storageclasses'])),
      logger,
    );
    expect(adjusted.featureGates.VolumeAttributesClass).toBe(false);
    expect(adjusted.featureGates.Topology).toBe(config.featureGates.Topology);
    expect(config.featureGates.VolumeAttributesClass).toBe(true);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('VolumeAttributesClass feature gate disabled');
  });

  it('keeps the config when the API is there', async () => {
    const { lines, logger } = capture();
    const config = configFor([]);
    const fake = fakeDiscovery(() => storageV1(['volumeattributesclasses']));
    expect(await adjustVolumeAttributesClassGate(config, fake, logger)).toBe(config);
    expect(lines).toEqual([]);
  });

  it('does not ask when the gate was set explicitly', async () => {
    const { logger } = capture();
    const config = configFor(['--feature-gates=VolumeAttributesClass=true']);
    const fake = fakeDiscovery(() => storageV1([]));
    expect(await adjustVolumeAttributesClassGate(config, fake, logger)).toBe(config);
    expect(fake.requests).toEqual([]);
  });

  it('keeps the gate as configured and logs when discovery fails', async () => {
    const { lines, logger } = capture();
    const config = configFor([]);
    const fake = fakeDiscovery(() => {
      throw new Error('connection refused');
    });
    expect(await adjustVolumeAttributesClassGate(config, fake, logger)).toBe(config);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('Could not discover');
    expect(lines[0]).toContain('connection refused');
  });
});
