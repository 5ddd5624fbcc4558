import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { buildConsole } from '../console/build';
import { build, type BuildOptions, type BuildResult, type Metafile, type Plugin } from 'esbuild';

/**
 * dist/index.js: every function, for `npx functions-framework --source=dist/index.js --target=NAME`,
 * tools/serve-function.js and the local stack. build/functions/<name>/: one deployable folder per
 * function, which gcloud builds as it is (test/integration/bundle.test.ts runs one with nothing but
 * its package.json installed):
 *
 *   index.js        loads main.js through code-cache.js
 *   main.js         that function only (functions/index.ts without the other registrations): our code,
 *                   zod (English messages only) and jose, bundled and tree-shaken, not minified
 *   vendor/google.js  @google-cloud/firestore, @googleapis/androidpublisher and google-auth-library with
 *                   all their dependencies (one copy of each name@version), minified, JSON as JSON.parse
 *   vendor/apple.js @apple/app-store-server-library, the same way
 *   code-cache.js   V8 code caches: `load()`, and the gcp-build script that makes *.cache
 *   *.cache         made by this build for this machine's Node, and again by gcp-build in Cloud Build
 *                   (.gcloudignore keeps the local ones out of the upload)
 *   package.json    only what stays external: @google-cloud/functions-framework (the CLI's function
 *                   registry must be the one the bundle registers into)
 *
 * main.js refers to a chunk's packages through shims whose exports are getters: a chunk is read,
 * compiled and run on the first use of one of its exports (the first request that needs Firestore or
 * Play; Apple's only on an Apple path with Apple configured), so an instance answers its first request
 * without having loaded them. The App Store adapter module itself is evaluated lazily the same way.
 */
export const FUNCTIONS = ['verifyPurchase', 'playRtdn', 'refundPurchase', 'appStoreNotifications', 'reconcilePurchases'] as const;

const root = join(__dirname, '../..');
const execFileAsync = promisify(execFile);
const requireFromRoot = createRequire(join(root, 'package.json'));

/** Packages that stay external (resolved from node_modules at run time). */
const EXTERNAL = ['@google-cloud/functions-framework'];

/**
 * Heavy libraries: one lazily loaded chunk per group. Firestore and the Play client share one: a
 * verification needs both, and together they share their dependencies (gaxios, node-fetch, …).
 */
const CHUNKS: Record<string, readonly string[]> = {
  // google-gax (Firestore's own copy, no extra code) is exported for code-cache.js's gRPC stand-in only.
  google: ['@google-cloud/firestore', '@googleapis/androidpublisher', 'google-auth-library', 'google-gax', '@google-cloud/pubsub'],
  apple: ['@apple/app-store-server-library'],
};
const chunkOf = new Map(Object.entries(CHUNKS).flatMap(([chunk, pkgs]) => pkgs.map((p) => [p, chunk] as const)));

const NODE_BUILTINS = new Set(requireFromRoot('node:module').builtinModules as string[]);

