// A strict JSON reader over bytes, used by event validation so that the
// browser names the same field and rule as schemas/ (Go) for any input:
// number literals are kept as written (Go rejects 1.0 for an integer),
// UTF-8 is checked per byte, and escaped lone surrogates are reported
// rather than replaced. It is not used on the hot path of frames.

/** JValue is a parsed JSON value with the byte offset where it starts. */
export type JValue =
  | { k: "obj"; at: number; entries: [string, JValue][] }
  | { k: "arr"; at: number; items: JValue[] }
  | { k: "str"; at: number; v: string; lone: number }
  | { k: "num"; at: number; raw: string }
  | { k: "bool"; at: number; v: boolean }
  | { k: "null"; at: number };

/** JSONSyntaxError is malformed JSON; detail says what, at is the byte offset. */
export class JSONSyntaxError extends Error {
  constructor(readonly detail: string, readonly at: number) {
    super(`${detail} at byte ${at}`);
    this.name = "JSONSyntaxError";
  }
}

/**
 * invalidUTF8At returns the offset of the first byte that is not valid
 * UTF-8 (Go's utf8.Valid rules: no overlong forms, no surrogates, nothing
 * above U+10FFFF), or -1.
 */
export function invalidUTF8At(b: Uint8Array): number {
  for (let i = 0; i < b.length;) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number, lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    if (i + n >= b.length) return i;
    if (b[i + 1] === undefined || b[i + 1] < lo || b[i + 1] > hi) return i;
    for (let j = 2; j <= n; j++) if (b[i + j] === undefined || b[i + j] < 0x80 || b[i + j] > 0xbf) return i;
    i += n + 1;
  }
  return -1;
}

const dec = new TextDecoder("utf-8");

/**
 * ShapeLimits bound a JSON text's structure (schemas.ShapeLimits): nesting
 * (the outermost value is level 1), values plus keys, and the bytes of one
 * string or number literal.
 */
export interface ShapeLimits { maxDepth: number; maxTokens: number; maxTokenBytes: number }

/**
 * parseJSON reads exactly one JSON value from b (whitespace around it
 * allowed). With limits, a text beyond them is a JSONSyntaxError, as
 * schemas.CheckShape refuses it.
 */
