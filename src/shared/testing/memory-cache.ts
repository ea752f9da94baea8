import type { CacheReader } from '../kube/cache.js';

interface Named {
  metadata?: { name?: string; namespace?: string };
}

/**
 * A CacheReader over a plain map for controller tests. Unlike the informer
 * Store it takes client-node model types as they are (their Date timestamps
 * do not fit KubeObject). No indexes are registered.
 */
export class MemoryCache<T extends Named> implements CacheReader<T> {
  private readonly items = new Map<string, T>();

  constructor(objects: readonly T[] = []) {
    for (const obj of objects) this.set(obj);
  }

  set(obj: T): this {
    this.items.set(keyOf(obj), obj);
    return this;
  }

  delete(key: string): void {
    this.items.delete(key);
  }

  get(key: string): T | undefined {
    return this.items.get(key);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  byIndex(indexName: string): T[] {
    throw new Error(`index ${indexName} is not registered`);
  }
}

function keyOf(obj: Named): string {
  const name = obj.metadata?.name ?? '';
  const namespace = obj.metadata?.namespace;
  return namespace ? `${namespace}/${name}` : name;
}
