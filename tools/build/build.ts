import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';

/**
 * dist/index.js: our code bundled into one file that registers every function; packages stay
 * external. build/functions/<name>/: one deployable folder per function (the bundle, a package.json
 * with only the runtime packages the bundle imports, pinned as installed here), for gcloud deploy.
 */
export const FUNCTIONS = ['verifyPurchase', 'playRtdn', 'refundPurchase', 'appStoreNotifications', 'reconcilePurchases'] as const;

const root = join(__dirname, '../..');

function importedPackages(meta: Metafile): string[] {
  const names = new Set<string>();
  for (const output of Object.values(meta.outputs)) {
    for (const imp of output.imports) {
      if (!imp.external || imp.path.startsWith('node:')) continue;
      const parts = imp.path.split('/');
      names.add(imp.path.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
    }
  }
  return [...names].filter((n) => !['fs', 'path', 'crypto', 'http', 'https', 'net', 'os', 'url', 'util', 'async_hooks', 'child_process', 'stream', 'zlib', 'events'].includes(n)).sort();
}

async function main(): Promise<void> {
  const result = await build({
    entryPoints: [join(root, 'functions/index.ts')],
    outfile: join(root, 'dist/index.js'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    sourcemap: true,
    metafile: true,
    logLevel: 'warning',
  });
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const deps: Record<string, string> = {};
  for (const name of importedPackages(result.metafile)) {
    const installed = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
    if (!pkg.dependencies[name]) throw new Error(`the bundle imports ${name}, which is not a runtime dependency in package.json`);
    deps[name] = installed.version;
  }
  rmSync(join(root, 'build/functions'), { recursive: true, force: true });
  for (const name of FUNCTIONS) {
    const dir = join(root, 'build/functions', name);
    mkdirSync(dir, { recursive: true });
    cpSync(join(root, 'dist/index.js'), join(dir, 'index.js'));
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ name: `iap-functions-${name}`, private: true, main: 'index.js', engines: { node: '>=22' }, dependencies: deps }, null, 2) + '\n',
    );
  }
  console.log(`built dist/index.js and build/functions/{${FUNCTIONS.join(',')}} (runtime packages: ${Object.keys(deps).join(', ')})`);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
