import { describe, expect, it } from 'vitest';
import { leaseNamespace, parseLeaderElectionLabels, sanitizeLeaseName } from './lease-config.js';

describe('sanitizeLeaseName', () => {
  it.each([
    ['hostpath.csi.k8s.io', 'hostpath-csi-k8s-io'],
    ['external-attacher-leader-hostpath.csi.k8s.io', 'external-attacher-leader-hostpath-csi-k8s-io'],
    ['csi_driver/v1', 'csi-driver-v1'],
    ['driver.', 'driver-X'],
    ['driver-', 'driver-X'],
    ['Pod-Name-7f9c', 'Pod-Name-7f9c'],
  ])('turns %s into %s', (input, expected) => {
    expect(sanitizeLeaseName(input)).toBe(expected);
  });
});

describe('leaseNamespace', () => {
  const noFile = (): undefined => undefined;

  it('prefers the flag value', () => {
    expect(leaseNamespace('csi', { env: { POD_NAMESPACE: 'pod-ns' }, readFile: () => 'sa-ns' })).toBe('csi');
  });

  it('falls back to POD_NAMESPACE', () => {
    expect(leaseNamespace('', { env: { POD_NAMESPACE: 'pod-ns' }, readFile: () => 'sa-ns' })).toBe('pod-ns');
  });

  it('falls back to the trimmed service account namespace file', () => {
    const read: string[] = [];
    const readFile = (path: string): string => {
      read.push(path);
      return ' sa-ns\n';
    };
    expect(leaseNamespace('', { env: {}, readFile })).toBe('sa-ns');
    expect(read).toEqual(['/var/run/secrets/kubernetes.io/serviceaccount/namespace']);
  });

  it('ends at "default"', () => {
    expect(leaseNamespace('', { env: { POD_NAMESPACE: '' }, readFile: noFile })).toBe('default');
    expect(leaseNamespace('', { env: {}, readFile: () => '  \n' })).toBe('default');
  });
});

describe('parseLeaderElectionLabels', () => {
  it('parses key:value pairs', () => {
    expect(parseLeaderElectionLabels('my-label:my-value,team:storage')).toEqual({
      'my-label': 'my-value',
      team: 'storage',
    });
  });

  it('keeps empty values and the last of repeated keys', () => {
    expect(parseLeaderElectionLabels('a:,a:2,b:')).toEqual({ a: '2', b: '' });
  });

  it('treats an empty value as no labels', () => {
    expect(parseLeaderElectionLabels('')).toEqual({});
  });

  it.each(['novalue', 'a:b:c', 'a:b,', 'example.com/x=y'])('rejects %s', (value) => {
    expect(() => parseLeaderElectionLabels(value)).toThrow(/malformed item in list of labels/);
  });
});
