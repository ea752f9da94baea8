import { describe, expect, it } from 'vitest';
import {
  deprecatedSecretKeys,
  getSecretReference,
  getSecretReferences,
  isDns1123Label,
  isDns1123Subdomain,
  reservedSecretKeys,
  resolveTemplate,
} from './secrets.js';
import type { SecretReference, SecretType, TemplateClaim } from './secrets.js';

const P = 'csi.storage.k8s.io/';
const nodePublishName = `${P}node-publish-secret-name`;
const nodePublishNamespace = `${P}node-publish-secret-namespace`;
const provisionerName = `${P}provisioner-secret-name`;
const provisionerNamespace = `${P}provisioner-secret-namespace`;

interface Case {
  type: SecretType;
  params?: Record<string, string>;
  pvName?: string;
  claim?: TemplateClaim;
  ref?: SecretReference;
  error?: string;
}

const emptyClaim: TemplateClaim = { name: '', namespace: '' };

// Upstream TestGetSecretReference, with the error text each failure produces.
const upstreamCases: Record<string, Case> = {
  'no params': { type: 'nodePublish', params: undefined, ref: undefined },
  'empty err': {
    type: 'nodePublish',
    params: { csiNodePublishSecretName: '', csiNodePublishSecretNamespace: '' },
    error:
      'failed to get name and namespace template from params: NodePublish secrets specified in parameters but value of either namespace or name is empty',
  },
  '[deprecated] name, no namespace': {
    type: 'nodePublish',
    params: { csiNodePublishSecretName: 'foo' },
    error:
      'failed to get name and namespace template from params: either name and namespace for NodePublish secrets specified, Both must be specified',
  },
  'name, no namespace': {
    type: 'nodePublish',
    params: { [nodePublishName]: 'foo' },
    error: 'either name and namespace for NodePublish secrets specified, Both must be specified',
  },
  '[deprecated] namespace, no name': {
    type: 'nodePublish',
    params: { csiNodePublishSecretNamespace: 'foo' },
    error: 'either name and namespace for NodePublish secrets specified',
  },
  'namespace, no name': {
    type: 'nodePublish',
    params: { [nodePublishNamespace]: 'foo' },
    error: 'either name and namespace for NodePublish secrets specified',
  },
  '[deprecated] simple - valid': {
    type: 'nodePublish',
    params: { csiNodePublishSecretName: 'name', csiNodePublishSecretNamespace: 'ns' },
    claim: emptyClaim,
    ref: { name: 'name', namespace: 'ns' },
  },
  'deprecated and new both': {
    type: 'nodePublish',
    params: {
      csiNodePublishSecretName: 'name',
      csiNodePublishSecretNamespace: 'ns',
      [nodePublishName]: 'name',
      [nodePublishNamespace]: 'ns',
    },
    error: 'NodePublish secrets specified in parameters with both "csi" and "csi.storage.k8s.io/" keys',
  },
  'deprecated and new names': {
    type: 'nodePublish',
    params: { csiNodePublishSecretName: 'name', csiNodePublishSecretNamespace: 'ns', [nodePublishName]: 'name' },
    error: 'NodePublish secrets specified in parameters with both "csi" and "csi.storage.k8s.io/" keys',
  },
  'deprecated and new namespace': {
    type: 'nodePublish',
    params: { csiNodePublishSecretName: 'name', csiNodePublishSecretNamespace: 'ns', [nodePublishNamespace]: 'ns' },
    error: 'NodePublish secrets specified in parameters with both "csi" and "csi.storage.k8s.io/" keys',
  },
  'deprecated and new mixed': {
    type: 'nodePublish',
    params: { csiNodePublishSecretName: 'name', [nodePublishNamespace]: 'ns' },
    claim: emptyClaim,
    ref: { name: 'name', namespace: 'ns' },
  },
  'simple - valid': {
    type: 'nodePublish',
    params: { [nodePublishName]: 'name', [nodePublishNamespace]: 'ns' },
    claim: emptyClaim,
    ref: { name: 'name', namespace: 'ns' },
  },
  'simple - valid, no pvc': {
    type: 'provisioner',
    params: { csiProvisionerSecretName: 'name', csiProvisionerSecretNamespace: 'ns' },
    ref: { name: 'name', namespace: 'ns' },
  },
  'simple - valid, pvc name and namespace': {
    type: 'provisioner',
    params: { csiProvisionerSecretName: 'param-name', csiProvisionerSecretNamespace: 'param-ns' },
    claim: { name: 'name', namespace: 'ns' },
    ref: { name: 'param-name', namespace: 'param-ns' },
  },
  'simple - invalid name': {
    type: 'nodePublish',
    params: { csiNodePublishSecretName: 'bad name', csiNodePublishSecretNamespace: 'ns' },
    claim: emptyClaim,
    error: '"bad name" is not a valid secret name',
  },
  'simple - invalid namespace': {
    type: 'nodePublish',
    params: { csiNodePublishSecretName: 'name', csiNodePublishSecretNamespace: 'bad ns' },
    claim: emptyClaim,
    error: '"bad ns" is not a valid namespace name',
  },
  'template - PVC name annotations not supported for Provision and Delete': {
    type: 'provisioner',
    params: { [provisionerName]: "static-${pv.name}-${pvc.namespace}-${pvc.name}-${pvc.annotations['akey']}" },
    claim: { name: 'name', namespace: 'ns' },
    error: 'either name and namespace for Provisioner secrets specified, Both must be specified',
  },
  'template - valid PVC annotations for Provision and Delete': {
    type: 'provisioner',
    params: {
      [provisionerNamespace]: 'static-${pvc.namespace}',
      [provisionerName]: "static-${pvc.name}-${pvc.annotations['akey']}",
    },
    pvName: 'pvname',
    claim: { name: 'name', namespace: 'pvcnamespace', annotations: { akey: 'avalue' } },
    ref: { name: 'static-name-avalue', namespace: 'static-pvcnamespace' },
  },
  'template - valid nodepublish secret ref': {
    type: 'nodePublish',
    params: {
      csiNodePublishSecretName: "static-${pv.name}-${pvc.namespace}-${pvc.name}-${pvc.annotations['akey']}",
      csiNodePublishSecretNamespace: 'static-${pv.name}-${pvc.namespace}',
    },
    pvName: 'pvname',
    claim: { name: 'pvcname', namespace: 'pvcnamespace', annotations: { akey: 'avalue' } },
    ref: { name: 'static-pvname-pvcnamespace-pvcname-avalue', namespace: 'static-pvname-pvcnamespace' },
  },
  'template - valid provisioner secret ref': {
    type: 'provisioner',
    params: {
      csiProvisionerSecretName: 'static-provisioner-${pv.name}-${pvc.namespace}-${pvc.name}',
      csiProvisionerSecretNamespace: 'static-provisioner-${pv.name}-${pvc.namespace}',
    },
    pvName: 'pvname',
    claim: { name: 'pvcname', namespace: 'pvcnamespace' },
    ref: {
      name: 'static-provisioner-pvname-pvcnamespace-pvcname',
      namespace: 'static-provisioner-pvname-pvcnamespace',
    },
  },
  'template - valid, with pvc.name': {
    type: 'provisioner',
    params: { csiProvisionerSecretName: '${pvc.name}', csiProvisionerSecretNamespace: 'ns' },
    claim: { name: 'pvcname', namespace: 'pvcns' },
    ref: { name: 'pvcname', namespace: 'ns' },
  },
  'template - valid, provisioner with pvc name and namespace': {
    type: 'provisioner',
    params: { csiProvisionerSecretName: '${pvc.name}', csiProvisionerSecretNamespace: '${pvc.namespace}' },
    claim: { name: 'pvcname', namespace: 'pvcns' },
    ref: { name: 'pvcname', namespace: 'pvcns' },
  },
  'template - valid, static pvc name and templated namespace': {
    type: 'provisioner',
    params: { csiProvisionerSecretName: 'static-name-1', csiProvisionerSecretNamespace: '${pvc.namespace}' },
    claim: { name: 'name', namespace: 'ns' },
    ref: { name: 'static-name-1', namespace: 'ns' },
  },
  'template - invalid namespace tokens': {
    type: 'nodePublish',
    params: { csiNodePublishSecretName: 'myname', csiNodePublishSecretNamespace: 'mynamespace${bar}' },
    claim: emptyClaim,
    error: 'error resolving value "mynamespace${bar}": invalid tokens: ["bar"]',
  },
  'template - invalid name tokens': {
    type: 'nodePublish',
    params: { csiNodePublishSecretName: 'myname${foo}', csiNodePublishSecretNamespace: 'mynamespace' },
    claim: emptyClaim,
    error: 'error resolving value "myname${foo}": invalid tokens: ["foo"]',
  },
};

