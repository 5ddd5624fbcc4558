import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import type { RawRequest } from './raw-http';

/**
 * fast-check arbitraries for hostile requests: JSON whose text we write ourselves (so that
 * `__proto__`, duplicate keys and lone surrogates reach the server literally), strings with unicode
 * and control characters, huge and deeply nested bodies, bytes that are not JSON, wrong methods and
 * content types. Everything is bounded so that a property run stays fast.
 */

/** A JSON object as an ordered list of entries: keys may repeat and may be `__proto__`. */
export class Obj {
  constructor(readonly entries: [string, HostileJson][]) {}
}
export type HostileJson = null | boolean | number | string | HostileJson[] | Obj | RawJson;
/** Already-serialized JSON text (big or deep values made without building them). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** JSON text of a hostile value, exactly as written (entries in order, duplicates kept). */
export function toJsonText(v: HostileJson): string {
  if (v instanceof RawJson) return v.text;
  if (v instanceof Obj) return `{${v.entries.map(([k, x]) => `${JSON.stringify(k)}:${toJsonText(x)}`).join(',')}}`;
  if (Array.isArray(v)) return `[${v.map(toJsonText).join(',')}]`;
  return JSON.stringify(v) ?? 'null';
}

export const obj = (o: Record<string, HostileJson>) => new Obj(Object.entries(o));

/** Keys an attacker would try: prototype keys, and names the functions read. */
export const SPECIAL_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'then', 'toJSON', 'length', 'uid', 'admin'];

/** Any UTF-16 code unit, lone surrogates included. */
const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));

export const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ unit: anyCodeUnit, maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('\u0000', '\u0007', '\b', '\n', '\r', '\t', '\u001b', '\u007f', '\u0085', '\u2028', '\u2029', '\u202e', '\ufeff', '\ufffd', '\ud800', '\udfff', '\u{1f600}', 'é', 'e\u0301', '\\', '"', '/', '.', '%', '$', '{', '<'), maxLength: 16 }),
  fc.constantFrom('', ' ', 'null', 'undefined', 'NaN', 'true', '0', '-1', '1e309', '../..', '..', '.', '%00', '__proto__', '__name__', 'a/b', 'GPA.1234-5678-9012-34567', '<script>alert(1)</script>', "'; --", '${jndi:ldap://x}', 'com.example.app', 'premium_monthly', 'app_store', 'google_play'),
);

/** A string of n repeated characters (n up to a few hundred thousand). */
export const hugeString = (minLength: number, maxLength: number) =>
  fc
    .record({ ch: fc.constantFrom('a', '€', '\u0000', '\u{1f600}', '\\', '"', '\ud800'), n: fc.integer({ min: minLength, max: maxLength }) })
    .map(({ ch, n }) => ch.repeat(Math.ceil(n / ch.length)));

/** Nesting `depth` levels deep: [[[...]]] or {"a":{"a":...}}, built as text. */
export const deepJson = (minDepth: number, maxDepth: number) =>
  fc.record({ depth: fc.integer({ min: minDepth, max: maxDepth }), kind: fc.constantFrom('array', 'object', 'proto') }).map(({ depth, kind }) => {
    if (kind === 'array') return new RawJson('['.repeat(depth) + ']'.repeat(depth));
    const key = kind === 'proto' ? '__proto__' : 'a';
    return new RawJson(`{"${key}":`.repeat(depth) + '1' + '}'.repeat(depth));
  });

const leaf: fc.Arbitrary<HostileJson> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(0, -0, 2 ** 53, -(2 ** 63), 1e308, 5e-324, Number.MAX_SAFE_INTEGER + 2)),
  nastyString,
);

/** Any JSON value with hostile keys and strings, a few levels deep. */
export function hostileJson(fieldNames: string[] = []): fc.Arbitrary<HostileJson> {
  const key = fc.oneof(fc.constantFrom(...SPECIAL_KEYS, ...(fieldNames.length ? fieldNames : ['x'])), nastyString);
  const { value } = fc.letrec<{ value: HostileJson; arr: HostileJson[]; obj: Obj }>((tie) => ({
    value: fc.oneof({ depthSize: 'small', maxDepth: 4 }, leaf, tie('arr'), tie('obj')),
    arr: fc.array(tie('value'), { maxLength: 4 }),
    obj: fc.array(fc.tuple(key, tie('value')), { maxLength: 5 }).map((entries) => new Obj(entries)),
  }));
  return value;
}

/**
 * A valid object made wrong: fields dropped, given hostile values (wrong types, huge, deep), unknown
 * or prototype keys added, keys repeated. At least one mutation is applied, but the result may
 * still happen to be valid: callers choose bases for which even a valid body must be refused.
 */
