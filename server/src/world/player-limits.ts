/**
 * Limits per player, not per connection: every rate limit and cooldown is keyed by the account id and
 * lives for the whole server (all rooms), so leaving and rejoining, switching shards or opening
 * parallel sessions never refills a bucket. A bucket idle long enough to be full again is dropped
 * (equivalent to a new one), which bounds memory by the players active recently.
 */
import type { ServerConfig } from '../config.ts';
import { TokenBucket } from './rate-limiter.ts';

const SWEEP_INTERVAL_MS = 60_000;

/** Token buckets by key, created full on first use. */
export class KeyedBuckets {
  readonly #buckets = new Map<string, TokenBucket>();
  #lastSweep = 0;

  constructor(readonly burst: number, readonly perSecond: number) {}

  /** Takes one token from `key`'s bucket; false when it is empty. */
  tryTake(key: string, now = Date.now()): boolean {
    this.#sweep(now);
    let bucket = this.#buckets.get(key);
    if (!bucket) this.#buckets.set(key, (bucket = new TokenBucket(this.burst, this.perSecond, now)));
    return bucket.tryTake(now);
  }

  /** Seconds until `key` has a token again (0 when it has one now). */
  retryAfterS(key: string, now = Date.now()): number {
    return this.#buckets.get(key)?.secondsUntilToken(now) ?? 0;
  }

  get size(): number {
    return this.#buckets.size;
  }

  #sweep(now: number): void {
    if (now - this.#lastSweep < SWEEP_INTERVAL_MS) return;
    this.#lastSweep = now;
    for (const [key, bucket] of this.#buckets) if (bucket.isFull(now)) this.#buckets.delete(key);
  }
}

/** Expiring marks by key (cooldowns). */
export class Cooldowns {
  readonly #until = new Map<string, number>();
  #lastSweep = 0;

  active(key: string, now = Date.now()): boolean {
    return (this.#until.get(key) ?? 0) > now;
  }

  start(key: string, durationMs: number, now = Date.now()): void {
    this.#sweep(now);
    if (durationMs > 0) this.#until.set(key, now + durationMs);
  }

  #sweep(now: number): void {
    if (now - this.#lastSweep < SWEEP_INTERVAL_MS) return;
    this.#lastSweep = now;
    for (const [key, until] of this.#until) if (until <= now) this.#until.delete(key);
  }
}

/** Every per-player limit of the server, keyed by account id. */
export class PlayerLimits {
  readonly chat: KeyedBuckets;
  readonly talk: KeyedBuckets;
  readonly ratings: KeyedBuckets;
  readonly joins: KeyedBuckets;
  /** NPC gifts: key `npcId|accountId`. */
  readonly gives = new Cooldowns();

  constructor(config: Pick<ServerConfig, 'CHAT_BURST' | 'CHAT_PER_SECOND' | 'TALK_BURST' | 'TALK_PER_SECOND' | 'RATING_BURST' | 'RATING_PER_SECOND' | 'JOIN_BURST' | 'JOIN_PER_MINUTE'>) {
    this.chat = new KeyedBuckets(config.CHAT_BURST, config.CHAT_PER_SECOND);
    this.talk = new KeyedBuckets(config.TALK_BURST, config.TALK_PER_SECOND);
    this.ratings = new KeyedBuckets(config.RATING_BURST, config.RATING_PER_SECOND);
    this.joins = new KeyedBuckets(config.JOIN_BURST, config.JOIN_PER_MINUTE / 60);
  }
}