// Further cases for the secret-parameter rules that upstream covers only through TestProvision.
const extraCases: Record<string, Case> = {
  'default pair applies to a type without own keys': {
    type: 'controllerExpand',
    params: { [`${P}secret-name`]: 'shared', [`${P}secret-namespace`]: 'kube-system' },
    ref: { name: 'shared', namespace: 'kube-system' },
  },
  'own keys win over the default pair': {
    type: 'nodeStage',
    params: {
      [`${P}secret-name`]: 'shared',
      [`${P}secret-namespace`]: 'kube-system',
      [`${P}node-stage-secret-name`]: 'stage',
      [`${P}node-stage-secret-namespace`]: 'ns',
    },
    ref: { name: 'stage', namespace: 'ns' },
  },
  'default pair with templates': {
    type: 'provisioner',
    params: { [`${P}secret-name`]: '${pvc.name}-creds', [`${P}secret-namespace`]: '${pvc.namespace}' },
    claim: { name: 'data', namespace: 'team-a' },
    ref: { name: 'data-creds', namespace: 'team-a' },
  },
  'incomplete default pair': {
    type: 'nodeExpand',
    params: { [`${P}secret-name`]: 'shared' },
    error:
      'failed to get default name and namespace template from params: either name and namespace for Default secrets specified, Both must be specified',
  },
  'invalid default template': {
    type: 'provisioner',
    params: { [`${P}secret-name`]: '${pvc.uid}', [`${P}secret-namespace`]: 'ns' },
    claim: { name: 'data', namespace: 'team-a' },
    error: 'error resolving value "${pvc.uid}": invalid tokens: ["pvc.uid"]',
  },
  'controller-modify keys': {
    type: 'controllerModify',
    params: { [`${P}controller-modify-secret-name`]: 'mod', [`${P}controller-modify-secret-namespace`]: 'ns' },
    ref: { name: 'mod', namespace: 'ns' },
  },
  'node-expand keys have no deprecated alias': {
    type: 'nodeExpand',
    params: { csiNodeExpandSecretName: 'x', csiNodeExpandSecretNamespace: 'y' },
    ref: undefined,
  },
  'pvc.name is not allowed in the namespace': {
    type: 'nodeStage',
    params: { csiNodeStageSecretName: 'n', csiNodeStageSecretNamespace: '${pvc.name}' },
    claim: { name: 'data', namespace: 'team-a' },
    error: 'error resolving value "${pvc.name}": invalid tokens: ["pvc.name"]',
  },
  'annotations are not allowed in the namespace': {
    type: 'nodeStage',
    params: { csiNodeStageSecretName: 'n', csiNodeStageSecretNamespace: "${pvc.annotations['ns']}" },
    claim: { name: 'data', namespace: 'team-a', annotations: { ns: 'x' } },
    error: `error resolving value "\${pvc.annotations['ns']}": invalid tokens: ["pvc.annotations['ns']"]`,
  },
  'missing annotation is named': {
    type: 'nodePublish',
    params: { [nodePublishName]: "${pvc.annotations['example.com/secret']}", [nodePublishNamespace]: 'ns' },
    claim: { name: 'data', namespace: 'team-a', annotations: {} },
    error: `error resolving value "\${pvc.annotations['example.com/secret']}": invalid tokens: ["pvc.annotations['example.com/secret']"]`,
  },
  'without a claim only pv.name resolves (delete fallback)': {
    type: 'provisioner',
    params: { [provisionerName]: '${pvc.name}', [provisionerNamespace]: '${pvc.namespace}' },
    pvName: 'pv-1',
    error: 'error resolving value "${pvc.namespace}": invalid tokens: ["pvc.namespace"]',
  },
  'pv.name without a claim': {
    type: 'provisioner',
    params: { [provisionerName]: '${pv.name}', [provisionerNamespace]: 'ns' },
    pvName: 'pvc-123',
    ref: { name: 'pvc-123', namespace: 'ns' },
  },
  'all unknown tokens are listed, sorted': {
    type: 'nodePublish',
    params: { [nodePublishName]: '${zeta}-${alpha}-${zeta}', [nodePublishNamespace]: 'ns' },
    claim: emptyClaim,
    error: 'invalid tokens: ["alpha" "zeta"]',
  },
  'resolved name that is not a DNS subdomain': {
    type: 'nodePublish',
    params: { [nodePublishName]: "${pvc.annotations['s']}", [nodePublishNamespace]: 'ns' },
    claim: { name: 'data', namespace: 'team-a', annotations: { s: 'Not_Valid' } },
    error: `"\${pvc.annotations['s']}" resolved to "Not_Valid" which is not a valid secret name`,
  },
  'resolved namespace that is not a DNS label': {
    type: 'nodePublish',
    params: { [nodePublishName]: 'n', [nodePublishNamespace]: '${pv.name}.x' },
    pvName: 'pv',
    error: '"${pv.name}.x" resolved to "pv.x" which is not a valid namespace name',
  },
  'dotted secret names are fine': {
    type: 'nodePublish',
    params: { [nodePublishName]: 'a.b-c', [nodePublishNamespace]: 'ns' },
    ref: { name: 'a.b-c', namespace: 'ns' },
  },
  'empty prefixed value': {
    type: 'controllerPublish',
    params: { [`${P}controller-publish-secret-name`]: 'n', [`${P}controller-publish-secret-namespace`]: '' },
    error: 'ControllerPublish secrets specified in parameters but value of either namespace or name is empty',
  },
};

