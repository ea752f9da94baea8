export interface LruCacheOptions {
  /** Entries kept; adding one more forgets the least recently used. */
  maxEntries: number;
}

/** A fixed-size map that forgets the least recently used entry, like groupcache's lru used by client-go. */
export class LruCache<K, V> {
  private readonly maxEntries: number;
  private readonly entries = new Map<K, V>();

  constructor(options: LruCacheOptions) {
    this.maxEntries = options.maxEntries;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      // Map keeps insertion order: re-inserting marks the entry most recent.
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  add(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }
}
