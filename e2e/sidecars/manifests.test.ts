import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAllYaml } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { repoPath } from '../fixture/binaries.js';
import { useTestCluster } from '../fixture/cluster-suite.js';

// Every object in manifests/ must be one the real kube-apiserver accepts as written: a server-side dry run with
// strict field validation, so a misspelled or misplaced field fails here rather than in a user's cluster.

interface ManifestObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

const plurals: Record<string, string> = {
  ServiceAccount: 'serviceaccounts',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  Role: 'roles',
  RoleBinding: 'rolebindings',
  Deployment: 'deployments',
  DaemonSet: 'daemonsets',
  CSIDriver: 'csidrivers',
};
const clusterScoped = new Set(['ClusterRole', 'ClusterRoleBinding', 'CSIDriver']);

function collectionPath(obj: ManifestObject): string {
  const plural = plurals[obj.kind];
  if (!plural) throw new Error(`kind ${obj.kind} has no collection in this test`);
  const prefix = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  if (clusterScoped.has(obj.kind)) return `${prefix}/${plural}`;
  return `${prefix}/namespaces/${obj.metadata.namespace ?? 'default'}/${plural}`;
}

const files = ['rbac', 'examples'].flatMap((dir) =>
  readdirSync(repoPath('manifests', dir))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => join(dir, f)),
);

const cluster = useTestCluster('manifests', {});

describe('manifests/', () => {
  it('has the node examples of both registrar layouts', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'examples/hostpath-node-registrar-and-livenessprobe.yaml',
        'examples/hostpath-node-registrar-only.yaml',
      ]),
    );
  });

  it.each(files)('%s: every object passes a strict server-side dry run', async (file) => {
    const objects = loadAllYaml(readFileSync(repoPath('manifests', file), 'utf8')) as ManifestObject[];
    expect(objects.length).toBeGreaterThan(0);
    for (const obj of objects) {
      const res = await cluster().admin.send('POST', `${collectionPath(obj)}?dryRun=All&fieldValidation=Strict`, obj);
      expect({
        kind: obj.kind,
        name: obj.metadata.name,
        status: res.status,
        body: res.status === 201 ? '' : res.body,
      }).toEqual({ kind: obj.kind, name: obj.metadata.name, status: 201, body: '' });
    }
  });
});
