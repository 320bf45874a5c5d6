/**
 * Prefix cache: KV blocks of token prefixes that many requests share (an NPC's persona and instructions) or
 * that a conversation will resend next turn. A request reuses the longest cached prefix of its prompt, so
 * that part is never prefilled again.
 *
 * Lookup walks a token trie (like SGLang's radix tree, one token per edge): every entry registers itself on
 * the nodes of its token path, so the deepest node reached by the prompt that still carries an entry gives
 * the longest reusable prefix — also a *partial* one, since the KV of the first m tokens of any entry is valid
 * for every prompt that shares those m tokens (attention is causal).
 *
 * Bounded by bytes, evicted least-recently-used first; entries in use by running sequences are pinned.
 */
import type { KvBlock } from './kv-cache.ts';

export type PrefixKind = 'shared-prefix' | 'conversation';

export interface PrefixEntry {
  readonly id: number;
  readonly kind: PrefixKind;
  readonly tokens: Int32Array;
  readonly block: KvBlock;
  /** Running sequences currently reading this block: never evicted while > 0. */
  pins: number;
}

export interface PrefixMatch {
  entry: PrefixEntry;
  /** Leading prompt tokens covered by the entry. */
  matched: number;
}

export interface PrefixCacheStats {
  entries: number;
  bytes: number;
  maxBytes: number;
  lookups: number;
  /** Lookups that reused at least one token. */
  hits: number;
  hitRate: number;
  promptTokensLookedUp: number;
  promptTokensReused: number;
  /** Share of looked-up prompt tokens served from the cache. */
  tokenHitRate: number;
  evictions: number;
}

interface TrieNode {
  children: Map<number, TrieNode>;
  /** Entries whose token path passes through (or ends at) this node. */
  entries: Set<PrefixEntry>;
}

function newNode(): TrieNode {
  return { children: new Map(), entries: new Set() };
}

export class PrefixCache {
  readonly maxBytes: number;
  private readonly root: TrieNode = newNode();
  /** Insertion order = recency order (touched entries are re-inserted). */
  private readonly lru = new Map<number, PrefixEntry>();
  private nextId = 1;
  private bytes = 0;
  private lookups = 0;
  private hits = 0;
  private tokensLookedUp = 0;
  private tokensReused = 0;
  private evictions = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  get byteSize(): number {
    return this.bytes;
  }

  get size(): number {
    return this.lru.size;
  }

  /**
   * Longest cached prefix of `tokens`, at most `maxMatch` long (callers keep ≥ 1 prompt token to run so the
   * step yields logits). Counts towards the hit rate and refreshes the entry's recency.
   */
  lookup(tokens: ArrayLike<number>, maxMatch: number): PrefixMatch | null {
    const match = this.peek(tokens, maxMatch);
    this.lookups++;
    this.tokensLookedUp += tokens.length;
    if (match) {
      this.hits++;
      this.tokensReused += match.matched;
      this.touch(match.entry);
    }
    return match;
  }

  /** Like `lookup` without touching statistics or recency. */
  peek(tokens: ArrayLike<number>, maxMatch: number): PrefixMatch | null {
    let node = this.root;
    let matched = 0;
    const limit = Math.min(tokens.length, maxMatch);
    for (; matched < limit; matched++) {
      const child = node.children.get(tokens[matched]!);
      if (!child || child.entries.size === 0) break;
      node = child;
    }
    if (matched === 0) return null;
    // Any entry on the node covers the match; the first one is as good as another.
    const entry = node.entries.values().next().value!;
    return { entry, matched };
  }

  /** The entry holding exactly these tokens, if any. */
  getExact(tokens: ArrayLike<number>): PrefixEntry | null {
    const match = this.peek(tokens, tokens.length);
    if (!match || match.matched !== tokens.length) return null;
    for (const e of this.nodeAt(tokens)?.entries ?? []) if (e.tokens.length === tokens.length) return e;
    return null;
  }