export function mutated(
  base: Record<string, HostileJson>,
  fieldNames: string[],
  /** Well-typed but wrong values per field (another product, another app's token...): they get past the schema. */
  plausible: Record<string, HostileJson[]> = {},
): fc.Arbitrary<Obj> {
  const names = Object.keys(base);
  const swappable = Object.keys(plausible).filter((k) => (plausible[k] ?? []).length > 0);
  const bad = fc.oneof(
    { weight: 5, arbitrary: hostileJson(fieldNames) },
    { weight: 1, arbitrary: hugeString(4_000, 60_000) },
    { weight: 1, arbitrary: deepJson(30, 3_000) },
  );
  const mutation = fc.oneof(
    fc.record({ op: fc.constant('drop' as const), key: fc.constantFrom(...names) }),
    fc.record({ op: fc.constant('set' as const), key: fc.constantFrom(...names), value: bad }),
    fc.record({ op: fc.constant('add' as const), key: fc.oneof(fc.constantFrom(...SPECIAL_KEYS, ...fieldNames), nastyString), value: bad }),
    fc.record({ op: fc.constant('repeat' as const), key: fc.constantFrom(...names), value: bad, first: fc.boolean() }),
    ...(swappable.length === 0
      ? []
      : [
          {
            weight: 6,
            arbitrary: fc
              .constantFrom(...swappable)
              .chain((key) => fc.record({ op: fc.constant('swap' as const), key: fc.constant(key), value: fc.constantFrom(...plausible[key]!) })),
          },
          fc.record({ op: fc.constant('drop' as const), key: fc.constantFrom(...swappable) }),
        ]),
  );
  return fc.array(mutation, { minLength: 1, maxLength: 3 }).map((ms) => {
    let entries: [string, HostileJson][] = Object.entries(base);
    for (const m of ms) {
      if (m.op === 'drop') entries = entries.filter(([k]) => k !== m.key);
      else if (m.op === 'set') entries = entries.map(([k, v]) => [k, k === m.key ? m.value : v]);
      else if (m.op === 'add') entries = [...entries, [m.key, m.value]];
      else if (m.op === 'swap') entries = entries.some(([k]) => k === m.key) ? entries.map(([k, v]) => [k, k === m.key ? m.value : v]) : [...entries, [m.key, m.value]];
      else entries = m.first ? [[m.key, m.value], ...entries] : [...entries, [m.key, m.value]];
    }
    return new Obj(entries);
  });
}

/** Bodies that are not a JSON object: not JSON at all, or JSON of another type. */
export const notJsonObject: fc.Arbitrary<string | Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  nastyString,
  fc.constantFrom('', '{', '{"a":', '{"a":1,}', "{'a':1}", '{"a":NaN}', '{"a":Infinity}', '{"a":0x10}', '{"a":1}}', '{"a":1} trailing', '\ufeff{}', '{"a":"\\ud800"}', '{"a":"\\x41"}', '[]', '[{}]', 'null', 'true', '1', '"{}"', '{"__proto__":', '/* comment */ {}', '{"a":1}\u0000'),
  hostileJson().filter((v) => !(v instanceof Obj)).map(toJsonText),
);

/** Content types other than application/json (and odd spellings of it). */
export const CONTENT_TYPES = [
  undefined,
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'application/json, text/plain',
  'text/plain',
  'text/html',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'application/cloudevents+json',
  'application/xml',
  '*/*',
  'garbage',
];
export const contentType = fc.constantFrom(...CONTENT_TYPES);

/** Methods other than POST (HEAD answers have no body). */
export const otherMethod = fc.constantFrom('GET', 'HEAD', 'PUT', 'PATCH', 'DELETE', 'OPTIONS');

/** A request body compressed with gzip, as a client (or an attacker) may send it. */
export const gzip = (text: string) => gzipSync(Buffer.from(text));

/** A short description of a request for assertion messages (never the whole body). */
export function describeRequest(r: RawRequest): string {
  const body = r.body === undefined ? '' : Buffer.isBuffer(r.body) ? `<${r.body.length} bytes>` : r.body;
  const shown = body.length > 160 ? `${body.slice(0, 160)}… (${body.length} chars)` : body;
  return `${r.method ?? 'POST'} ${r.path ?? '/'} ${JSON.stringify(r.headers ?? {})} ${JSON.stringify(shown)}`;
}

/** fast-check parameters: a fixed seed (override with FC_SEED) so that CI runs are reproducible. */
export const SEED = Number(process.env.FC_SEED ?? 20_261_122);
export const runs = (n: number) => ({ seed: SEED, numRuns: Math.max(1, Math.round(n * Number(process.env.FC_RUNS_SCALE ?? 1))) });
