/**
 * Area of interest with shared views: what each client receives, and how often.
 *
 * Clients are grouped by interest cell. Every client whose avatar stands in one cell holds the same
 * Colyseus `StateView` (the cell's group view), which holds every body whose cell is in the cell's
 * neighbourhood — so Colyseus encodes one view per occupied cell per patch, not one per player.
 *
 * Cells are sticky: a body keeps its cell until it is `margin` past the cell's edge, so walking along an
 * edge moves nobody between groups and nothing flickers. The neighbourhood is every cell whose rectangle
 * comes within `radius + 2√2·margin` of the group's cell, so a client always sees at least everything
 * within `radius` of itself, and always its own avatar (its own cell is in its neighbourhood).
 *
 * Per patch (`refresh`, before the patch is encoded): publish each body's wire pose, move bodies whose
 * cell changed between the groups that see them (O(changes × neighbourhood cells)), and move clients
 * whose cell changed to their new group through a one-patch transition view that adds what they newly
 * see and removes what they no longer see relative to what they had. After the patch (`afterPatch`) the
 * transition views are recycled and the clients hold their new group's view.
 *
 * Level of detail: a body's motion (its wire pose and `anim`) reaches groups far from it only every
 * `every`-th patch (the tier of the cell distance; a client's own cell is every patch), by hiding the
 * body from those groups' views for the patches that are not the tier's. Each body keeps, per tier, the
 * motion fields that tier missed and re-sends them on the tier's next patch, so a client never holds a
 * mix of old and new fields and nothing is staler than the slowest tier's period. A body whose other
 * fields change (a name, `connected`, speech) or that changes cell goes to every tier at once.
 */
import { $changes, $refId, OPERATION, StateView, type ChangeTree } from '@colyseus/schema';
import { CM_PER_UNIT, MAX_WIRE_COORDINATE, publishPose, type PoseSource } from '@worldmind/shared';
import { CellTable } from './spatial-grid.ts';

/** A replicated body: an Avatar or Npc schema instance, already attached to the room's state. */
export type Replicated = PoseSource;

/** What holds a client's view: a Colyseus client. */
export interface ViewHolder {
  view?: StateView;
}

/** Level of detail: bodies whose cell is at most `within` world units from the group's cell (edge to edge) move every `every` patches. */
export interface LodTier {
  within: number;
  every: number;
}

export interface InterestOptions {
  /** Radius every client is guaranteed to see around itself; `null` replicates everything to everyone (full sync). */
  radius: number | null;
  /** Interest cell size (default radius / 5: tight neighbourhoods; fewer, larger cells share more but send more). */
  cellSize?: number;
  /** How far past its cell's edge a body goes before it changes cell (default cellSize / 8). */
  margin?: number;
  /**
   * Level-of-detail tiers by cell distance, nearest first; `every` values must be powers of two; the
   * client's own cell is always every patch. Default: the ring around it every 2nd patch, up to radius / 3
   * every 4th, beyond every 16th (clients dead-reckon between: velocity travels with the pose). Chosen
   * with the crowd of bench:world.
   */
  lod?: LodTier[];
  /** Map bounds, checked against the int16-centimetre wire range. */
  bounds?: { minX: number; minZ: number; maxX: number; maxZ: number };
  /**
   * Prefix of the groups' fan-out topics (`topicOf`): topics are process-wide (one uWebSockets.js app
   * serves every room), so each room passes its own. Default 'aoi/'.
   */
  topicPrefix?: string;
}

interface Body {
  entity: Replicated;
  tree: ChangeTree;
  /** The state's trees above this body (its map and the root): a view that shows it must show them. */
  ancestors: ChangeTree[];
  /** The body's tree and its nested collections' (an avatar's inventory), marked and cleared together. */
  trees: ChangeTree[];
  cx: number;
  cz: number;
  /** Sticky cell the body moves to in this refresh (set only while it is pending). */
  nextCx: number;
  nextCz: number;
  phase: number;
  /** Field index of each motion bit (MOTION_FIELDS order; -1 where the body has no such field). */
  motionIndexes: number[];
  otherIndexes: number[];
  animIndex: number;
  /** Motion bits that changed in this patch. */
  changed: number;
  /** Per level-of-detail tier (every > 1): motion bits that changed while the body was hidden from that tier. */
  held: number[];
  /** Patch number this body was last handled by level of detail (visited once per patch). */
  handled: number;
  /** Patch number this body last changed cell. */
  recelled: number;
  /** The groups whose views hold this body (level of detail hides it from some of them). */
  seenBy: Set<Group>;
  observer: Observer | undefined;
}

