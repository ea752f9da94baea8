export interface ProvisionerFlags {
  csiAddress: string;
  kubeconfig: string;
  qps: number;
  burst: number;
  /** CSI call timeout, passed explicitly: upstream's code default (10 s) differs from its README (15 s). */
  timeout: string;
}

/** Upstream csi-provisioner flags; any binary that accepts them can be measured with identical settings. */
export function upstreamFlags(f: ProvisionerFlags): string[] {
  return [
    `--csi-address=${f.csiAddress}`,
    `--kubeconfig=${f.kubeconfig}`,
    `--kube-api-qps=${f.qps}`,
    `--kube-api-burst=${f.burst}`,
    `--timeout=${f.timeout}`,
    '--worker-threads=100',
    '--leader-election=false',
    '-v=2',
  ];
}
