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
 * A conversation entry that extends a cached shared prefix stores only the tokens after it: `parent` points
 * at the shared-prefix entry and `block` holds the suffix (`start` = the parent's length), so a persona's KV
 * is stored once however many conversations with that NPC are kept. `spansFor` turns a match into the KV
 * spans to read (parent head + suffix part).
 *
 * Bounded by bytes (each block counted once), evicted least-recently-used first; entries in use by running
 * sequences are pinned. A family stays consistent: pinning a child pins its ancestors, touching a child
 * touches its ancestors after it (so a parent is never older than its children and LRU order reaches the
 * children first), and removing or evicting a parent drops its (then necessarily unpinned) children with it.
 */
import type { KvBlock, KvSpan } from './kv-cache.ts';

export type PrefixKind = 'shared-prefix' | 'conversation';

export interface PrefixEntry {
  readonly id: number;
  readonly kind: PrefixKind;
  /** Every token the entry covers, from the start of the prompt (the parent's tokens included). */
  readonly tokens: Int32Array;
  /** KV of tokens[start..]: the whole entry without a parent, only the suffix with one. */
  readonly block: KvBlock;
  /** Entry holding the KV of tokens[0..start), or null (then start = 0). */
  readonly parent: PrefixEntry | null;
  /** First token whose KV is in `block` (= parent.tokens.length). */
  readonly start: number;
  /** Entries whose KV continues this one's. */
  readonly children: Set<PrefixEntry>;
  /** Running sequences reading this block or a descendant's: never evicted while > 0. */
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
    // Any entry on the node covers the match; the first one is as good as another. A match that ends within
    // the parent's tokens is the parent's (the child's suffix is not needed, so it is not pinned either).
    let entry = node.entries.values().next().value!;
    while (entry.parent && matched <= entry.start) entry = entry.parent;
    return { entry, matched };
  }

  /** The KV of the first `matched` tokens of `entry`, as spans in token order (ancestors' blocks first). */
  spansFor(entry: PrefixEntry, matched: number): KvSpan[] {
    if (matched > entry.tokens.length) throw new Error(`match of ${matched} tokens on an entry of ${entry.tokens.length}`);
    const spans: KvSpan[] = [];
    for (let e: PrefixEntry | null = entry; e; e = e.parent) {
      if (matched > e.start) spans.unshift({ block: e.block, count: Math.min(matched, e.tokens.length) - e.start });
    }
    return spans;
  }

  /** Whether the entry is still in the cache (not evicted or removed). */
  has(entry: PrefixEntry): boolean {
    return this.lru.get(entry.id) === entry;
  }

  /** The entry holding exactly these tokens, if any. */
  getExact(tokens: ArrayLike<number>): PrefixEntry | null {
    const match = this.peek(tokens, tokens.length);
    if (!match || match.matched !== tokens.length) return null;
    for (const e of this.nodeAt(tokens)?.entries ?? []) if (e.tokens.length === tokens.length) return e;
    return null;
  }

  /**
   * Store a block for `tokens`. Without `parent` the block holds all of them; with one (an entry in this
   * cache whose tokens start `tokens`) it holds only the tokens after the parent's. Evicts unpinned LRU
   * entries to make room (never the parent); returns null when it cannot fit even then (the caller keeps
   * using its block privately).
   */
  insert(kind: PrefixKind, tokens: Int32Array, block: KvBlock, parent: PrefixEntry | null = null): PrefixEntry | null {
    const start = parent?.tokens.length ?? 0;
    if (parent) {
      if (!this.has(parent)) throw new Error('prefix parent is not in the cache');
      if (tokens.length <= start || parent.tokens.some((t, i) => tokens[i] !== t)) throw new Error('prefix parent does not start the key');
    }
    if (block.length !== tokens.length - start) {
      throw new Error(`prefix block has ${block.length} tokens, key has ${tokens.length} after ${start} in its parent`);
    }
    const existing = this.getExact(tokens);
    if (existing) {
      this.touch(existing);
      return existing;
    }
    // The parent must survive the eviction below.
    if (parent) this.pin(parent);
    try {
      // Don't evict anything for an insert that can't succeed anyway (pinned entries stay).
      if (this.bytes - this.evictableBytes() + block.byteLength > this.maxBytes) return null;
      this.evictFor(block.byteLength);
      if (this.bytes + block.byteLength > this.maxBytes) return null;
    } finally {
      if (parent) this.unpin(parent);
    }
    const entry: PrefixEntry = { id: this.nextId++, kind, tokens, block, parent, start, children: new Set(), pins: 0 };
    parent?.children.add(entry);
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
    if (parent) this.touch(entry); // the parent goes after its new child in recency order
    return entry;
  }

  /** A sequence reads the entry (and so its ancestors' blocks): none of them is evicted until unpinned. */
  pin(entry: PrefixEntry): void {
    for (let e: PrefixEntry | null = entry; e; e = e.parent) e.pins++;
  }

  unpin(entry: PrefixEntry): void {
    for (let e: PrefixEntry | null = entry; e; e = e.parent) {
      if (e.pins <= 0) throw new Error('prefix entry unpinned more often than pinned');
    }
    for (let e: PrefixEntry | null = entry; e; e = e.parent) e.pins--;
  }

  /**
   * Remove an entry now (e.g. a conversation entry superseded by the next turn's), with its children.
   * Pinned ones stay (a pinned child pins its parent).
   */
  remove(entry: PrefixEntry): boolean {
    if (entry.pins > 0 || !this.has(entry)) return false;
    this.detach(entry);
    return true;
  }

  /** Evict unpinned entries, oldest first, until `bytesNeeded` more fit. Returns bytes freed. */
  evictFor(bytesNeeded: number): number {
    let freed = 0;
    for (const entry of [...this.lru.values()]) {
      if (this.bytes + bytesNeeded <= this.maxBytes) break;
      if (entry.pins > 0 || !this.has(entry)) continue;
      freed += this.evict(entry);
    }
    return freed;
  }

  /** Evict unpinned entries, oldest first, until at least `bytes` are freed (or nothing is left to evict). */
  shrinkBy(bytes: number): number {
    let freed = 0;
    for (const entry of [...this.lru.values()]) {
      if (freed >= bytes) break;
      if (entry.pins > 0 || !this.has(entry)) continue;
      freed += this.evict(entry);
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
    for (const entry of [...this.lru.values()]) if (entry.pins === 0 && this.has(entry)) this.detach(entry);
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

  /** Most recent: the entry, then its ancestors after it (a parent is never older than its children). */
  private touch(entry: PrefixEntry): void {
    for (let e: PrefixEntry | null = entry; e; e = e.parent) {
      this.lru.delete(e.id);
      this.lru.set(e.id, e);
    }
  }

  /** Evict one unpinned entry (and its children); returns the bytes freed. */
  private evict(entry: PrefixEntry): number {
    const before = this.bytes;
    this.evictions += this.detach(entry);
    return before - this.bytes;
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

  /** Take an entry and its descendants out (children first); returns how many entries went. */
  private detach(entry: PrefixEntry): number {
    let removed = 1;
    for (const child of [...entry.children]) removed += this.detach(child);
    entry.parent?.children.delete(entry);
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
    return removed;
  }
}