function packageName(path: string): string {
  const parts = path.split('/');
  return path.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/**
 * CommonJS module text with `real`'s export names (read here, at build time, so that esbuild's
 * interop and TypeScript's __importStar copy getters, not values), each a getter through `load`.
 * `interopDefault`: also a `default` (the module itself unless it has one), for `import x from 'pkg'`.
 */
function lazyExports(real: Record<string, unknown>, load: string, comment: string, interopDefault: boolean): string {
  const names = Object.keys(real).filter((n) => n !== '__esModule' && (n !== 'default' || !interopDefault));
  return [
    `// ${comment} (tools/build/build.ts)`,
    `'use strict';`,
    `let mod;`,
    `const load = () => (mod ??= ${load});`,
    real.__esModule ? `Object.defineProperty(exports, '__esModule', { value: true });` : '',
    `for (const name of ${JSON.stringify(names)}) Object.defineProperty(exports, name, { enumerable: true, get: () => load()[name] });`,
    interopDefault ? `Object.defineProperty(exports, 'default', { enumerable: true, get: () => { const m = load(); return m.default ?? m; } });` : '',
  ].join('\n');
}

/** `pkg` in main.js: its chunk is read, compiled and run on the first use of one of its exports. */
function lazyShim(pkg: string): string {
  const chunk = chunkOf.get(pkg)!;
  const load = `require('./code-cache.js').load(require('node:path').join(__dirname, ${JSON.stringify(`vendor/${chunk}.js`)}))[${JSON.stringify(pkg)}]`;
  return lazyExports(requireFromRoot(pkg) as Record<string, unknown>, load, `${pkg}, loaded from ./vendor/${chunk}.js on the first use of one of its exports`, true);
}

const lazyVendor: Plugin = {
  name: 'lazy-vendor',
  setup(b) {
    const filter = new RegExp(`^(${[...chunkOf.keys()].map((p) => p.replace(/[/.]/g, '\\$&')).join('|')})$`);
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'lazy-vendor' }));
    b.onResolve({ filter: /^\.\/code-cache\.js$/, namespace: 'lazy-vendor' }, (args) => ({ path: args.path, external: true }));
    b.onLoad({ filter: /.*/, namespace: 'lazy-vendor' }, (args) => ({ contents: lazyShim(args.path), loader: 'js', resolveDir: root }));
    // A deep import (pkg/sub/path) would bypass the shim and drag the package into index.js.
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      const name = packageName(args.path);
      if (chunkOf.has(name) && args.path !== name) return { errors: [{ text: `${args.path}: import ${name} itself (its chunk is loaded lazily)` }] };
      return undefined;
    });
  },
};

/**
 * Our modules evaluated on first use of one of their exports rather than at start, because their top
 * level touches their library (a class extending Apple's API client): the App Store adapter.
 */
const LAZY_MODULES = ['shared/app-store/adapter.ts'].map((f) => join(root, f));

async function exportNames(file: string): Promise<string[]> {
  const r = await build({ entryPoints: [file], bundle: false, write: false, metafile: true, format: 'esm', logLevel: 'silent' });
  return Object.values(r.metafile.outputs).flatMap((o) => o.exports);
}

const lazyModules: Plugin = {
  name: 'lazy-modules',
  setup(b) {
    const bases = LAZY_MODULES.map((f) => f.split('/').pop()!.replace(/\.ts$/, ''));
    const filter = new RegExp(`(^|/)(${bases.join('|')})(\\.ts)?$`);
    b.onResolve({ filter }, async (args) => {
      if (args.namespace === 'lazy-module' || (args.pluginData as { lazySkip?: boolean } | undefined)?.lazySkip) return undefined;
      const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { lazySkip: true } });
      return LAZY_MODULES.includes(r.path) ? { path: r.path, namespace: 'lazy-module' } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-module' }, async (args) => ({
      contents: [
        `// ${relative(root, args.path)}, evaluated on the first use of one of its exports (tools/build/build.ts)`,
        `let mod;`,
        `const load = () => (mod ??= require(${JSON.stringify(args.path)}));`,
        `for (const name of ${JSON.stringify(await exportNames(args.path))}) Object.defineProperty(exports, name, { enumerable: true, get: () => load()[name] });`,
      ].join('\n'),
      loader: 'js',
      resolveDir: root,
    }));
  },
};

/** zod's `z.locales` holds every language (≈ 360 KiB); the messages we produce are English only. */
const zodEnglishOnly: Plugin = {
  name: 'zod-english-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({
      contents: 'export { default as en } from "./en.js";\n',
      loader: 'js',
    }));
  },
};

/**
 * npm keeps a copy of a package per exact pin (google-gax and googleapis-common both pin
 * google-auth-library 10.5.0, each in its own node_modules): in a chunk, one copy of each
 * name@version is enough. Only identical versions are merged.
 */
