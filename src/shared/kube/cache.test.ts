import { describe, expect, it } from 'vitest';
import { Logger } from '../log/logger.js';
import { objectKey, splitKey, Store, stripManagedFields } from './cache.js';
import type { KubeObject } from './cache.js';

describe('object keys', () => {
  it('are namespace/name for namespaced objects and name for cluster-scoped ones', () => {
    expect(objectKey({ metadata: { name: 'claim', namespace: 'ns' } })).toBe('ns/claim');
    expect(objectKey({ metadata: { name: 'pv-1' } })).toBe('pv-1');
    expect(splitKey('ns/claim')).toEqual({ namespace: 'ns', name: 'claim' });
    expect(splitKey('pv-1')).toEqual({ namespace: '', name: 'pv-1' });
  });
});

describe('stripManagedFields', () => {
  it('removes managedFields and keeps the rest of the metadata', () => {
    const obj: KubeObject = {
      kind: 'PersistentVolume',
      metadata: { name: 'pv', resourceVersion: '7', labels: { a: 'b' }, managedFields: [{ manager: 'x' }] },
    };
    expect(stripManagedFields(obj)).toEqual({
      kind: 'PersistentVolume',
      metadata: { name: 'pv', resourceVersion: '7', labels: { a: 'b' } },
    });
  });

  it('returns objects without managedFields untouched', () => {
    const obj: KubeObject = { metadata: { name: 'pv' } };
    const metadata = obj.metadata;
    expect(stripManagedFields(obj).metadata).toBe(metadata);
  });
});

describe('Store', () => {
  const lines: Record<string, unknown>[] = [];
  const logger = new Logger({ format: 'json', sink: (l) => lines.push(JSON.parse(l)) });
  const node = (name: string, ...zones: string[]): KubeObject => ({
    metadata: { name, labels: Object.fromEntries(zones.map((z) => [`zone-${z}`, 'true'])) },
  });
  const byZone = (obj: KubeObject): string[] =>
    Object.keys(obj.metadata?.labels ?? {}).map((label) => label.replace('zone-', ''));

  it('indexes an object under every value its index function returns and moves it on update', () => {
    const store = new Store<KubeObject>({ indexers: { zone: byZone }, logger });
    store.set('n1', node('n1', 'a', 'b'));
    store.set('n2', node('n2', 'b'));
    expect(store.byIndex('zone', 'b').map(objectKey)).toEqual(['n1', 'n2']);

    const old = store.set('n1', node('n1', 'c'));
    expect(old && byZone(old)).toEqual(['a', 'b']);
    expect(store.byIndex('zone', 'a')).toEqual([]);
    expect(store.byIndex('zone', 'b').map(objectKey)).toEqual(['n2']);
    expect(store.byIndex('zone', 'c').map(objectKey)).toEqual(['n1']);

    store.delete('n2');
    expect(store.byIndex('zone', 'b')).toEqual([]);
    expect(store.size).toBe(1);
    expect(store.delete('missing')).toBeUndefined();
  });

  it('stores an object whose index function throws and logs the failure', () => {
    const store = new Store<KubeObject>({
      indexers: {
        broken: () => {
          throw new Error('index bug');
        },
      },
      logger,
    });
    store.set('n1', node('n1'));
    expect(store.get('n1')).toBeDefined();
    expect(store.byIndex('broken', 'x')).toEqual([]);
    expect(lines.at(-1)).toMatchObject({ msg: 'Index function failed', err: 'index bug', index: 'broken', key: 'n1' });
  });
});