  /**
   * Store a block for `tokens` (block.length must equal tokens.length). Evicts unpinned LRU entries to
   * make room; returns null when it cannot fit even then (the caller keeps using its block privately).
   */
  insert(kind: PrefixKind, tokens: Int32Array, block: KvBlock): PrefixEntry | null {
    if (block.length !== tokens.length) throw new Error(`prefix block has ${block.length} tokens, key has ${tokens.length}`);
    const existing = this.getExact(tokens);
    if (existing) {
      this.touch(existing);
      return existing;
    }
    // Don't evict anything for an insert that can't succeed anyway (pinned entries stay).
    if (this.bytes - this.evictableBytes() + block.byteLength > this.maxBytes) return null;
    this.evictFor(block.byteLength);
    if (this.bytes + block.byteLength > this.maxBytes) return null;
    const entry: PrefixEntry = { id: this.nextId++, kind, tokens, block, pins: 0 };
    let node = this.root;
    for (let i = 0; i < tokens.length; i++) {
      let child = node.children.get(tokens[i]!);
      if (!child) {
        child = newNode();
        node.children.set(tokens[i]!, child);
      }
      child.entries.add(entry);
      node = child;
    }
    this.lru.set(entry.id, entry);
    this.bytes += block.byteLength;
    return entry;
  }

  pin(entry: PrefixEntry): void {
    entry.pins++;
  }

  unpin(entry: PrefixEntry): void {
    if (entry.pins <= 0) throw new Error('prefix entry unpinned more often than pinned');
    entry.pins--;
  }

  /** Remove an entry now (e.g. a conversation entry superseded by the next turn's). Pinned ones stay. */
  remove(entry: PrefixEntry): boolean {
    if (entry.pins > 0 || !this.lru.has(entry.id)) return false;
    this.detach(entry);
    return true;
  }

  /** Evict unpinned entries, oldest first, until `bytesNeeded` more fit. Returns bytes freed. */
  evictFor(bytesNeeded: number): number {
    let freed = 0;
    for (const entry of [...this.lru.values()]) {
      if (this.bytes + bytesNeeded <= this.maxBytes) break;
      if (entry.pins > 0) continue;
      freed += entry.block.byteLength;
      this.detach(entry);
      this.evictions++;
    }
    return freed;
  }

  /** Evict unpinned entries, oldest first, until at least `bytes` are freed (or nothing is left to evict). */
  shrinkBy(bytes: number): number {
    let freed = 0;
    for (const entry of [...this.lru.values()]) {
      if (freed >= bytes) break;
      if (entry.pins > 0) continue;
      freed += entry.block.byteLength;
      this.detach(entry);
      this.evictions++;
    }
    return freed;
  }

  /** Bytes held by entries nobody is using right now (what eviction could give back). */
  evictableBytes(): number {
    let n = 0;
    for (const e of this.lru.values()) if (e.pins === 0) n += e.block.byteLength;
    return n;
  }

  /** Drop every unpinned entry. */
  clear(): void {
    for (const entry of [...this.lru.values()]) if (entry.pins === 0) this.detach(entry);
  }

  stats(): PrefixCacheStats {
    return {
      entries: this.lru.size,
      bytes: this.bytes,
      maxBytes: this.maxBytes,
      lookups: this.lookups,
      hits: this.hits,
      hitRate: this.lookups === 0 ? 0 : this.hits / this.lookups,
      promptTokensLookedUp: this.tokensLookedUp,
      promptTokensReused: this.tokensReused,
      tokenHitRate: this.tokensLookedUp === 0 ? 0 : this.tokensReused / this.tokensLookedUp,
      evictions: this.evictions,
    };
  }

  private touch(entry: PrefixEntry): void {
    this.lru.delete(entry.id);
    this.lru.set(entry.id, entry);
  }

  private nodeAt(tokens: ArrayLike<number>): TrieNode | null {
    let node = this.root;
    for (let i = 0; i < tokens.length; i++) {
      const child = node.children.get(tokens[i]!);
      if (!child) return null;
      node = child;
    }
    return node;
  }

  private detach(entry: PrefixEntry): void {
    this.lru.delete(entry.id);
    this.bytes -= entry.block.byteLength;
    // Walk the path, dropping the entry and pruning nodes no entry passes through any more.
    let node = this.root;
    for (let i = 0; i < entry.tokens.length; i++) {
      const token = entry.tokens[i]!;
      const child = node.children.get(token);
      if (!child) break;
      child.entries.delete(entry);
      if (child.entries.size === 0) {
        node.children.delete(token);
        break;
      }
      node = child;
    }
  }
}