function dedupeIdenticalPackages(): Plugin {
  return {
    name: 'dedupe-identical-packages',
    setup(b) {
      const first = new Map<string, string>(); // name@version → package folder first seen
      const packageRoot = (file: string): { dir: string; id: string } | undefined => {
        for (let dir = dirname(file); dir.includes('node_modules'); dir = dirname(dir)) {
          const pj = join(dir, 'package.json');
          if (!existsSync(pj)) continue;
          const { name, version } = JSON.parse(readFileSync(pj, 'utf8')) as { name?: string; version?: string };
          if (name && version && dir.endsWith(join('node_modules', name))) return { dir, id: `${name}@${version}` };
        }
        return undefined;
      };
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        if ((args.pluginData as { dedupe?: boolean } | undefined)?.dedupe) return undefined;
        const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { dedupe: true } });
        if (r.errors.length || r.external || !r.path.includes('node_modules')) return undefined;
        const pr = packageRoot(r.path);
        if (!pr) return undefined;
        const kept = first.get(pr.id);
        if (!kept) first.set(pr.id, pr.dir);
        return kept && kept !== pr.dir ? { path: join(kept, relative(pr.dir, r.path)) } : undefined;
      });
    },
  };
}

/**
 * Library modules inside a chunk evaluated on the first use of one of their exports rather than when
 * their importer runs, because no function uses them and their importers only keep the module object
 * and reach into it inside functions: google-gax's generated protobuf code for the IAM, Locations and
 * long-running Operations services (its index requires them at load) and the Firestore Admin API's
 * descriptors (JSON, parsed at load by the admin client Firestore's v1 module loads); about 1.9 MB of
 * heap at every start otherwise. A module whose importer reads an export at load (Firestore's
 * generated protos) would gain nothing here; the build fails if a listed file is not installed.
 */
const LAZY_LIBRARY_MODULES = [
  'google-gax/build/protos/iam_service.js',
  'google-gax/build/protos/locations.js',
  'google-gax/build/protos/operations.js',
  '@google-cloud/firestore/build/protos/admin_v1.json',
];

const lazyLibraryModules: Plugin = {
  name: 'lazy-library-modules',
  setup(b) {
    const files = new Map(LAZY_LIBRARY_MODULES.map((m) => [join(root, 'node_modules', m), m] as const));
    // As their importers write them: `../protos/operations`, `../../protos/admin_v1.json`.
    const bases = [...new Set(LAZY_LIBRARY_MODULES.map((m) => m.split('/').pop()!.replace(/\.js$/, '').replace(/\./g, '\\.')))];
    b.onResolve({ filter: new RegExp(`/(${bases.join('|')})(\\.js)?$`) }, async (args) => {
      if (args.namespace === 'lazy-library-module' || (args.pluginData as { lazySkip?: boolean } | undefined)?.lazySkip) return undefined;
      const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { lazySkip: true } });
      return files.has(r.path) ? { path: r.path, namespace: 'lazy-library-module' } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-library-module' }, (args) => ({
      contents: lazyExports(requireFromRoot(args.path) as Record<string, unknown>, `require(${JSON.stringify(args.path)})`, `${files.get(args.path)}, evaluated on the first use of one of its exports`, false),
      loader: 'js',
      resolveDir: root,
    }));
    // The list names files of installed versions: a rename would silently keep them eager.
    b.onStart(() => {
      const missing = [...files].filter(([file]) => !existsSync(file)).map(([, m]) => m);
      return missing.length ? { errors: [{ text: `LAZY_LIBRARY_MODULES: ${missing.join(', ')} not installed` }] } : undefined;
    });
  },
};

/**
 * Edits to a library's text in a chunk, each for start-up cost only (same values on every call and
 * every property read): the build fails when a listed text is no longer exactly once in the installed
 * file, so that an upgrade is looked at.
 */
