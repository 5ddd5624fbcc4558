import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';

/**
 * npm run deploy -- --project P --region R [--config deploy/deploy.json] [--dry-run]
 * Deploys every function (2nd gen, Node 22) with gcloud and the Firestore rules and indexes with the
 * firebase CLI. --dry-run prints the exact commands instead of running them.
 */
const root = resolve(__dirname, '../..');

const DeployConfigSchema = z.strictObject({
  $comment: z.string().optional(),
  catalog: z.string().min(1),
  rtdnTopic: z.string().regex(/^[A-Za-z][\w.~+%-]{2,254}$/).default('play-rtdn'),
  memory: z.string().default('256Mi'),
  serviceAccount: z.string().optional(),
  env: z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/), z.string()),
  secrets: z.record(z.string().regex(/^[A-Z][A-Z0-9_]*$/), z.string().regex(/^[\w-]+:(latest|\d+)$/)).default({}),
});
type DeployConfig = z.infer<typeof DeployConfigSchema>;

interface Args {
  project: string;
  region: string;
  config: string;
  dryRun: boolean;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    const inline = argv.find((a) => a.startsWith(`--${name}=`));
    return inline ? inline.slice(name.length + 3) : i >= 0 ? argv[i + 1] : undefined;
  };
  const project = get('project');
  const region = get('region');
  if (!project || !region) {
    console.error('usage: npm run deploy -- --project PROJECT --region REGION [--config deploy/deploy.json] [--dry-run]');
    process.exit(2);
  }
  return { project, region, config: get('config') ?? 'deploy/deploy.json', dryRun: argv.includes('--dry-run') };
}

const TRIGGERS: Record<string, (c: DeployConfig) => string[]> = {
  verifyPurchase: () => ['--trigger-http', '--allow-unauthenticated'],
  refundPurchase: () => ['--trigger-http', '--allow-unauthenticated'],
  appStoreNotifications: () => ['--trigger-http', '--allow-unauthenticated'],
  // retries on: a transient failure throws and Pub/Sub redelivers
  playRtdn: (c) => [`--trigger-topic=${c.rtdnTopic}`, '--retry'],
};

export function deployCommands(args: Args, config: DeployConfig, envFile: string): string[][] {
  const commands: string[][] = [];
  for (const [name, trigger] of Object.entries(TRIGGERS)) {
    const cmd = [
      'gcloud', 'functions', 'deploy', name,
      '--gen2', '--runtime=nodejs22',
      `--project=${args.project}`, `--region=${args.region}`,
      `--source=${join('build/functions', name)}`, `--entry-point=${name}`,
      ...trigger(config),
      `--memory=${config.memory}`,
      `--env-vars-file=${envFile}`,
    ];
    if (config.serviceAccount) cmd.push(`--service-account=${config.serviceAccount}`);
    const secrets = Object.entries(config.secrets).map(([k, v]) => `${k}=${v}`);
    if (secrets.length) cmd.push(`--set-secrets=${secrets.join(',')}`);
    commands.push(cmd);
  }
  commands.push(['firebase', 'deploy', '--only', 'firestore:rules,firestore:indexes', '--project', args.project, '--non-interactive']);
  return commands;
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  if (!existsSync(args.config)) {
    console.error(`No ${args.config}: copy deploy/deploy.example.json to it and fill it in.`);
    process.exit(2);
  }
  const parsed = DeployConfigSchema.safeParse(JSON.parse(readFileSync(args.config, 'utf8')));
  if (!parsed.success) {
    console.error(`Invalid ${args.config}:\n  - ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n  - ')}`);
    process.exit(2);
  }
  const config = parsed.data;
  for (const name of Object.keys(TRIGGERS)) {
    const dir = join(root, 'build/functions', name);
    if (!existsSync(join(dir, 'index.js'))) {
      console.error(`Missing ${dir}/index.js: run npm run build first.`);
      process.exit(2);
    }
    copyFileSync(resolve(config.catalog), join(dir, 'catalog.json'));
  }
  // Cloud Functions run from /workspace, the root of the uploaded folder.
  const env = { GOOGLE_CLOUD_PROJECT: args.project, IAP_CATALOG: '/workspace/catalog.json', ...config.env };
  const envFile = join(mkdtempSync(join(tmpdir(), 'iap-deploy-')), 'env.yaml');
  writeFileSync(envFile, Object.entries(env).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('\n') + '\n');
  const commands = deployCommands(args, config, envFile);
  if (args.dryRun) {
    console.log(`# env file ${envFile}:\n${readFileSync(envFile, 'utf8').replace(/^/gm, '#   ')}`);
    for (const c of commands) console.log(c.map((a) => (/[^\w@%+=:,./-]/.test(a) ? `'${a}'` : a)).join(' '));
    return;
  }
  for (const c of commands) {
    console.log(`$ ${c.join(' ')}`);
    const r = spawnSync(c[0]!, c.slice(1), { stdio: 'inherit', cwd: root });
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
}

if (require.main === module) main();
