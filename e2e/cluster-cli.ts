import { TestCluster } from './fixture/cluster.js';

const withDriver = !process.argv.includes('--no-driver');
const cluster = await TestCluster.start({ controllerManager: true, mockDriver: withDriver });

const lines = [
  'Local control plane is up:',
  `  kube-apiserver  ${cluster.server} (RBAC, TLS with its own CA)`,
  `  etcd            ${cluster.etcdUrl}`,
  `  admin kubeconfig: ${cluster.adminKubeconfigPath}`,
  `  component logs:   ${cluster.dir}/logs/`,
];
if (withDriver) lines.push(`  CSI driver socket (Kubernetes e2e mock driver): ${cluster.driverSocket}`);
lines.push(
  `  start-up (ms): ${JSON.stringify(cluster.startedInMs)}`,
  '',
  'Try:',
  `  export KUBECONFIG=${cluster.adminKubeconfigPath}`,
  withDriver
    ? `  npx node dist/livenessprobe.mjs --csi-address=${cluster.driverSocket} --http-endpoint=127.0.0.1:9808`
    : '',
  '',
  'Ctrl-C stops everything and removes the temp dir.',
);
console.log(lines.filter((l, i, all) => l !== '' || all[i - 1] !== '').join('\n'));

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping the cluster…');
    void cluster.stop().then(() => process.exit(0));
  });
}
// Keep running until a signal arrives.
setInterval(() => {}, 1 << 30);