const LIBRARY_EDITS: readonly { file: string; why: string; replace: readonly (readonly [find: string, by: string])[] }[] = [
  {
    why:
      "Firestore's v1 client builds a Locations API client in its constructor (its protos loaded and " +
      'turned into gRPC definitions: about 18 ms of a first request); only getLocation/listLocations ' +
      '(never called by us) and close() use it. Built on its first use instead.',
    file: '@google-cloud/firestore/build/src/v1/firestore_client.js',
    replace: [
      [
        'this.locationsClient = new this._gaxModule.LocationsClient(this._gaxGrpc, opts);',
        "{ const gax = this._gaxModule, grpc = this._gaxGrpc; let made; Object.defineProperty(this, 'locationsClient', " +
          '{ configurable: true, enumerable: true, get: () => (made ??= new gax.LocationsClient(grpc, opts)), set: (v) => { made = v; } }); }',
      ],
    ],
  },
  {
    why:
      "proto-loader describes every message of a package for gRPC reflection (each message's " +
      'DescriptorProto and every file encoded: 20 ms of the 35 ms that Firestore\'s 129 definitions take ' +
      'without a code cache); grpc-js and google-gax read neither. Both made on first read instead.',
    file: '@grpc/proto-loader/build/src/index.js',
    replace: [
      [
        `    const messageDescriptor = message.toDescriptor('proto3');
    return {
        format: 'Protocol Buffer 3 DescriptorProto',
        type: messageDescriptor.$type.toObject(messageDescriptor, descriptorOptions),
        fileDescriptorProtos: fileDescriptors,`,
        `    let type;
    return {
        format: 'Protocol Buffer 3 DescriptorProto',
        get type() { if (type === undefined) { const d = message.toDescriptor('proto3'); type = d.$type.toObject(d, descriptorOptions); } return type; },
        get fileDescriptorProtos() { return fileDescriptors(); },`,
      ],
      [
        `        type: enumDescriptor.$type.toObject(enumDescriptor, descriptorOptions),
        fileDescriptorProtos: fileDescriptors,`,
        `        type: enumDescriptor.$type.toObject(enumDescriptor, descriptorOptions),
        get fileDescriptorProtos() { return fileDescriptors(); },`,
      ],
      [
        `    const descriptorList = root.toDescriptor('proto3').file;
    const bufferList = descriptorList.map(value => Buffer.from(descriptor.FileDescriptorProto.encode(value).finish()));
    for (const [name, obj] of getAllHandledReflectionObjects(root, '')) {
        def[name] = createDefinition(obj, name, options, bufferList);`,
        `    let bufferList;
    const fileDescriptors = () => (bufferList ??= root.toDescriptor('proto3').file.map(value => Buffer.from(descriptor.FileDescriptorProto.encode(value).finish())));
    for (const [name, obj] of getAllHandledReflectionObjects(root, '')) {
        def[name] = createDefinition(obj, name, options, fileDescriptors);`,
      ],
    ],
  },
];

const libraryEdits: Plugin = {
  name: 'library-edits',
  setup(b) {
    const edits = new Map(LIBRARY_EDITS.map((e) => [join(root, 'node_modules', e.file), e] as const));
    const files = [...edits.keys()].map((f) => f.replace(/[/.]/g, '\\$&'));
    b.onLoad({ filter: new RegExp(`^(${files.join('|')})$`) }, (args) => {
      const edit = edits.get(args.path)!;
      let text = readFileSync(args.path, 'utf8');
      for (const [find, by] of edit.replace) {
        const at = text.indexOf(find);
        if (at < 0 || text.indexOf(find, at + 1) >= 0) {
          return { errors: [{ text: `LIBRARY_EDITS: ${edit.file} no longer has exactly one "${find.split('\n')[0]!.trim()}…"` }] };
        }
        text = text.slice(0, at) + by + text.slice(at + find.length);
      }
      return { contents: text, loader: 'js' };
    });
    b.onStart(() => {
      const missing = [...edits].filter(([file]) => !existsSync(file)).map(([, e]) => e.file);
      return missing.length ? { errors: [{ text: `LIBRARY_EDITS: ${missing.join(', ')} not installed` }] } : undefined;
    });
  },
};

