import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadKubeConfig } from './kubeconfig.js';

function kubeconfigYaml(options: { context: string; server: string; token?: string; current?: boolean }): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${options.context}`,
    '  cluster:',
    `    server: ${options.server}`,
    'users:',
    `- name: ${options.context}`,
    '  user:',
    `    token: ${options.token ?? 'secret'}`,
    'contexts:',
    `- name: ${options.context}`,
    '  context:',
    `    cluster: ${options.context}`,
    `    user: ${options.context}`,
    ...(options.current === false ? [] : [`current-context: ${options.context}`]),
  ].join('\n');
}

async function authorization(kc: ReturnType<typeof loadKubeConfig>): Promise<unknown> {
  const opts: RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  return (opts.headers as Record<string, unknown> | undefined)?.Authorization;
}

describe('loadKubeConfig', () => {
  let dir: string;

  function file(name: string, content: string): string {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kubeconfig-'));
    vi.stubEnv('KUBECONFIG', undefined);
    vi.stubEnv('KUBERNETES_SERVICE_HOST', undefined);
    vi.stubEnv('KUBERNETES_SERVICE_PORT', undefined);
  });

  afterEach(() => {
    vi.unstubAllEnvs();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads the file given by --kubeconfig', async () => {
    const path = file('config', kubeconfigYaml({ context: 'a', server: 'https://a.example:6443', token: 'tok-a' }));
    const kc = loadKubeConfig({ kubeconfig: path });
    expect(kc.getCurrentCluster()?.server).toBe('https://a.example:6443');
    expect(await authorization(kc)).toBe('Bearer tok-a');
  });

  it('falls back to the files listed in KUBECONFIG, the first current-context winning', () => {
    const first = file('one', kubeconfigYaml({ context: 'one', server: 'https://one:6443' }));
    const second = file('two', kubeconfigYaml({ context: 'two', server: 'https://two:6443' }));
    vi.stubEnv('KUBECONFIG', [first, second].join(delimiter));
    const kc = loadKubeConfig();
    expect(kc.getCurrentContext()).toBe('one');
    expect(kc.getClusters().map((c) => c.name)).toEqual(['one', 'two']);
  });

  it('prefers --kubeconfig over KUBECONFIG', () => {
    vi.stubEnv('KUBECONFIG', file('env', kubeconfigYaml({ context: 'env', server: 'https://env:6443' })));
    const kc = loadKubeConfig({ kubeconfig: file('flag', kubeconfigYaml({ context: 'flag', server: 'https://f:1' })) });
    expect(kc.getCurrentContext()).toBe('flag');
  });

  it('lets KUBECONFIG override --kubeconfig when asked, as csi-provisioner does', () => {
    vi.stubEnv('KUBECONFIG', file('env', kubeconfigYaml({ context: 'env', server: 'https://env:6443' })));
    const flag = file('flag', kubeconfigYaml({ context: 'flag', server: 'https://f:1' }));
    expect(loadKubeConfig({ kubeconfig: flag, environmentFirst: true }).getCurrentContext()).toBe('env');
    vi.stubEnv('KUBECONFIG', '');
    expect(loadKubeConfig({ kubeconfig: flag, environmentFirst: true }).getCurrentContext()).toBe('flag');
  });

  it('lets --master override the server of the loaded kubeconfig and keeps its credentials', async () => {
    const path = file('config', kubeconfigYaml({ context: 'a', server: 'https://a:6443', token: 'tok-a' }));
    const kc = loadKubeConfig({ kubeconfig: path, master: 'https://override:8443/' });
    expect(kc.getCurrentCluster()?.server).toBe('https://override:8443');
    expect(await authorization(kc)).toBe('Bearer tok-a');
  });

  it('with only --master talks to that server without credentials, plain http included', async () => {
    const kc = loadKubeConfig({ master: 'http://127.0.0.1:8080' });
    expect(kc.getCurrentCluster()).toMatchObject({ server: 'http://127.0.0.1:8080', skipTLSVerify: true });
    expect(await authorization(kc)).toBeUndefined();
  });

  it('uses the in-cluster service account when nothing else is given', async () => {
    const saDir = join(dir, 'var/run/secrets/kubernetes.io/serviceaccount');
    mkdirSync(saDir, { recursive: true });
    writeFileSync(join(saDir, 'token'), 'sa-token');
    writeFileSync(join(saDir, 'ca.crt'), 'not a real CA');
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '10.0.0.1');
    vi.stubEnv('KUBERNETES_SERVICE_PORT', '443');
    const kc = loadKubeConfig({ inClusterPathPrefix: dir });
    expect(kc.getCurrentCluster()).toMatchObject({
      server: 'https://10.0.0.1:443',
      caFile: join(saDir, 'ca.crt'),
      skipTLSVerify: false,
    });
    expect(await authorization(kc)).toBe('Bearer sa-token');
  });

  it('explains what is missing when no configuration is usable', () => {
    expect(() => loadKubeConfig()).toThrow(
      /pass --kubeconfig or --master, set KUBECONFIG, or run in a pod \(KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set\)/,
    );
  });

  it('names the token file when the in-cluster service account is not mounted', () => {
    vi.stubEnv('KUBERNETES_SERVICE_HOST', '10.0.0.1');
    vi.stubEnv('KUBERNETES_SERVICE_PORT', '443');
    expect(() => loadKubeConfig({ inClusterPathPrefix: dir })).toThrow(
      `service account token ${dir}/var/run/secrets/kubernetes.io/serviceaccount/token is not readable`,
    );
  });

  it('names the file that cannot be read', () => {
    expect(() => loadKubeConfig({ kubeconfig: join(dir, 'missing') })).toThrow(
      new RegExp(`cannot load kubeconfig ${join(dir, 'missing')}: .*ENOENT`),
    );
  });

  it('rejects a kubeconfig without a current context or with an unusable server', () => {
    const noContext = file('nc', kubeconfigYaml({ context: 'a', server: 'https://a:6443', current: false }));
    expect(() => loadKubeConfig({ kubeconfig: noContext })).toThrow(`kubeconfig ${noContext}: no current-context`);
    const badServer = file('bad', kubeconfigYaml({ context: 'a', server: 'ftp://a' }));
    expect(() => loadKubeConfig({ kubeconfig: badServer })).toThrow('must use https or http');
  });
});
