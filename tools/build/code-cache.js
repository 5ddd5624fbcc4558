#!/usr/bin/env node
'use strict';
/**
 * V8 code caches for a deployable function folder (copied there by tools/build/build.ts).
 *
 * `load(file)` runs a CommonJS file as `require(file)` would, except that when `file.cache` exists and
 * was made from this very source (SHA-256) by this Node version, V8 is handed the cached bytecode
 * instead of compiling the file again; V8 itself refuses a cache that does not fit its flags, and the
 * file is then compiled as usual. The folder's main.js (from index.js) and the lazily loaded vendor
 * chunks go through it.
 *
 * `node code-cache.js` (the folder's `gcp-build` script, so Cloud Build makes the caches with the
 * Node that will run them; tools/build/build.ts runs it too, for local use) loads the folder's
 * main.js in a throwaway process with a throwaway configuration, sends each function it registers an
 * unauthenticated request and two verifications of a new purchase, answered by local stand-ins for
 * OAuth, Play (fakeBackends) and Firestore's gRPC API (fakeFirestoreGrpc), so that the code of a first
 * request is compiled too, and writes one `.cache` file per file loaded. Nothing leaves 127.0.0.1.
 * `--best-effort` (what gcp-build runs) turns a failure into a warning: no caches, the function
 * compiles its files at start as it would without them.
 */
const { createHash } = require('node:crypto');
const { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } = require('node:fs');
const { createRequire } = require('node:module');
const { tmpdir } = require('node:os');
const path = require('node:path');
const v8 = require('node:v8');
const vm = require('node:vm');

/**
 * V8 grows the young generation (semi-spaces of 1 MB, up to 16 MB) while much of what is allocated
 * survives, which is what loading the Google libraries looks like: after the first verification
 * 14 MB of young generation were resident, mostly empty. Kept at its initial size, an instance holds
 * about 13 MB less (npm run bench:cold) for more frequent, smaller scavenges. Set here, before
 * anything is compiled through this file: V8 accepts a code cache only under the flags it was made
 * with, so the caches (made by this file) and the functions (loading through it) always agree. V8
 * reads this flag each time it would grow the space (the size limits are fixed at start-up, and other
 * flags changed at run time can crash it: only this one is set).
 */
v8.setFlagsFromString('--semi-space-growth-factor=1');

const FORMAT = 1;
const loaded = new Map(); // file → { exports, script?, source? (while making), cache }
let making = false;
let giveUp = (message) => {
  throw new Error(message);
};

/**
 * The build writes the files loaded here as one function expression (`wrapped`), so that V8 compiles
 * the file's text as it is: wrapping it here would hold a second copy of a 3.6 MB chunk at start.
 * Any other file is wrapped here.
 */
const HEAD = '(function (exports, require, module, __filename, __dirname) {';
const wrapped = (source) => `${HEAD}${source}\n})`;
const asFunction = (source) => (source.startsWith(HEAD) ? source : wrapped(source));
const sha256 = (source) => createHash('sha256').update(source).digest('hex');
const stamp = (source) => ({ format: FORMAT, sha256: sha256(source), node: process.version, arch: process.arch });

/** `file.cache`'s bytes, or undefined when there is none. */
function readCacheFile(file) {
  try {
    return readFileSync(`${file}.cache`);
  } catch {
    return undefined;
  }
}

/** The code cache in `buf` when its stamp says it was made from `source` by this Node, else undefined. */
function validCache(buf, source) {
  const nl = buf.indexOf(10);
  if (nl < 0) return undefined;
  try {
    const header = JSON.parse(buf.subarray(0, nl).toString('utf8'));
    const want = stamp(source);
    if (Object.keys(want).some((k) => header[k] !== want[k])) return undefined;
  } catch {
    return undefined;
  }
  return buf.subarray(nl + 1);
}

/** The exports of `file` (a CommonJS bundle), compiled from its code cache when there is a valid one. */
function load(file) {
  const hit = loaded.get(file);
  if (hit) return hit.exports;
  // The cache before the source: once the source's temporary buffer (3.6 MB for a chunk) is freed,
  // glibc serves allocations up to that size from its brk heap, which it does not give back; read
  // first, the cache's buffer is a mapping of its own and returned to the system when collected.
  const cacheBytes = making ? undefined : readCacheFile(file);
  const source = readFileSync(file, 'utf8');
  const options = { filename: file, cachedData: cacheBytes && validCache(cacheBytes, source) };
  // Node ≥ 21.7: dynamic import() from the file works as in a required module (the bundles have none).
  if (vm.constants && vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER) options.importModuleDynamically = vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER;
  const script = new vm.Script(asFunction(source), options);
  const mod = { id: file, filename: file, exports: {}, loaded: false };
  const cache = !cacheBytes ? 'none' : options.cachedData === undefined ? 'stale' : script.cachedDataRejected ? 'rejected' : 'used';
  // The source is kept only to stamp the cache being made (V8 keeps its own copy for lazy compilation).
  loaded.set(file, { get exports() { return mod.exports; }, script, source: making ? source : undefined, cache });
  try {
    script.runInThisContext()(mod.exports, createRequire(file), mod, file, path.dirname(file));
  } catch (e) {
    loaded.delete(file);
    throw e;
  }
  mod.loaded = true;
  return mod.exports;
}