interface Group {
  cx: number;
  cz: number;
  view: StateView;
  /** Fan-out topic of this group's frame: unique to the group (a pooled view gets a new one with its next group). */
  topic: string;
  visible: Set<Body>;
  members: Set<Observer>;
  /** Transition views of clients entering this group this patch: they follow its membership changes. */
  incoming: Transition[];
  /** Bodies that left the state since the last patch: their removal reaches this group's clients with this patch. */
  departed: Body[];
}

interface Observer {
  sessionId: string;
  holder: ViewHolder;
  body: Body;
  group: Group;
  transition: Transition | undefined;
}

interface Transition {
  view: StateView;
  /** Every body whose trees the view may have marked (for an exact release). */
  bodies: Body[];
}

/** Fields whose changes level of detail may hold back, by bit: publishPose's PoseField bits, then anim. */
const MOTION_FIELDS = ['xCm', 'zCm', 'headingByte', 'vxCm', 'vzCm', 'anim'] as const;
const ANIM_BIT = 1 << 5;

export class InterestManager {
  readonly #radius: number | null;
  readonly #cellSize: number;
  readonly #margin: number;
  /** Neighbourhood offsets: `every` by packed (dx, dz) offset, 0 outside the neighbourhood. */
  readonly #offsetEvery: Int32Array;
  readonly #offsets: { dx: number; dz: number; every: number }[] = [];
  /** Distinct `every` values above 1, nearest first: each body keeps held-back motion per tier. */
  readonly #tiers: number[];
  readonly #reach: number;
  readonly #enterDistance: number;
  readonly #maxEvery: number;
  readonly #bodies = new Map<Replicated, Body>();
  /** Bodies by their (sticky) cell. */
  readonly #cells: CellTable<Set<Body>>;
  readonly #groups: CellTable<Group>;
  readonly #observers = new Map<string, Observer>();
  readonly #owed = new Set<Body>();
  /** Recycled views, their visibility bits cleared (a view's id is kept, so reuse costs nothing). */
  readonly #pool: StateView[] = [];
  /** Full sync: one view with every body, held by every client. */
  readonly #everyone: { view: StateView; visible: Set<Body>; topic: string } | undefined;
  /** Live groups by their view, for `topicOf`. */
  readonly #byView = new Map<StateView, Group>();
  readonly #topicPrefix: string;
  #groupSeq = 0;
  // Scratch state of the current patch, reused (no allocation per body per patch).
  readonly #moved: Body[] = [];
  readonly #recelled: Body[] = [];
  readonly #hidden: { view: StateView; tree: ChangeTree }[] = [];
  #hiddenCount = 0;
  readonly #transitions: Observer[] = [];
  /** Groups with transitions or departures this patch (cleared after it). */
  readonly #touched: Group[] = [];
  #patch = 0;
  #seq = 0;