export function parseJSON(b: Uint8Array, limits?: ShapeLimits): JValue {
  let i = 0;
  let tokens = 0;
  const maxDepth = limits?.maxDepth ?? 1000;
  const maxTokens = limits?.maxTokens ?? Infinity;
  const maxTokenBytes = limits?.maxTokenBytes ?? Infinity;
  const token = () => {
    if (++tokens > maxTokens) throw new JSONSyntaxError(`more than ${maxTokens} values and keys in one event`, i);
  };
  const ws = () => {
    while (i < b.length && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0a || b[i] === 0x0d)) i++;
  };
  const fail = (what: string): never => {
    throw new JSONSyntaxError(i >= b.length ? "unexpected end of JSON input" : what, i);
  };
  const lit = (s: string) => {
    for (let j = 0; j < s.length; j++) if (b[i + j] !== s.charCodeAt(j)) fail(`invalid character looking for beginning of value`);
    i += s.length;
  };
  const hex4 = (at: number): number => {
    let r = 0;
    for (let j = 0; j < 4; j++) {
      const c = b[at + j];
      let d: number;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
      else {
        i = at + j;
        return fail("invalid character in \\u hexadecimal character escape");
      }
      r = (r << 4) | d;
    }
    return r;
  };
  const str = (): { v: string; lone: number } => {
    const start = i;
    i++; // opening quote
    let out = "";
    let run = i;
    let lone = -1;
    for (;;) {
      if (i >= b.length) fail("unexpected end of JSON input");
      const c = b[i];
      if (i - start > maxTokenBytes) throw new JSONSyntaxError(`a string over ${maxTokenBytes} bytes`, start);
      if (c === 0x22) {
        out += dec.decode(b.subarray(run, i));
        i++;
        return { v: out, lone };
      }
      if (c < 0x20) fail("invalid character in string literal");
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += dec.decode(b.subarray(run, i));
      const e = b[i + 1];
      switch (e) {
        case 0x22: out += '"'; i += 2; break;
        case 0x5c: out += "\\"; i += 2; break;
        case 0x2f: out += "/"; i += 2; break;
        case 0x62: out += "\b"; i += 2; break;
        case 0x66: out += "\f"; i += 2; break;
        case 0x6e: out += "\n"; i += 2; break;
        case 0x72: out += "\r"; i += 2; break;
        case 0x74: out += "\t"; i += 2; break;
        case 0x75: {
          const r = hex4(i + 2);
          if (r >= 0xd800 && r <= 0xdbff && b[i + 6] === 0x5c && b[i + 7] === 0x75) {
            const r2 = hex4(i + 8);
            if (r2 >= 0xdc00 && r2 <= 0xdfff) {
              out += String.fromCharCode(r, r2);
              i += 12;
              break;
            }
          }
          if (r >= 0xd800 && r <= 0xdfff) {
            // Go's decoder writes U+FFFD; schemas reports it as invalid UTF-8.
            if (lone < 0) lone = i;
            out += "\ufffd";
          } else out += String.fromCharCode(r);
          i += 6;
          break;
        }
        default:
          i++;
          fail("invalid character in string escape code");
      }
      run = i;
    }
  };
  const num = (): string => {
    const s = i;
    if (b[i] === 0x2d) i++;
    if (b[i] === 0x30) i++;
    else if (b[i] >= 0x31 && b[i] <= 0x39) while (b[i] >= 0x30 && b[i] <= 0x39) i++;
    else fail("invalid character in numeric literal");
    if (b[i] === 0x2e) {
      i++;
      if (!(b[i] >= 0x30 && b[i] <= 0x39)) fail("invalid character after decimal point in numeric literal");
      while (b[i] >= 0x30 && b[i] <= 0x39) i++;
    }
    if (b[i] === 0x65 || b[i] === 0x45) {
      i++;
      if (b[i] === 0x2b || b[i] === 0x2d) i++;
      if (!(b[i] >= 0x30 && b[i] <= 0x39)) fail("invalid character in exponent of numeric literal");
      while (b[i] >= 0x30 && b[i] <= 0x39) i++;
    }
    if (i - s > maxTokenBytes) throw new JSONSyntaxError(`a number over ${maxTokenBytes} bytes`, s);
    return dec.decode(b.subarray(s, i));
  };
  const value = (depth: number): JValue => {
    ws();
    const at = i;
    const c = b[i];
    if (i < b.length) token();
    if ((c === 0x7b || c === 0x5b) && depth + 1 > maxDepth) throw new JSONSyntaxError(`nested deeper than ${maxDepth} levels`, i);
    if (c === 0x7b) {
      i++;
      const entries: [string, JValue][] = [];
      ws();
      if (b[i] === 0x7d) {
        i++;
        return { k: "obj", at, entries };
      }
      for (;;) {
        ws();
        if (b[i] !== 0x22) fail("invalid character looking for beginning of object key string");
        token();
        const key = str().v;
        ws();
        if (b[i] !== 0x3a) fail("invalid character after object key");
        i++;
        entries.push([key, value(depth + 1)]);
        ws();
        if (b[i] === 0x2c) {
          i++;
          continue;
        }
        if (b[i] === 0x7d) {
          i++;
          return { k: "obj", at, entries };
        }
        fail("invalid character after object key:value pair");
      }
    }
    if (c === 0x5b) {
      i++;
      const items: JValue[] = [];
      ws();
      if (b[i] === 0x5d) {
        i++;
        return { k: "arr", at, items };
      }
      for (;;) {
        items.push(value(depth + 1));
        ws();
        if (b[i] === 0x2c) {
          i++;
          continue;
        }
        if (b[i] === 0x5d) {
          i++;
          return { k: "arr", at, items };
        }
        fail("invalid character after array element");
      }
    }
    if (c === 0x22) {
      const s = str();
      return { k: "str", at, v: s.v, lone: s.lone };
    }
    if (c === 0x74) {
      lit("true");
      return { k: "bool", at, v: true };
    }
    if (c === 0x66) {
      lit("false");
      return { k: "bool", at, v: false };
    }
    if (c === 0x6e) {
      lit("null");
      return { k: "null", at };
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return { k: "num", at, raw: num() };
    return fail("invalid character looking for beginning of value");
  };
  const v = value(0);
  ws();
  if (i < b.length) throw new JSONSyntaxError("trailing data after the JSON value", i);
  return v;
}

