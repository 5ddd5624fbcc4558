import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startPlaySimulator, type PlaySimulator } from '../../tools/play-simulator';
import { emulatorIdToken } from '../helpers/id-tokens';

/**
 * build/functions/verifyPurchase (made by npm test's build) is what gcloud builds: it must run in a
 * folder of its own with nothing but what its package.json lists installed. The folder is copied to
 * a temporary directory outside the repository (so no node_modules above it), its dependencies are
 * copied in from the repository's node_modules (their whole dependency closure, resolved the way
 * Node resolves them; `npm install` cannot run offline here), and it is served from there.
 */
const root = resolve(__dirname, '../..');
const built = join(root, 'build/functions/verifyPurchase');
const PACKAGE = 'com.example.app';

/** The folder of `name` as Node resolves it from `fromDir` (walking up node_modules folders). */
function packageDir(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Copies `names` and everything they depend on from the repository into `dest/node_modules`:
 * hoisted where the name is free, nested under the dependent when another version holds it.
 */
function installFromRepo(names: string[], dest: string): string[] {
  const placed = new Map<string, string>(); // copy location → source folder
  const copied: string[] = [];
  const queue: { name: string; from: string; into: string }[] = names.map((name) => ({ name, from: root, into: dest }));
  while (queue.length) {
    const { name, from, into } = queue.shift()!;
    const source = packageDir(name, from);
    if (!source) continue; // an optional dependency not installed here
    // Already reachable from `into` (its own nested copy, or one placed above it)?
    let reachable: string | undefined;
    for (let dir = into; dir.startsWith(dest); dir = dirname(dir)) {
      const at = join(dir, 'node_modules', name);
      if (existsSync(join(at, 'package.json'))) {
        reachable = at;
        break;
      }
      if (dir === dest) break;
    }
    if (reachable && (placed.get(reachable) ?? source) === source) continue;
    const top = join(dest, 'node_modules', name);
    const target = !existsSync(top) ? top : join(into, 'node_modules', name);
    mkdirSync(dirname(target), { recursive: true });
    cpSync(source, target, { recursive: true, dereference: true });
    placed.set(target, source);
    copied.push(name);
    const pkg = JSON.parse(readFileSync(join(source, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) queue.push({ name: dep, from: source, into: target });
  }
  return copied;
}

/** Serves the folder's function on 127.0.0.1 (like tools/serve-function.js) and answers status questions over IPC. */
const LAUNCHER = `'use strict';
const fn = require('.');
const cache = require('./code-cache.js');
const { getTestServer } = require('@google-cloud/functions-framework/testing');
const server = getTestServer(process.env.TARGET);
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port, targets: fn.FUNCTION_TARGETS }));
process.on('message', (m) => {
  if (m !== 'internals') return process.send({ status: cache.status(), paths: module.paths });
  // Which generated protobuf modules ran (each registers its root), and the young generation's size.
  const gax = cache.load(require('node:path').join(__dirname, 'vendor/google.js'))['google-gax'];
  const newSpace = require('node:v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  // The API of each gRPC service definition built so far (google-gax caches each one it builds).
  const grpcPackages = [...gax.GrpcClient.protoCache.values()].map((p) =>
    p.google?.cloud?.location ? 'google.cloud.location' : p.google?.firestore ? 'google.firestore' : 'other',
  );
  // A message's reflection descriptors (proto-loader's, unread by gRPC): made on first read, still right.
  const doc = [...gax.GrpcClient.protoCache.values()].find((p) => p.google?.firestore)?.google.firestore.v1.Document;
  const lazy = typeof Object.getOwnPropertyDescriptor(doc, 'type')?.get === 'function';
  const descriptors = { lazy, type: doc.type.name, files: doc.fileDescriptorProtos.length };
  process.send({ protobufRoots: Object.keys(gax.protobufMinimal.roots).sort(), newSpaceBytes: newSpace.space_size, grpcPackages, descriptors });
});
`;

let dir: string;
let copied: string[];
let sim: PlaySimulator;
let child: ChildProcess | undefined;
let projectId: string;

beforeAll(async () => {
  expect(existsSync(join(built, 'index.js')), 'run npm run build first').toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'iap-bundle-'));
  cpSync(built, dir, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  copied = installFromRepo(Object.keys(pkg.dependencies), dir);
  writeFileSync(join(dir, 'launch.js'), LAUNCHER);
  sim = await startPlaySimulator();
}, 60_000);

afterAll(async () => {
  child?.kill('SIGKILL');
  await sim?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, METADATA_SERVER_DETECTION: 'none', ...extra };
}

describe('build/functions/verifyPurchase in a folder of its own', () => {
  it('lists only the functions framework, which is all it needs installed', () => {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    expect(Object.keys(pkg.dependencies)).toEqual(['@google-cloud/functions-framework']);
    expect(pkg.scripts['gcp-build']).toBe('node code-cache.js --best-effort');
    expect(copied).toContain('@google-cloud/functions-framework');
    for (const bundled of ['@google-cloud/firestore', '@googleapis/androidpublisher', 'google-auth-library', 'zod', 'jose', '@apple/app-store-server-library']) {
      expect(existsSync(join(dir, 'node_modules', bundled)), `${bundled} must be bundled, not installed`).toBe(false);
    }
    expect(existsSync(join(dir, 'vendor/google.js'))).toBe(true);
  });

  it('gcp-build (code-cache.js) makes its code caches there, exercising a verification against local stand-ins', () => {
    const r = spawnSync(process.execPath, ['code-cache.js', '--best-effort'], { cwd: dir, env: cleanEnv({}), encoding: 'utf8', timeout: 90_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('main.js.cache');
    expect(r.stdout).toContain('vendor/google.js.cache');
    expect(r.stdout).toContain('exercised: verifyPurchase 401/200/200');
  }, 100_000);

  it('serves: no Firestore, Play or Apple loaded at start, 401 JSON to an unauthenticated request, then a first verification', async () => {
    projectId = `bundle-${Date.now().toString(36)}`;
    const catalog = join(dir, 'catalog.json');
    writeFileSync(catalog, JSON.stringify({ products: { remove_ads: { type: 'non_consumable', entitlements: ['no_ads'] } } }));
    const keyFile = join(dir, 'key.json');
    writeFileSync(keyFile, JSON.stringify(sim.serviceAccountKey));
    const proc = spawn(process.execPath, ['launch.js'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: cleanEnv({
        TARGET: 'verifyPurchase',
        NODE_PATH: '',
        GOOGLE_CLOUD_PROJECT: projectId,
        FIRESTORE_EMULATOR_HOST: inject('firestoreEmulatorHost'),
        FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099',
        PLAY_PACKAGE_NAMES: PACKAGE,
        PLAY_API_ROOT_URL: sim.url,
        GOOGLE_OAUTH_TOKEN_URL: sim.tokenUrl,
        GOOGLE_APPLICATION_CREDENTIALS: keyFile,
        IAP_CATALOG: catalog,
        LOG_LEVEL: 'ERROR',
      }),
    });
    child = proc;
    let stderr = '';
    proc.stderr!.on('data', (d) => (stderr += d));
    const messages: Record<string, unknown>[] = [];
    const next = () =>
      new Promise<Record<string, unknown>>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`no message from the function process; stderr:\n${stderr}`)), 30_000);
        proc.once('message', (m) => {
          clearTimeout(t);
          messages.push(m as Record<string, unknown>);
          res(m as Record<string, unknown>);
        });
      });
    const ask = async () => {
      const reply = next();
      proc.send('status');
      return (await reply) as { status: { file: string; cache: string }[]; paths: string[] };
    };
    const loadedNames = (s: { file: string }[]) => s.map((x) => x.file.slice(dir.length + 1)).sort();

    const { port, targets } = (await next()) as { port: number; targets: string[] };
    expect(targets).toEqual(['verifyPurchase']);
    const url = `http://127.0.0.1:${port}/`;

    // Nothing above the folder can satisfy a require: only its own node_modules.
    const started = await ask();
    expect(started.paths.every((p) => p.startsWith(realpathSync(dir)) || !existsSync(p))).toBe(true);
    expect(loadedNames(started.status)).toEqual(['main.js']);
    expect(started.status[0]!.cache).toBe('used');

    const anonymous = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('content-type')).toContain('application/json');
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('unauthenticated');

    const purchase = await sim.createPurchase({ type: 'product', productId: 'remove_ads' } as never);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${emulatorIdToken({ projectId, uid: 'bundle-user' })}` },
      body: JSON.stringify({ packageName: PACKAGE, productId: 'remove_ads', purchaseToken: purchase.purchaseToken }),
    });
    const body = (await res.json()) as { entitlements?: Record<string, { active: boolean }> };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.entitlements?.no_ads?.active).toBe(true);

    // Google's libraries came from the chunk (through its code cache); Apple's library never loaded.
    const after = await ask();
    expect(loadedNames(after.status)).toEqual(['main.js', 'vendor/google.js']);
    expect(after.status.every((s) => s.cache === 'used')).toBe(true);

    // google-gax's IAM, Locations and Operations protos stayed unevaluated (tools/build/build.ts,
    // LAZY_LIBRARY_MODULES), Firestore's own ran; Firestore's Locations client was never built and
    // proto-loader's reflection descriptors wait for a first read (LIBRARY_EDITS); the young
    // generation kept its initial size (code-cache.js; grown, it was 14 MB after a first verification).
    const reply = next();
    proc.send('internals');
    const internals = (await reply) as {
      protobufRoots: string[];
      newSpaceBytes: number;
      grpcPackages: string[];
      descriptors: { lazy: boolean; type: string; files: number };
    };
    expect(internals.protobufRoots).toContain('firestore_v1');
    for (const unused of ['iam_protos', 'locations_protos', 'operations_protos']) expect(internals.protobufRoots).not.toContain(unused);
    expect(internals.grpcPackages).toEqual(['google.firestore']);
    expect(internals.descriptors).toEqual({ lazy: true, type: 'Document', files: expect.any(Number) });
    expect(internals.descriptors.files).toBeGreaterThan(1);
    expect(internals.newSpaceBytes).toBeLessThanOrEqual(4 * 2 ** 20);
    expect(stderr).toBe('');
  }, 60_000);
});