describe('getSecretReference', () => {
  it.each(Object.entries({ ...upstreamCases, ...extraCases }))('%s', (_name, tc) => {
    const act = () =>
      getSecretReference({ type: tc.type, parameters: tc.params, pvName: tc.pvName ?? '', claim: tc.claim });
    if (tc.error !== undefined) {
      expect(act).toThrow(tc.error);
    } else {
      expect(act()).toEqual(tc.ref);
    }
  });

  it('warns about each deprecated key it reads', () => {
    const warnings: string[] = [];
    getSecretReference({
      type: 'provisioner',
      parameters: { csiProvisionerSecretName: 'n', csiProvisionerSecretNamespace: 'ns' },
      pvName: 'pv',
      warn: (m) => warnings.push(m),
    });
    expect(warnings).toEqual([
      '"csiProvisionerSecretName" is deprecated and will be removed in a future release, please use "csi.storage.k8s.io/provisioner-secret-name" instead',
      '"csiProvisionerSecretNamespace" is deprecated and will be removed in a future release, please use "csi.storage.k8s.io/provisioner-secret-namespace" instead',
    ]);
  });
});

describe('getSecretReferences', () => {
  it('resolves every type, falling back to the default pair', () => {
    const refs = getSecretReferences({
      parameters: {
        [`${P}secret-name`]: 'shared',
        [`${P}secret-namespace`]: 'ns',
        [provisionerName]: 'prov',
        [provisionerNamespace]: 'ns',
      },
      pvName: 'pv',
    });
    expect(refs).toEqual({
      provisioner: { name: 'prov', namespace: 'ns' },
      controllerPublish: { name: 'shared', namespace: 'ns' },
      nodeStage: { name: 'shared', namespace: 'ns' },
      nodePublish: { name: 'shared', namespace: 'ns' },
      controllerExpand: { name: 'shared', namespace: 'ns' },
      nodeExpand: { name: 'shared', namespace: 'ns' },
      controllerModify: { name: 'shared', namespace: 'ns' },
    });
  });

  it('reports the first failing type in upstream order', () => {
    expect(() =>
      getSecretReferences({
        parameters: { [`${P}node-expand-secret-name`]: 'x', [`${P}node-stage-secret-name`]: 'y' },
        pvName: 'pv',
      }),
    ).toThrow('for NodeStage secrets');
  });

  it('returns no references for a class without secrets', () => {
    expect(Object.values(getSecretReferences({ parameters: { foo: 'bar' }, pvName: 'pv' }))).toEqual(
      Array(7).fill(undefined),
    );
  });
});