/**
 * What the exercise talks to over HTTP, on 127.0.0.1: the OAuth token endpoint and the Play Developer
 * API (one one-time purchase, acknowledged on request), in the shapes the real ones answer. A request
 * the stand-in does not know gets 404: the exercise then stops short, and only less code is cached.
 */
function fakeBackends() {
  const { createServer } = require('node:http');
  const now = () => new Date().toISOString();
  const json = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
    res.end(body === undefined ? '' : JSON.stringify(body));
  };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        /* a form (the token exchange) */
      }
      const url = new URL(req.url, 'http://127.0.0.1');
      const p = url.pathname;
      if (p === '/token') return json(res, 200, { access_token: 'code-cache-access-token', expires_in: 3599, token_type: 'Bearer' });
      if (/\/purchases\/productsv2\/tokens\/[^/]+$/.test(p)) {
        return json(res, 200, {
          kind: 'androidpublisher#productPurchaseV2',
          productLineItem: [
            { productId: 'code_cache', productOfferDetails: { consumptionState: 'CONSUMPTION_STATE_YET_TO_BE_CONSUMED', quantity: 1, refundableQuantity: 1, offerTags: [] } },
          ],
          purchaseStateContext: { purchaseState: 'PURCHASED' },
          acknowledgementState: 'ACKNOWLEDGEMENT_STATE_PENDING',
          orderId: 'GPA.3300-0000-0000-00000',
          purchaseCompletionTime: now(),
          regionCode: 'US',
        });
      }
      if (/:acknowledge$/.test(p) || /:consume$/.test(p)) return json(res, 204);
      return json(res, 404, { error: { code: 404, message: `code-cache stand-in: no ${req.method} ${p}`, status: 'NOT_FOUND' } });
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/**
 * Firestore's gRPC API as a stand-in (the transport the functions use): every document missing, every
 * transaction and commit accepted. Built from the client's own service definition, with the gRPC
 * library inside vendor/google.js.
 */
function fakeFirestoreGrpc(google) {
  const grpc = google['google-gax'].grpc;
  const { v1 } = google['@google-cloud/firestore'];
  const service = new v1.FirestoreClient({ projectId: 'code-cache', sslCreds: grpc.credentials.createInsecure(), servicePath: '127.0.0.1', port: 1 })._protos
    .google.firestore.v1.Firestore.service;
  const ts = () => ({ seconds: Math.floor(Date.now() / 1000), nanos: 0 });
  const tx = Buffer.from('code-cache-tx');
  const server = new grpc.Server();
  server.addService(service, {
    BatchGetDocuments(call) {
      // As Firestore does: a new transaction's id comes with the first result.
      (call.request.documents || []).forEach((name, i) =>
        call.write({ ...(i === 0 && call.request.newTransaction ? { transaction: tx } : {}), missing: name, readTime: ts() }),
      );
      call.end();
    },
    BeginTransaction: (_call, cb) => cb(null, { transaction: tx }),
    Commit: (call, cb) => cb(null, { writeResults: (call.request.writes || []).map(() => ({ updateTime: ts() })), commitTime: ts() }),
    Rollback: (_call, cb) => cb(null, {}),
  });
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve({ server, port }))),
  );
}