  constructor(options: InterestOptions) {
    const b = options.bounds;
    if (b && Math.max(-b.minX, -b.minZ, b.maxX, b.maxZ) > MAX_WIRE_COORDINATE) {
      throw new RangeError(`map bounds exceed the wire range (±${MAX_WIRE_COORDINATE} units, int16 centimetres)`);
    }
    this.#radius = options.radius;
    const radius = options.radius ?? 1;
    this.#cellSize = options.cellSize ?? radius / 5;
    if (!(this.#cellSize > 0)) throw new RangeError(`interest cell size must be > 0, got ${this.#cellSize}`);
    this.#margin = options.margin ?? this.#cellSize / 8;
    const tiers = options.lod ?? [
      { within: 0, every: 2 },
      { within: radius / 3, every: 4 },
      { within: Infinity, every: 16 },
    ];
    this.#maxEvery = Math.max(...tiers.map((t) => t.every));
    for (const t of tiers) {
      if (!(t.every >= 1) || this.#maxEvery % t.every !== 0 || (t.every & (t.every - 1)) !== 0) throw new RangeError(`level-of-detail "every" must be a power of two, got ${t.every}`);
    }
    // (+ two wire roundings: cells follow positions rounded to the centimetre)
    const enter = radius + 2 * Math.SQRT2 * this.#margin + (2 * Math.SQRT2) / CM_PER_UNIT;
    this.#enterDistance = enter;
    const reach = 1 + Math.ceil(enter / this.#cellSize);
    this.#reach = reach;
    const side = 2 * reach + 1;
    this.#offsetEvery = new Int32Array(side * side);
    for (let dx = -reach; dx <= reach; dx++) {
      for (let dz = -reach; dz <= reach; dz++) {
        const gap = this.#cellSize * Math.hypot(Math.max(Math.abs(dx) - 1, 0), Math.max(Math.abs(dz) - 1, 0));
        if (gap > enter) continue;
        // A client's own cell is always at full rate (its own avatar and whoever stands beside it).
        const every = dx === 0 && dz === 0 ? 1 : (tiers.find((t) => gap <= t.within)?.every ?? this.#maxEvery);
        this.#offsetEvery[(dx + reach) * side + (dz + reach)] = every;
        this.#offsets.push({ dx, dz, every });
      }
    }
    this.#tiers = [...new Set(this.#offsets.map((o) => o.every).filter((e) => e > 1))].sort((a, b) => a - b);
    const cells = (v: number) => Math.floor(v / this.#cellSize);
    const table = <T>() => (b ? new CellTable<T>(cells(b.minX) - 1, cells(b.minZ) - 1, cells(b.maxX) + 1, cells(b.maxZ) + 1) : new CellTable<T>(0, 0, -1, -1));
    this.#groups = table();
    this.#cells = table();
    this.#topicPrefix = options.topicPrefix ?? 'aoi/';
    this.#everyone = options.radius === null ? { view: new StateView(), visible: new Set(), topic: `${this.#topicPrefix}all` } : undefined;
  }

  get fullSync(): boolean {
    return this.#radius === null;
  }

  /** The farthest a body can be from a client and still be in its view (its cell's neighbourhood); `radius` is the nearest it can be and not. */
  get farthestVisible(): number {
    return this.#enterDistance + 2 * Math.SQRT2 * (this.#cellSize + 2 * this.#margin);
  }

  /** Groups (distinct shared views) right now: the encode passes per patch, for metrics and tests. */
  get groupCount(): number {
    return this.#everyone ? 1 : this.#groups.size;
  }

  /**
   * The fan-out topic of a view that is a group's shared view right now (every client holding it gets the
   * same frame), or undefined for a transition view or a view no group holds any more.
   */
  topicOf(view: StateView): string | undefined {
    if (this.#everyone) return view === this.#everyone.view ? this.#everyone.topic : undefined;
    return this.#byView.get(view)?.topic;
  }

  /** Start replicating a body (already in the state) to the groups near it, or to everyone in full sync. */
  track(entity: Replicated): void {
    publishPose(entity);
    const tree = treeOf(entity);
    const names = (tree as unknown as { encDescriptor: { names: string[] } }).encDescriptor.names;
    const motionIndexes = MOTION_FIELDS.map((name) => names.indexOf(name));
    const otherIndexes = names.flatMap((name, i) => ((MOTION_FIELDS as readonly string[]).includes(name) ? [] : [i]));
    const trees: ChangeTree[] = [];
    collectTrees(tree, trees);
    const ancestors: ChangeTree[] = [];
    for (let parent = tree.parent; parent; parent = treeOf(parent).parent) ancestors.push(treeOf(parent));
    const cx = Math.floor(entity.xCm / CM_PER_UNIT / this.#cellSize);
    const cz = Math.floor(entity.zCm / CM_PER_UNIT / this.#cellSize);
    const body: Body = { entity, tree, ancestors, trees, cx, cz, nextCx: cx, nextCz: cz, phase: this.#seq++ % this.#maxEvery, motionIndexes, otherIndexes, animIndex: names.indexOf('anim'), changed: 0, held: this.#tiers.map(() => 0), handled: 0, recelled: 0, seenBy: new Set(), observer: undefined };
    this.#bodies.set(entity, body);
    if (this.#everyone) {
      this.#everyone.visible.add(body);
      this.#everyone.view.add(entity as never);
      return;
    }
    this.#cellOf(cx, cz).add(body);
    this.#forEachGroupNear(cx, cz, (g) => this.#enter(g, body));
  }

  /** Forget a body. Its removal from the state itself reaches the clients that could see it. */
  untrack(entity: Replicated): void {
    const body = this.#bodies.get(entity);
    if (!body) return;
    this.#bodies.delete(entity);
    this.#owed.delete(body);
    body.held.fill(0);
    if (this.#everyone) {
      this.#everyone.visible.delete(body);
      return;
    }
    this.#cells.get(body.cx, body.cz)?.delete(body);
    for (const g of body.seenBy) {
      g.visible.delete(body);
      this.#touch(g).departed.push(body);
    }
    body.seenBy.clear();
  }

  /** Attach (or re-attach after a reconnection) a client: it holds the view of its avatar's cell. */
  attach(sessionId: string, holder: ViewHolder, self: Replicated): void {
    this.detach(sessionId);
    const body = this.#bodies.get(self);
    if (!body) throw new Error(`attach: the avatar of ${sessionId} is not tracked`);
    if (this.#everyone) {
      holder.view = this.#everyone.view;
      this.#observers.set(sessionId, { sessionId, holder, body, group: undefined as never, transition: undefined });
      return;
    }
    const group = this.#groups.get(body.cx, body.cz) ?? this.#createGroup(body.cx, body.cz, body);
    const observer: Observer = { sessionId, holder, body, group, transition: undefined };
    body.observer = observer;
    group.members.add(observer);
    this.#observers.set(sessionId, observer);
    holder.view = group.view;
  }

  detach(sessionId: string): void {
    const observer = this.#observers.get(sessionId);
    if (!observer) return;
    this.#observers.delete(sessionId);
    if (this.#everyone) return;
    if (observer.body.observer === observer) observer.body.observer = undefined;
    observer.group.members.delete(observer);
    if (observer.group.members.size === 0) this.#retire(observer.group);
  }

  /** Which bodies a client's view holds (after the last patch), for tests and metrics. */
  visibleTo(sessionId: string): ReadonlySet<Replicated> | undefined {
    const observer = this.#observers.get(sessionId);
    if (!observer) return undefined;
    const bodies = this.#everyone ? this.#everyone.visible : observer.group.visible;
    return new Set([...bodies].map((b) => b.entity));
  }

  /** Call once before each state patch (the room's onBeforePatch). */
  refresh(): void {
    const patch = ++this.#patch;
    const moved = this.#moved;
    const recelled = this.#recelled;
    moved.length = 0;
    recelled.length = 0;
    for (const body of this.#bodies.values()) {
      body.changed = publishPose(body.entity) | (body.animIndex >= 0 && body.tree.getChange(body.animIndex) !== undefined ? ANIM_BIT : 0);
      if (body.changed) moved.push(body);
      if (!this.#everyone && this.#stickyCellChanged(body)) recelled.push(body);
    }
    if (this.#everyone) return;
    // Clients first, against the groups as every client last received them; then bodies change cells
    // (the transition views follow their new group's changes).
    for (const body of recelled) if (body.observer) this.#startTransition(body.observer, body.nextCx, body.nextCz);
    for (const body of recelled) this.#moveBody(body);
    this.#levelOfDetail(patch, moved);
  }

  /** Call right after each state patch is sent: restores held-back bodies, ends this patch's transitions. */
  afterPatch(): void {
    for (let i = 0; i < this.#hiddenCount; i++) {
      const h = this.#hidden[i]!;
      h.view.markVisible(h.tree);
    }
    this.#hiddenCount = 0;
    for (const observer of this.#transitions) {
      const transition = observer.transition;
      if (!transition) continue;
      observer.transition = undefined;
      observer.holder.view = observer.group.view;
      this.#release(transition.view, transition.bodies);
    }
    this.#transitions.length = 0;
    for (const group of this.#touched) {
      group.incoming.length = 0;
      group.departed.length = 0;
    }
    this.#touched.length = 0;
  }

  #touch(group: Group): Group {
    if (group.incoming.length === 0 && group.departed.length === 0) this.#touched.push(group);
    return group;
  }

  /**
   * Cells follow the wire position, not the float: a body changes cell only in a patch where its wire
   * position changed, so the state has changes whenever group views queue ops (Colyseus encodes a view's
   * queued ops once per client, not once per view, in a patch without state changes).
   */
  #stickyCellChanged(body: Body): boolean {
    const s = this.#cellSize;
    const m = this.#margin;
    const x = body.entity.xCm / CM_PER_UNIT;
    const z = body.entity.zCm / CM_PER_UNIT;
    if (x >= body.cx * s - m && x < (body.cx + 1) * s + m && z >= body.cz * s - m && z < (body.cz + 1) * s + m) return false;
    body.nextCx = Math.floor(x / s);
    body.nextCz = Math.floor(z / s);
    return true;
  }

  /**
   * The client's avatar changes cell: for this patch it holds a view of its own that turns what its old
   * group showed into what its new group shows; from the next patch on it shares the new group's view.
   */
  #startTransition(observer: Observer, cx: number, cz: number): void {
    const from = observer.group;
    const to = this.#groups.get(cx, cz) ?? this.#createGroup(cx, cz, observer.body);
    const view = this.#pool.pop() ?? new StateView();
    this.#bind(view, observer.body);
    const bodies: Body[] = [];
    // What it keeps is marked (its changes reach the client); what it loses needs only the removal op.
    for (const b of from.visible) {
      if (!to.visible.has(b)) view.remove(b.entity as never);
      else {
        this.#mark(view, b);
        bodies.push(b);
        if (this.#owed.has(b)) this.#catchUp(view, b, from, to);
      }
    }
    // Bodies that left the state since the last patch: the state's removal reaches the client through them.
    for (const b of from.departed) this.#mark(view, b), bodies.push(b);
    for (const b of to.visible) {
      if (!from.visible.has(b)) view.add(b.entity as never), bodies.push(b);
    }
    const transition: Transition = { view, bodies };
    observer.transition = transition;
    observer.holder.view = view;
    this.#transitions.push(observer);
    from.members.delete(observer);
    if (from.members.size === 0) this.#retire(from);
    to.members.add(observer);
    this.#touch(to).incoming.push(transition);
    observer.group = to;
  }

  #moveBody(body: Body): void {
    const { cx: oldCx, cz: oldCz, nextCx, nextCz } = body;
    body.recelled = this.#patch;
    this.#cells.get(oldCx, oldCz)?.delete(body);
    body.cx = nextCx;
    body.cz = nextCz;
    this.#cellOf(nextCx, nextCz).add(body);
    this.#forEachGroupNear(oldCx, oldCz, (g) => {
      if (this.#everyFor(g, nextCx, nextCz) === 0) this.#leave(g, body);
    });
    this.#forEachGroupNear(nextCx, nextCz, (g) => this.#enter(g, body));
  }

  #enter(group: Group, body: Body): void {
    if (group.visible.has(body)) return;
    group.visible.add(body);
    body.seenBy.add(group);
    group.view.add(body.entity as never);
    for (const t of group.incoming) {
      t.view.add(body.entity as never);
      t.bodies.push(body);
    }
  }

  #leave(group: Group, body: Body): void {
    if (!group.visible.delete(body)) return;
    body.seenBy.delete(group);
    group.view.remove(body.entity as never);
    for (const t of group.incoming) t.view.remove(body.entity as never);
  }

  /**
   * Holds back the motion of bodies far from a group on the patches that are not theirs, by hiding the
   * body from that group's view for this patch only (restored in afterPatch). What a tier missed is sent
   * again on its next patch, so a client never decodes a mix of old and new motion fields for long.
   */
  #levelOfDetail(patch: number, moved: Body[]): void {
    const tiers = this.#tiers;
    if (tiers.length === 0) return;
    const visit = (body: Body) => {
      if (body.handled === patch) return;
      body.handled = patch;
      // A change of any other field (a name, `connected`, speech) goes to every tier now, with all held
      // motion; so does a body that changed cell (groups see it at another tier from now on).
      const everyoneNow = body.recelled === patch || (body.changed !== 0 && this.#otherFieldChanged(body));
      let dueTiers = 0;
      let resend = 0;
      for (let t = 0; t < tiers.length; t++) {
        const every = tiers[t]!;
        if (everyoneNow || patch % every === body.phase % every) {
          dueTiers |= 1 << t;
          resend |= body.held[t]!;
          body.held[t] = 0;
        }
      }
      // Whatever goes out this patch (changes and re-sends) is held back whole from the tiers not due.
      const outgoing = body.changed | resend;
      let hiddenTiers = 0;
      let held = 0;
      for (let t = 0; t < tiers.length; t++) {
        if (outgoing && !(dueTiers & (1 << t))) {
          hiddenTiers |= 1 << t;
          body.held[t]! |= outgoing;
        }
        held |= body.held[t]!;
      }
      resend &= ~body.changed; // already on its way this patch
      for (let bit = 0; resend !== 0; bit++, resend >>= 1) {
        const index = body.motionIndexes[bit]!;
        if (resend & 1 && index >= 0) body.tree.markDirty(index, OPERATION.ADD);
      }
      if (held) this.#owed.add(body);
      else this.#owed.delete(body);
      if (hiddenTiers) this.#hide(body, hiddenTiers);
    };
    for (const body of moved) visit(body);
    for (const body of this.#owed) visit(body);
  }

  #hide(body: Body, tiers: number): void {
    for (const group of body.seenBy) {
      const tier = this.#tierOf(this.#everyFor(group, body.cx, body.cz));
      if (tier < 0 || !(tiers & (1 << tier))) continue;
      this.#hideIn(group.view, body.tree);
      // Clients entering the group this patch follow its level of detail too.
      for (const t of group.incoming) this.#hideIn(t.view, body.tree);
    }
  }

  #hideIn(view: StateView, tree: ChangeTree): void {
    if (!view.isVisible(tree)) return;
    view.unmarkVisible(tree);
    const slot = this.#hidden[this.#hiddenCount];
    if (slot) (slot.view = view), (slot.tree = tree);
    else this.#hidden.push({ view, tree });
    this.#hiddenCount++;
  }

  /**
   * A client that keeps seeing a body across a group change: if the old group saw it at another
   * level-of-detail tier than the new one, the client lacks what the old tier held back; queue those
   * fields (and this patch's changes, which the transition view may hold back) in its transition view,
   * so it holds the body's current motion, not a mix. Same tier: it lacks exactly what the new group's
   * clients lack. A body changing cell this patch goes to every tier anyway.
   */
  #catchUp(view: StateView, body: Body, from: Group, to: Group): void {
    if (body.nextCx !== body.cx || body.nextCz !== body.cz) return;
    const fromTier = this.#tierOf(this.#everyFor(from, body.cx, body.cz));
    if (fromTier < 0 || fromTier === this.#tierOf(this.#everyFor(to, body.cx, body.cz))) return;
    let held = body.changed | body.held[fromTier]!;
    const refId = (body.entity as unknown as Record<symbol, number>)[$refId]!;
    let ops = view.changes.get(refId);
    if (!ops) view.changes.set(refId, (ops = new Map()));
    for (let bit = 0; held !== 0; bit++, held >>= 1) {
      const index = body.motionIndexes[bit]!;
      if (held & 1 && index >= 0) ops.set(index, OPERATION.ADD);
    }
  }

  #otherFieldChanged(body: Body): boolean {
    for (const i of body.otherIndexes) if (body.tree.getChange(i) !== undefined) return true;
    return false;
  }

  /** Index of the level-of-detail tier that refreshes every `every` patches (-1: every patch, or not in view). */
  #tierOf(every: number): number {
    if (every <= 1) return -1;
    const tiers = this.#tiers;
    for (let t = 0; t < tiers.length; t++) if (tiers[t] === every) return t;
    return -1;
  }

  #everyFor(group: Group, cx: number, cz: number): number {
    const dx = cx - group.cx;
    const dz = cz - group.cz;
    const reach = this.#reach;
    if (dx < -reach || dx > reach || dz < -reach || dz > reach) return 0;
    return this.#offsetEvery[(dx + reach) * (2 * reach + 1) + (dz + reach)]!;
  }

  /** Calls `visit` for each group whose neighbourhood holds cell (cx, cz). */
  #forEachGroupNear(cx: number, cz: number, visit: (group: Group) => void): void {
    if (this.#groups.size === 0) return;
    for (const { dx, dz } of this.#offsets) {
      const group = this.#groups.get(cx - dx, cz - dz);
      if (group) visit(group);
    }
  }

  #cellOf(cx: number, cz: number): Set<Body> {
    let bodies = this.#cells.get(cx, cz);
    if (!bodies) this.#cells.set(cx, cz, (bodies = new Set()));
    return bodies;
  }

  /** A new group: its view's bits for its neighbourhood, no queued ops (its first clients get full state or a transition). */
  #createGroup(cx: number, cz: number, anchor: Body): Group {
    const view = this.#pool.pop() ?? new StateView();
    this.#bind(view, anchor);
    const group: Group = { cx, cz, view, topic: `${this.#topicPrefix}${++this.#groupSeq}`, visible: new Set(), members: new Set(), incoming: [], departed: [] };
    this.#byView.set(view, group);
    for (const { dx, dz } of this.#offsets) {
      const bodies = this.#cells.get(cx + dx, cz + dz);
      if (!bodies) continue;
      for (const b of bodies) {
        group.visible.add(b);
        b.seenBy.add(group);
        this.#mark(view, b);
      }
    }
    this.#groups.set(cx, cz, group);
    return group;
  }

  #retire(group: Group): void {
    for (const b of group.visible) b.seenBy.delete(group);
    this.#groups.delete(group.cx, group.cz);
    this.#byView.delete(group.view);
    this.#release(group.view, [...group.visible, ...group.departed]);
  }