describe('resolveTemplate (Go os.Expand rules)', () => {
  const params = { 'pv.name': 'pv1', 'pvc.name': 'claim', x: 'X' };
  it.each([
    ['plain', 'plain'],
    ['${pv.name}', 'pv1'],
    ['a-${pvc.name}-b', 'a-claim-b'],
    ['$x-y', 'X-y'],
    ['trailing$', 'trailing$'],
    ['$/slash', '$/slash'],
    ['${}gone', 'gone'],
    ['open${', 'open'],
  ])('%j → %j', (template, expected) => {
    expect(resolveTemplate(template, params)).toBe(expected);
  });

  it('reads $name only up to the first non-identifier character, so "$pv.name" asks for "pv"', () => {
    expect(() => resolveTemplate('$pv.name', params)).toThrow('invalid tokens: ["pv"]');
  });

  it('treats a special character after $ as a one-character name', () => {
    expect(() => resolveTemplate('a$1b', params)).toThrow('invalid tokens: ["1"]');
  });
});

describe('DNS-1123 checks', () => {
  it.each([
    ['ns', true],
    ['a-b-1', true],
    ['A', false],
    ['-a', false],
    ['a.b', false],
    ['a'.repeat(63), true],
    ['a'.repeat(64), false],
    ['', false],
  ])('label %j → %s', (value, ok) => {
    expect(isDns1123Label(value)).toBe(ok);
  });

  it.each([
    ['a.b.c', true],
    ['a..b', false],
    ['a_b', false],
    ['a.', false],
    [`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`, true],
    [`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}`, false],
  ])('subdomain %j → %s', (value, ok) => {
    expect(isDns1123Subdomain(value)).toBe(ok);
  });
});

describe('key lists', () => {
  it('lists the 16 reserved secret keys and the 8 deprecated ones', () => {
    expect(reservedSecretKeys).toHaveLength(16);
    expect(reservedSecretKeys).toContain('csi.storage.k8s.io/secret-namespace');
    expect(reservedSecretKeys).toContain('csi.storage.k8s.io/controller-modify-secret-name');
    expect(deprecatedSecretKeys).toEqual([
      'csiProvisionerSecretName',
      'csiProvisionerSecretNamespace',
      'csiControllerPublishSecretName',
      'csiControllerPublishSecretNamespace',
      'csiNodeStageSecretName',
      'csiNodeStageSecretNamespace',
      'csiNodePublishSecretName',
      'csiNodePublishSecretNamespace',
    ]);
  });
});
