/**
 * Group fan-out: each interest group's patch frame leaves the room once, as a uWebSockets.js topic
 * publication, instead of one JavaScript `send` per client.
 *
 * Colyseus's own patch loop encodes each distinct view once but still calls `client.raw` (a uWS
 * `ws.send`: a native call and a socket write, done there and then) for every client, so a room's frame
 * grew with its clients even when a cell's clients all got the same bytes. Here every client that holds a
 * group's shared view (`InterestManager.topicOf`) is subscribed to that group's topic, and the group's
 * frame is published once; uWS copies it to each subscriber in native code and writes the sockets when
 * the event loop drains (right after the room's timer callback, in the same loop iteration), every
 * socket's pending frames in one write. Clients holding a view of their own (moving between cells this
 * patch) and clients on another transport get their frame by `client.raw` as before.
 *
 * Every client still receives exactly the bytes Colyseus would have sent it: the frame of the view it
 * holds. Subscriptions are reconciled lazily, at each patch, against the view each joined client holds
 * then (a client that is not yet joined — its full state not yet sent — is never subscribed), so no
 * membership event can leave a client on a stale topic for a patch.
 */
import { ClientState, Protocol, SchemaSerializer, type Client } from '@colyseus/core';
import type { Schema, StateView } from '@colyseus/schema';
import { countFannedOut } from '../observability/metrics.ts';

/** Publishes a frame to every socket subscribed to a topic (the uWebSockets.js app's `publish`). */
export type Publish = (topic: string, frame: Uint8Array) => boolean;

/** The part of a uWebSockets.js WebSocket the fan-out uses. */
interface TopicSocket {
  subscribe(topic: string): boolean;
  unsubscribe(topic: string): boolean;
}

/** Per-client fan-out state, kept on the Colyseus client object. */
const SUBSCRIBED = Symbol('worldmind.fanoutTopic');
type FanOutClient = Client & { [SUBSCRIBED]?: { socket: TopicSocket; topic: string } };

/** The open uWS socket under a Colyseus client, when its transport is uWebSockets.js. */
function socketOf(client: Client): TopicSocket | undefined {
  const c = client as unknown as { readyState?: number; ref?: { ws?: Partial<TopicSocket> } };
  if (c.readyState !== 1) return undefined;
  const ws = c.ref?.ws;
  return ws && typeof ws.subscribe === 'function' && typeof ws.unsubscribe === 'function' ? (ws as TopicSocket) : undefined;
}

/** Counters of the fan-out, cumulative: publications, the client frames they carried, and frames sent one by one. */
export interface FanOutStats {
  published: number;
  fannedOut: number;
  direct: number;
}

export class GroupFanOutSerializer<T extends Schema> extends SchemaSerializer<T> {
  readonly stats: FanOutStats = { published: 0, fannedOut: 0, direct: 0 };
  readonly #publish: Publish;
  readonly #topicOf: (view: StateView) => string | undefined;
  /** This patch: each group view that has subscribers, with its topic and the clients subscribed to it. */
  readonly #groups = new Map<StateView, { topic: string; clients: Client[] }>();
  readonly #noView = {} as StateView;

  constructor(publish: Publish, topicOf: (view: StateView) => string | undefined) {
    super();
    this.#publish = publish;
    this.#topicOf = topicOf;
  }

  override applyPatches(clients: Client[], state?: unknown, timing?: Parameters<SchemaSerializer<T>['applyPatches']>[2]): boolean {
    // Timed frames carry per-client fields; a patch without state changes is Colyseus's rare path.
    if (timing || !this.hasFilters || clients.length === 0 || !this.encoder.hasChanges) {
      return super.applyPatches(clients, state, timing);
    }
    this.needFullEncode = true;
    const it = { offset: 1 };
    this.encoder.sharedBuffer[0] = Protocol.ROOM_STATE_PATCH;
    const shared = this.encoder.encode(it);
    const sharedOffset = it.offset;
    const frames = this.encodedViews;
    const groups = this.#groups;
    const frameOf = (view: StateView | undefined): Uint8Array => {
      const key = view ?? this.#noView;
      let frame = frames.get(key);
      if (frame === undefined) {
        frame = view ? this.encoder.encodeView(view, sharedOffset, it) : shared;
        frames.set(key, frame);
      }
      return frame;
    };
    // Subscriptions first, for every joined client, so no publication below reaches a client holding another view.
    for (let i = 0; i < clients.length; i++) {
      const client = clients[i] as FanOutClient;
      if (client.state !== ClientState.JOINED) continue;
      const view = client.view;
      const topic = view ? this.#topicOf(view) : undefined;
      if (topic !== undefined && this.#subscribe(client, topic)) {
        const group = groups.get(view!);
        if (group) group.clients.push(client);
        else groups.set(view!, { topic, clients: [client] });
        continue;
      }
      this.#unsubscribe(client);
      client.raw(frameOf(view));
      this.stats.direct++;
    }
    for (const [view, group] of groups) {
      const frame = frameOf(view);
      if (this.#publish(group.topic, frame)) {
        this.stats.published++;
        this.stats.fannedOut += group.clients.length;
        countFannedOut(frame, group.clients.length);
      } else {
        // Not published (uWS found no open subscriber): whoever is still open gets it directly.
        for (const client of group.clients) client.raw(frame);
        this.stats.direct += group.clients.length;
      }
    }
    groups.clear();
    frames.clear();
    this.encoder.discardChanges();
    return true;
  }

  /** Subscribes the client's socket to `topic` (leaving its previous one); false when it has no uWS socket. */
  #subscribe(client: FanOutClient, topic: string): boolean {
    const current = client[SUBSCRIBED];
    const socket = socketOf(client);
    if (!socket) return false;
    // (A reconnected client may carry a new socket under the same client object.)
    if (current?.topic === topic && current.socket === socket) return true;
    try {
      if (current) this.#unsubscribe(client);
      socket.subscribe(topic);
    } catch {
      // A socket closed under us: send this client its frame directly (and its leave follows).
      delete client[SUBSCRIBED];
      return false;
    }
    client[SUBSCRIBED] = { socket, topic };
    return true;
  }

  #unsubscribe(client: FanOutClient): void {
    const current = client[SUBSCRIBED];
    if (!current) return;
    delete client[SUBSCRIBED];
    try {
      current.socket.unsubscribe(current.topic);
    } catch {
      // closed: uWS dropped its subscriptions with it
    }
  }
}