/** In a throwaway process: load main.js, exercise it, write the caches. */
async function make(dir) {
  making = true;
  const { generateKeyPairSync } = require('node:crypto');
  const work = mkdtempSync(path.join(tmpdir(), 'iap-code-cache-'));
  const backends = await fakeBackends();
  const stand = `127.0.0.1:${backends.address().port}`;
  const googleChunk = path.join(dir, 'vendor', 'google.js');
  const firestoreGrpc = existsSync(googleChunk) ? await fakeFirestoreGrpc(load(googleChunk)) : undefined;
  const catalog = path.join(work, 'catalog.json');
  writeFileSync(catalog, JSON.stringify({ products: { code_cache: { type: 'non_consumable', entitlements: ['code_cache'] } } }));
  const key = path.join(work, 'key.json');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(key, JSON.stringify({ type: 'service_account', client_email: 'code-cache@code-cache.iam.gserviceaccount.com', private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }) }));
  // A configuration that passes validation and reaches only the stand-ins above.
  for (const k of Object.keys(process.env)) if (/^(GOOGLE_|FIREBASE_|FIRESTORE_|PUBSUB_|PLAY_|IAP_|APPLE_|K_SERVICE|FUNCTION_)/.test(k)) delete process.env[k];
  Object.assign(process.env, {
    GOOGLE_CLOUD_PROJECT: 'code-cache',
    PLAY_PACKAGE_NAMES: 'com.example.codecache',
    IAP_CATALOG: catalog,
    GOOGLE_APPLICATION_CREDENTIALS: key,
    GOOGLE_OAUTH_TOKEN_URL: `http://${stand}/token`,
    PLAY_API_ROOT_URL: `http://${stand}/`,
    FIRESTORE_EMULATOR_HOST: firestoreGrpc ? `127.0.0.1:${firestoreGrpc.port}` : '127.0.0.1:1',
    FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:1',
    FIRESTORE_TIMEOUT_MS: '1000',
    PLAY_TIMEOUT_MS: '1000',
    PLAY_MAX_ATTEMPTS: '1',
    METADATA_SERVER_DETECTION: 'none',
    LOG_LEVEL: 'ERROR',
  });
  const stop = setTimeout(() => giveUp('exercising took more than 60 s; no caches written'), 60_000);
  try {
    const main = load(path.join(dir, 'main.js'));
    const { getTestServer } = createRequire(path.join(dir, 'main.js'))('@google-cloud/functions-framework/testing');
    const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const idToken = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({
      iss: 'https://securetoken.google.com/code-cache', aud: 'code-cache', sub: 'code-cache', user_id: 'code-cache', iat: now, auth_time: now, exp: now + 600,
    })}.`;
    const exercised = [];
    for (const target of main.FUNCTION_TARGETS || []) {
      const server = getTestServer(target);
      await new Promise((r) => server.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${server.address().port}/`;
      const post = async (headers, payload) => {
        try {
          const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: payload, signal: AbortSignal.timeout(1500) });
          await res.arrayBuffer();
          return res.status;
        } catch {
          return 'no answer';
        }
      };
      const statuses = [await post({}, '{}')];
      // Two verifications of a new purchase: the first one's path, then the warm one's.
      for (const n of [1, 2]) {
        const body = JSON.stringify({ packageName: 'com.example.codecache', productId: 'code_cache', purchaseToken: `code-cache-purchase-token-${n}-0123456789` });
        statuses.push(await post({ authorization: `Bearer ${idToken}` }, body));
      }
      exercised.push(`${target} ${statuses.join('/')}`);
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    }
    // A chunk no request reached (Apple's, without an Apple configuration): its packages' top level at
    // least (its exports are getters that run them). A chunk a request reached keeps what it ran: a
    // package's bytecode in the cache is memory at every start (Pub/Sub's, in verifyPurchase).
    const vendor = path.join(dir, 'vendor');
    for (const f of existsSync(vendor) ? require('node:fs').readdirSync(vendor) : []) {
      if (!f.endsWith('.js') || loaded.has(path.join(vendor, f))) continue;
      const chunk = load(path.join(vendor, f));
      for (const pkg of Object.keys(chunk)) void chunk[pkg];
    }
    const written = [];
    for (const [file, { script, source }] of loaded) {
      if (!script) continue;
      const data = script.createCachedData();
      writeFileSync(`${file}.cache`, Buffer.concat([Buffer.from(`${JSON.stringify(stamp(source))}\n`), data]));
      written.push(`${path.relative(dir, file)}.cache ${Math.round(data.length / 1024)} KiB`);
    }
    process.stdout.write(`code-cache: ${written.join(', ')} (Node ${process.version}; exercised: ${exercised.join(', ')})\n`);
  } finally {
    clearTimeout(stop);
    backends.closeAllConnections?.();
    backends.close();
    firestoreGrpc?.server.forceShutdown();
    rmSync(work, { recursive: true, force: true });
  }
}

/** What was loaded so far, and whether its code cache was used ('used', 'rejected' by V8, 'stale' or 'none'). */
function status() {
  return [...loaded].map(([file, { cache }]) => ({ file, cache }));
}

module.exports = { load, status, wrapped };

if (require.main === module) {
  // --best-effort (gcp-build): a cache that cannot be made must not fail the deployment; the function
  // then compiles its files at start, as it would without caches.
  const bestEffort = process.argv.includes('--best-effort');
  const fail = (message) => {
    process.stderr.write(`code-cache: ${message}${bestEffort ? ' (no code caches; the function works without them)' : ''}\n`);
    process.exit(bestEffort ? 0 : 1);
  };
  giveUp = fail;
  make(__dirname).then(
    () => process.exit(0),
    (e) => fail(String((e && e.message) || e)),
  );
}
