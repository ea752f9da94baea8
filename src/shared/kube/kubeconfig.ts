import { accessSync, constants } from 'node:fs';
import { delimiter } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

export interface LoadKubeConfigOptions {
  /** The --kubeconfig flag. */
  kubeconfig?: string;
  /** The --master flag: overrides the server URL of whatever configuration was loaded. */
  master?: string;
  /** Prefix for the service-account files of the in-cluster configuration (tests point it at a temp dir). */
  inClusterPathPrefix?: string;
  /** KUBECONFIG, when set, wins over --kubeconfig (csi-provisioner's main does this; client-go's default is the reverse). */
  environmentFirst?: boolean;
}

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Builds the client configuration the way client-go's BuildConfigFromFlags does, in this order:
 * the --kubeconfig file, else the files in KUBECONFIG, else --master alone (no credentials), else the
 * in-cluster service account. --master always wins over the server of the loaded configuration.
 * Throws with a message naming the source when nothing usable is found.
 */
export function loadKubeConfig(options: LoadKubeConfigOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  const fromEnv = (process.env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
  let source: string;
  if (options.environmentFirst && fromEnv.length > 0) {
    source = `KUBECONFIG=${process.env.KUBECONFIG}`;
    loadFiles(kc, fromEnv, source);
  } else if (options.kubeconfig) {
    source = `kubeconfig ${options.kubeconfig}`;
    loadFiles(kc, [options.kubeconfig], source);
  } else if (fromEnv.length > 0) {
    source = `KUBECONFIG=${process.env.KUBECONFIG}`;
    loadFiles(kc, fromEnv, source);
  } else if (options.master) {
    source = `--master ${options.master}`;
    kc.loadFromClusterAndUser({ name: 'master', server: options.master, skipTLSVerify: false }, { name: 'anonymous' });
  } else {
    source = 'in-cluster configuration';
    loadInCluster(kc, options.inClusterPathPrefix ?? '');
  }
  if (options.master) overrideServer(kc, options.master);
  validate(kc, source);
  allowPlainHttp(kc);
  return kc;
}

function loadFiles(kc: KubeConfig, files: string[], source: string): void {
  try {
    kc.loadFromFile(files[0]);
    for (const file of files.slice(1)) {
      const extra = new KubeConfig();
      extra.loadFromFile(file);
      // Like client-go, the first file that sets a current context wins.
      kc.mergeConfig(extra, kc.getCurrentContext() !== undefined);
    }
  } catch (err) {
    throw new Error(`cannot load ${source}: ${(err as Error).message}`, { cause: err });
  }
}

function loadInCluster(kc: KubeConfig, prefix: string): void {
  if (!process.env.KUBERNETES_SERVICE_HOST || !process.env.KUBERNETES_SERVICE_PORT) {
    throw new Error(
      'no Kubernetes configuration: pass --kubeconfig or --master, set KUBECONFIG, or run in a pod ' +
        '(KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set)',
    );
  }
  const tokenFile = `${prefix}${SERVICE_ACCOUNT_TOKEN}`;
  try {
    accessSync(tokenFile, constants.R_OK);
  } catch (err) {
    throw new Error(`in-cluster configuration: service account token ${tokenFile} is not readable`, { cause: err });
  }
  kc.loadFromCluster(prefix);
}

function overrideServer(kc: KubeConfig, master: string): void {
  const current = kc.getCurrentCluster();
  if (!current) return;
  kc.clusters = kc.clusters.map((c) => (c === current ? { ...c, server: master.replace(/\/$/, '') } : c));
}

/**
 * client-go talks plain HTTP to http:// servers, but client-node refuses them unless TLS verification is
 * skipped. There is no TLS to verify on such a connection, so setting the flag only removes that refusal.
 */
function allowPlainHttp(kc: KubeConfig): void {
  kc.clusters = kc.clusters.map((c) => (c.server.startsWith('http:') ? { ...c, skipTLSVerify: true } : c));
}

function validate(kc: KubeConfig, source: string): void {
  if (!kc.getCurrentContext()) throw new Error(`${source}: no current-context is set`);
  if (!kc.getContextObject(kc.getCurrentContext())) {
    throw new Error(`${source}: current-context ${kc.getCurrentContext()} is not defined`);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`${source}: the cluster of context ${kc.getCurrentContext()} is not defined`);
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    throw new Error(`${source}: server ${JSON.stringify(cluster.server)} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`${source}: server ${cluster.server} must use https or http`);
  }
}