/**
 * firstDuplicate finds the first object key in v that repeats an earlier
 * key of the same object (schemas.CheckDuplicateKeys) and returns its
 * field path, or undefined.
 */
export function firstDuplicate(v: JValue, path = ""): string | undefined {
  switch (v.k) {
    case "arr":
      for (let i = 0; i < v.items.length; i++) {
        const d = firstDuplicate(v.items[i], `${path}[${i}]`);
        if (d !== undefined) return d;
      }
      return undefined;
    case "obj": {
      const seen = new Set<string>();
      for (const [key, x] of v.entries) {
        const field = path ? `${path}.${truncate(key, 40)}` : truncate(key, 40);
        if (seen.has(key)) return field;
        seen.add(key);
        const d = firstDuplicate(x, field);
        if (d !== undefined) return d;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/** firstLone returns the offset of the first escaped lone surrogate in v, or -1. */
export function firstLone(v: JValue): number {
  switch (v.k) {
    case "str":
      return v.lone;
    case "arr":
      for (const x of v.items) {
        const o = firstLone(x);
        if (o >= 0) return o;
      }
      return -1;
    case "obj":
      for (const [, x] of v.entries) {
        const o = firstLone(x);
        if (o >= 0) return o;
      }
      return -1;
    default:
      return -1;
  }
}

/** truncate cuts s to n bytes on a rune boundary and marks the cut (schemas truncate). */
export function truncate(s: string, n: number): string {
  const b = new TextEncoder().encode(s);
  if (b.length <= n) return s;
  while (n > 0 && (b[n] & 0xc0) === 0x80) n--;
  return dec.decode(b.subarray(0, n)) + "…";
}

/**
 * jsonPathAt names, in schemas' field form ("data.options[2]"), the value or
 * key that contains byte off of b: a port of schemas jsonPathAt, which only
 * follows the structure and so also works on text a decoder would reject.
 */
export function jsonPathAt(b: Uint8Array, off: number): string {
  type Level = { obj: boolean; key: string; idx: number };
  const stack: Level[] = [];
  let expectKey = false;
  const path = (): string => {
    let sb = "";
    for (const l of stack) {
      if (l.obj) {
        if (l.key === "") break;
        if (sb.length > 0) sb += ".";
        sb += l.key;
      } else sb += `[${l.idx}]`;
    }
    return sb;
  };
  for (let i = 0; i < b.length && i <= off; i++) {
    switch (b[i]) {
      case 0x22: {
        let j = i + 1;
        while (j < b.length && b[j] !== 0x22) {
          if (b[j] === 0x5c) j++;
          j++;
        }
        const isKey = expectKey && stack.length > 0 && stack[stack.length - 1].obj;
        if (isKey) stack[stack.length - 1].key = truncate(dec.decode(b.subarray(i + 1, Math.min(j, b.length))), 40);
        if (off <= j) return path();
        i = j;
        break;
      }
      case 0x7b:
        stack.push({ obj: true, key: "", idx: 0 });
        expectKey = true;
        break;
      case 0x5b:
        stack.push({ obj: false, key: "", idx: 0 });
        expectKey = false;
        break;
      case 0x7d:
      case 0x5d:
        stack.pop();
        expectKey = false;
        break;
      case 0x3a:
        expectKey = false;
        break;
      case 0x2c:
        if (stack.length > 0) {
          const top = stack[stack.length - 1];
          if (top.obj) expectKey = true;
          else top.idx++;
        }
        break;
    }
  }
  return path();
}