  /** A view's id is only assigned by its first add(): bind it through a body, then undo that add's marks and ops. */
  #bind(view: StateView, anyBody: Body): void {
    if (view.id === -1) {
      view.add(anyBody.entity as never);
      for (const t of anyBody.trees) view.unmarkVisible(t);
    }
    view.changes.clear();
    for (const t of anyBody.ancestors) view.markVisible(t);
  }

  /** Marks a body visible in a view without queuing ops (the client already has it, or gets full state). */
  #mark(view: StateView, body: Body): void {
    for (const t of body.ancestors) view.markVisible(t);
    for (const t of body.trees) view.markVisible(t);
  }

  /** Clears exactly the bits a view set (bodies, their children, the state's trees) and pools it. */
  #release(view: StateView, bodies: Iterable<Body>): void {
    for (const b of bodies) for (const t of b.trees) view.unmarkVisible(t);
    view.changes.clear();
    this.#pool.push(view);
  }

}

/**
 * A body's nested collections (an avatar's inventory) are visible wherever the body is. Collected once:
 * they are created with the body and never replaced (their contents change, not the collections).
 */
function collectTrees(tree: ChangeTree, into: ChangeTree[]): void {
  into.push(tree);
  tree.forEachChild((child) => collectTrees(child, into));
}

function treeOf(ref: unknown): ChangeTree {
  return (ref as Record<symbol, ChangeTree>)[$changes]!;
}

