/**
 * A minimal reader for R's serialization format (XDR, versions 2 and 3): enough of it to pull the character
 * vectors and data frames that R data packages ship (`.rda` files and the lazy-load `Rdata.rdb` databases).
 * No R is run: the Debian packages are read as data.
 */
import { gunzipSync, inflateSync } from 'node:zlib';

/** A decoded R value: only the kinds R data packages use for text. */
export type RValue =
  | null
  | { kind: 'symbol'; name: string }
  | { kind: 'pairlist'; tag: string | null; car: RValue; cdr: RValue; attributes: RValue }
  | { kind: 'strings'; values: (string | null)[]; attributes: RValue }
  | { kind: 'numbers'; values: number[]; attributes: RValue }
  | { kind: 'list'; values: RValue[]; attributes: RValue }
  | { kind: 'environment' };

const NILVALUE = 254;
const REFSXP = 255;
const SPECIAL_ENVS = new Set([242, 241, 247, 253, 251, 252]); // empty/base/base-namespace/global env, missing, unbound

export function unserializeR(buf: Buffer): RValue {
  if (buf.subarray(0, 2).toString('latin1') !== 'X\n') throw new Error('not an XDR R serialization');
  let pos = 2;
  const int = (): number => {
    const v = buf.readInt32BE(pos);
    pos += 4;
    return v;
  };
  const version = int();
  int(); // writer's R version
  int(); // minimal reader version
  if (version === 3) {
    const n = int(); // native encoding name
    pos += n;
  } else if (version !== 2) throw new Error(`unsupported R serialization version ${version}`);
  const refs: RValue[] = [];

  const item = (): RValue => {
    const flags = int();
    const type = flags & 0xff;
    const hasAttributes = (flags & (1 << 9)) !== 0;
    const hasTag = (flags & (1 << 10)) !== 0;
    if (type === NILVALUE) return null;
    if (SPECIAL_ENVS.has(type)) return { kind: 'environment' };
    switch (type) {
      case REFSXP: {
        const index = flags >> 8 || int();
        return refs[index - 1] ?? null;
      }
      case 1: {
        const name = charsxp(int());
        const sym: RValue = { kind: 'symbol', name: name ?? '' };
        refs.push(sym);
        return sym;
      }
      case 2: // LISTSXP (pairlist)
      case 6: {
        // LANGSXP
        const attributes = hasAttributes ? item() : null;
        const tag = hasTag ? item() : null;
        const car = item();
        const cdr = item();
        return { kind: 'pairlist', tag: tag && tag.kind === 'symbol' ? tag.name : null, car, cdr, attributes };
      }
      case 9: // a bare CHARSXP
        return { kind: 'strings', values: [charsxp(flags)], attributes: null };
      case 16: {
        const n = int();
        const values: (string | null)[] = [];
        for (let i = 0; i < n; i++) values.push(charsxp(int()));
        return { kind: 'strings', values, attributes: hasAttributes ? item() : null };
      }
      case 10: // LGLSXP
      case 13: {
        // INTSXP
        const n = int();
        const values: number[] = [];
        for (let i = 0; i < n; i++) values.push(int());
        return { kind: 'numbers', values, attributes: hasAttributes ? item() : null };
      }
      case 14: {
        // REALSXP
        const n = int();
        const values: number[] = [];
        for (let i = 0; i < n; i++, pos += 8) values.push(buf.readDoubleBE(pos));
        return { kind: 'numbers', values, attributes: hasAttributes ? item() : null };
      }
      case 19: // VECSXP
      case 20: {
        // EXPRSXP
        const n = int();
        const values: RValue[] = [];
        for (let i = 0; i < n; i++) values.push(item());
        return { kind: 'list', values, attributes: hasAttributes ? item() : null };
      }
      default:
        throw new Error(`unsupported R object type ${type} at byte ${pos - 4}`);
    }
  };

  /** A CHARSXP's payload, its flags already read. */
  const charsxp = (flags: number): string | null => {
    if ((flags & 0xff) !== 9) throw new Error(`expected a string at byte ${pos - 4}`);
    const n = int();
    if (n === -1) return null; // NA_character_
    const latin1 = ((flags >> 12) & (1 << 2)) !== 0;
    const s = buf.subarray(pos, pos + n).toString(latin1 ? 'latin1' : 'utf8');
    pos += n;
    return s;
  };

  return item();
}

/** Every object of an R lazy-load database (`*.rdb`), in file order: each is a 4-byte length and a zlib stream. */
export function readRdb(buf: Buffer): RValue[] {
  const out: RValue[] = [];
  let off = 0;
  while (off + 4 < buf.length) {
    const { buffer, engine } = inflateSync(buf.subarray(off + 4), { info: true }) as unknown as {
      buffer: Buffer;
      engine: { bytesWritten: number };
    };
    out.push(unserializeR(buffer));
    off += 4 + engine.bytesWritten;
  }
  return out;
}

/** The named objects of a gzip-compressed `.rda` / `.RData` file. */
export function readRda(buf: Buffer): Map<string, RValue> {
  const raw = buf[0] === 0x1f && buf[1] === 0x8b ? gunzipSync(buf) : buf;
  const magic = raw.subarray(0, 5).toString('latin1');
  if (magic !== 'RDX2\n' && magic !== 'RDX3\n') throw new Error('not a gzip-compressed R data file');
  const out = new Map<string, RValue>();
  for (let node = unserializeR(raw.subarray(5)); node && node.kind === 'pairlist'; node = node.cdr) {
    if (node.tag) out.set(node.tag, node.car);
  }
  return out;
}

/** An attribute of an R object (e.g. `names`). */
export function rAttribute(value: RValue, name: string): RValue {
  const attributes = value && 'attributes' in value ? value.attributes : null;
  for (let node = attributes; node && node.kind === 'pairlist'; node = node.cdr) {
    if (node.tag === name) return node.car;
  }
  return null;
}

/** A data frame's character column. */
export function rColumn(frame: RValue, name: string): (string | null)[] {
  const names = rAttribute(frame, 'names');
  if (!frame || frame.kind !== 'list' || !names || names.kind !== 'strings') throw new Error('not a data frame');
  const column = frame.values[names.values.indexOf(name)];
  if (!column || column.kind !== 'strings') throw new Error(`data frame has no character column "${name}"`);
  return column.values;
}