/**
 * A JSON file (protocol descriptors, client configs) as `JSON.parse('…')`: V8 parses a JSON string
 * faster than the same data as a JavaScript object literal, and does not keep code for it.
 */
const jsonAsParse: Plugin = {
  name: 'json-as-parse',
  setup(b) {
    b.onLoad({ filter: /\.json$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (text.length < 2048) return undefined;
      return { contents: `module.exports = JSON.parse(${JSON.stringify(JSON.stringify(JSON.parse(text)))});\n`, loader: 'js' };
    });
  },
};

const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  metafile: true,
  logLevel: 'warning',
  // import() as require(): the files are compiled through vm.Script (code-cache.js), where Node 20 has no import().
  supported: { 'dynamic-import': false },
  external: [...EXTERNAL, ...EXTERNAL.map((p) => `${p}/*`)],
};

/** The packages (not chunks, not node built-ins) an output requires at run time. */
function externalPackages(meta: Metafile): string[] {
  const names = new Set<string>();
  for (const output of Object.values(meta.outputs)) {
    for (const imp of output.imports) {
      if (!imp.external || imp.path.startsWith('node:') || imp.path.startsWith('./')) continue;
      const name = packageName(imp.path);
      if (!NODE_BUILTINS.has(name)) names.add(name);
    }
  }
  return [...names].sort();
}

/** The vendor chunks an output refers to (through the shims of their packages). */
function chunksUsed(meta: Metafile): string[] {
  const used = new Set<string>();
  for (const input of Object.keys(meta.inputs)) {
    const m = /^lazy-vendor:(.+)$/.exec(input);
    if (m) used.add(chunkOf.get(m[1]!)!);
  }
  return [...used].sort();
}

interface Registration {
  kind: 'http' | 'cloudEvent';
  target: string;
  handler: string;
  line: string;
}

/**
 * functions/index.ts is the one list of registrations; a function's own entry is that file with the
 * other functions' registrations and handler imports removed.
 */
function entryFor(indexSource: string, registrations: Registration[], target: string): string {
  let out = indexSource;
  for (const r of registrations) {
    if (r.target === target) continue;
    out = out.replace(`${r.line}\n`, '');
    const imp = new RegExp(`^import \\{ ${r.handler} \\} from '[^']+';\\n`, 'm');
    if (!imp.test(out)) throw new Error(`functions/index.ts: no "import { ${r.handler} } from '…';" line`);
    out = out.replace(imp, '');
  }
  const targets = /^export const FUNCTION_TARGETS = \[[^\]]*\] as const;$/m;
  if (!targets.test(out)) throw new Error('functions/index.ts: no "export const FUNCTION_TARGETS = [...] as const;" line');
  return out.replace(targets, `export const FUNCTION_TARGETS = [${JSON.stringify(target)}] as const;`);
}

function readRegistrations(indexSource: string): Registration[] {
  const registrations = [...indexSource.matchAll(/^(http|cloudEvent)\('(\w+)', (\w+)\(runtime\)\);$/gm)].map((m) => ({
    kind: m[1] as Registration['kind'],
    target: m[2]!,
    handler: m[3]!,
    line: m[0],
  }));
  const names = registrations.map((r) => r.target);
  if (names.join() !== [...FUNCTIONS].join()) {
    throw new Error(`functions/index.ts registers ${names.join(', ')}; tools/build/build.ts expects ${FUNCTIONS.join(', ')}`);
  }
  return registrations;
}

const size = (file: string) => `${Math.round(statSync(file).size / 1024)} KiB`;

async function main(): Promise<void> {
  const indexFile = join(root, 'functions/index.ts');
  const indexSource = readFileSync(indexFile, 'utf8');
  const registrations = readRegistrations(indexSource);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const installedVersion = (name: string) =>
    (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

  // Every function: dist/index.js (+ source map) and dist/vendor/. Nothing is written before all is built
  // (a running local stack or test may be reading dist/ meanwhile).
  const all = await build({ ...common, entryPoints: [indexFile], outfile: join(root, 'dist/index.js'), sourcemap: true, write: false, plugins: [lazyVendor, lazyModules, zodEnglishOnly] });

  // One entry per function, into build/functions/<name>/.
  const perFunction = new Map<string, BuildResult>();
  for (const name of FUNCTIONS) {
    const result = await build({
      ...common,
      stdin: { contents: entryFor(indexSource, registrations, name), resolveDir: join(root, 'functions'), sourcefile: `functions/index.ts (${name} only)`, loader: 'ts' },
      outfile: join(root, 'build/functions', name, 'main.js'),
      write: false,
      plugins: [lazyVendor, lazyModules, zodEnglishOnly],
    });
    perFunction.set(name, result);
  }

  // The chunks, built once.
  const needed = new Set([...chunksUsed(all.metafile!), ...[...perFunction.values()].flatMap((r) => chunksUsed(r.metafile!))]);
  // One non-ASCII character anywhere (a dash in a library's comment) makes V8 hold the whole source
  // as UTF-16, twice the memory; as \u escapes it means the same in comments, strings and regexps.
  const asciiOnly = (bytes: Uint8Array): string =>
    Buffer.from(bytes).toString('utf8').replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  // What code-cache.js loads (the chunks, a function's main.js) is written as the function expression
  // it compiles, so that no second copy of the text is made at start.
  const { wrapped } = requireFromRoot('./tools/build/code-cache.js') as { wrapped: (source: string) => string };
  const loadable = (bytes: Uint8Array): Buffer => Buffer.from(wrapped(asciiOnly(bytes)));
  const chunks = new Map<string, Buffer>();
  for (const chunk of [...needed].sort()) {
    // Each package a getter: loading the chunk compiles it, but runs only the packages a function uses
    // (verifyPurchase never runs Pub/Sub's unless it publishes events).
    const contents = CHUNKS[chunk]!.map((p) => `Object.defineProperty(exports, ${JSON.stringify(p)}, { enumerable: true, get: () => require(${JSON.stringify(p)}) });`).join('\n') + '\n';
    const result = await build({
      ...common,
      stdin: { contents, resolveDir: root, sourcefile: `vendor/${chunk}.js`, loader: 'js' },
      outfile: join(root, 'dist/vendor', `${chunk}.js`),
      write: false,
      minify: true,
      keepNames: true,
      legalComments: 'none',
      plugins: [lazyLibraryModules, libraryEdits, dedupeIdenticalPackages(), jsonAsParse],
    });
    // esbuild leaves a require it cannot resolve inside try/catch as it is (node-fetch's optional
    // `encoding`): not installed here, it is not installed in the cloud either, and the library copes.
    const installed = (p: string) => existsSync(join(root, 'node_modules', p, 'package.json'));
    const leftOut = externalPackages(result.metafile!).filter((p) => !EXTERNAL.includes(p) && installed(p));
    if (leftOut.length) throw new Error(`vendor/${chunk}.js requires packages it does not contain: ${leftOut.join(', ')}`);
    chunks.set(chunk, loadable(result.outputFiles![0]!.contents));
  }

  const codeCache = readFileSync(join(__dirname, 'code-cache.js'));
  // dist/index.js stays a plain module: functions-framework requires it (CONTRACT.md section 1).
  const output = (file: string, bytes: Uint8Array): Uint8Array =>
    file.endsWith('/main.js') ? loadable(bytes) : file.endsWith('.js') ? Buffer.from(asciiOnly(bytes)) : bytes;
  const writeOutputs = (dir: string, result: BuildResult) => {
    rmSync(join(dir, 'vendor'), { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const chunk of chunksUsed(result.metafile!)) {
      mkdirSync(join(dir, 'vendor'), { recursive: true });
      writeFileSync(join(dir, 'vendor', `${chunk}.js`), chunks.get(chunk)!);
    }
    for (const f of result.outputFiles!) writeFileSync(f.path, output(f.path, f.contents));
    writeFileSync(join(dir, 'code-cache.js'), codeCache);
  };
  writeOutputs(join(root, 'dist'), all);
  rmSync(join(root, 'build/functions'), { recursive: true, force: true });
  for (const [name, result] of perFunction) writeOutputs(join(root, 'build/functions', name), result);

  // Each folder: index.js (main.js through its code cache), package.json (only what stays external,
  // pinned as installed here; gcp-build makes the code caches in Cloud Build), .gcloudignore.
  const report: string[] = [];
  for (const [name, result] of perFunction) {
    const meta = result.metafile!;
    const deps: Record<string, string> = {};
    for (const dep of externalPackages(meta)) {
      if (!pkg.dependencies[dep]) throw new Error(`${name}'s bundle requires ${dep}, which is not a runtime dependency in package.json`);
      deps[dep] = installedVersion(dep);
    }
    const dir = join(root, 'build/functions', name);
    writeFileSync(
      join(dir, 'index.js'),
      [
        `'use strict';`,
        `// ${name}: main.js (the bundle, tools/build/build.ts), compiled from its V8 code cache when it has a valid one.`,
        `module.exports = require('./code-cache.js').load(require('node:path').join(__dirname, 'main.js'));`,
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify(
        {
          name: `iap-functions-${name}`,
          private: true,
          main: 'index.js',
          engines: { node: '>=22' },
          scripts: { 'gcp-build': 'node code-cache.js --best-effort' },
          dependencies: deps,
        },
        null,
        2,
      ) + '\n',
    );
    writeFileSync(
      join(dir, '.gcloudignore'),
      '# The code caches are made in Cloud Build by the gcp-build script, with the Node that runs the function.\n*.cache\nnode_modules/\n',
    );
    report.push(`  ${name}: main.js ${size(join(dir, 'main.js'))}${chunksUsed(meta).map((c) => `, vendor/${c}.js ${size(join(dir, 'vendor', `${c}.js`))}`).join('')}; external: ${Object.keys(deps).join(', ')}`);
  }
  const distExternal = externalPackages(all.metafile!);
  for (const dep of distExternal) if (!existsSync(join(root, 'node_modules', dep))) throw new Error(`dist/index.js requires ${dep}, not installed`);

  // The code caches for this machine's Node (gcp-build makes them again in the cloud), three at a time (they mostly wait).
  const names = [...perFunction.keys()];
  const caches: string[] = [];
  const worker = async () => {
    for (let name = names.shift(); name; name = names.shift()) {
      const dir = join(root, 'build/functions', name);
      // Best effort: a cache only makes the first start faster; a slow or busy machine must not fail the build.
      try {
        const { stdout } = await execFileAsync(process.execPath, ['code-cache.js'], { cwd: dir, timeout: 90_000 });
        caches.push(`  ${name}: ${stdout.trim().replace(/^code-cache: /, '')}`);
      } catch (e) {
        caches.push(`  ${name}: none (${String((e as { stderr?: string }).stderr ?? (e as Error).message).trim().split('\n')[0]})`);
      }
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  console.log(
    `built ${relative(root, join(root, 'dist/index.js'))} (every function; vendor: ${chunksUsed(all.metafile!).join(', ')}; external: ${distExternal.join(', ')}) and build/functions/:\n${report.join('\n')}\ncode caches:\n${caches.sort().join('\n')}`,
  );
}

if (require.main === module) {
  main()
    // The support console (browser code, separate from the functions): build/console/.
    .then(() => buildConsole(root))
    .then((out) => console.log(`built ${relative(root, out)}/ (support console)`))
    .catch((e: unknown) => {
      console.error(e);
      process.exit(1);
    });
}
