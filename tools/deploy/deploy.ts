import { parseArgs as parseCliArgs } from 'node:util';
import { hostingConsoleConfig } from '../console/hosting-config';
import { spawnSync, type StdioOptions } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { functionConfigProblems, placeholderProblems } from './check-config';
import { defaultBuildServiceAccount, defaultServiceAccount, gcloudOnPath, probeProject, type Missing, type ProbeTarget } from './probe';

/**
 * npm run deploy -- --project P --region R [--config deploy/deploy.json] [--dry-run]
 * Creates the RTDN topic (if missing) and its dead-letter topic with a hold subscription, and the
 * reconcile topic, deploys every function (2nd gen, Node 22) with gcloud, gives playRtdn's Pub/Sub
 * subscription (made by Eventarc) a dead-letter topic and a bounded retry policy, deploys the Firestore
 * rules and indexes with the firebase CLI, and creates (or updates) the Cloud Scheduler job that
 * publishes to the reconcile topic. --dry-run prints the exact commands instead of running them.
 * Every run first checks deploy.json (check-config.ts); a deploy also probes the project (probe.ts) and
 * stops before changing anything when something is missing. --check only checks; --setup makes what is
 * missing (docs/deploy.md).
 */
const root = resolve(__dirname, '../..');

/** Pub/Sub topic and subscription ids: 3-255 characters, a letter first, not starting with "goog". */
const PUBSUB_ID = /^(?!goog)[A-Za-z][\w.~+%-]{2,254}$/;

/** The Cloud Scheduler job that starts a reconcile sweep by publishing `{}` to the reconcile topic. */
export const RECONCILE_JOB = 'iap-reconcile';

/** Unix cron, five fields (Cloud Scheduler's format). */
const CRON = /^[\d*/,A-Za-z-]+( [\d*/,A-Za-z-]+){4}$/;

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const DeployConfigSchema = z
  .strictObject({
    $comment: z.string().optional(),
    catalog: z.string().min(1),
    rtdnTopic: z.string().regex(PUBSUB_ID).default('play-rtdn'),
    /** Where an RTDN goes after rtdnMaxDeliveryAttempts failed deliveries; default `${rtdnTopic}-dead-letter`. */
    rtdnDeadLetterTopic: z.string().regex(PUBSUB_ID).optional(),
    rtdnMaxDeliveryAttempts: z.number().int().min(5).max(100).default(10),
    reconcileTopic: z.string().regex(PUBSUB_ID).default('iap-reconcile'),
    reconcileSchedule: z.string().regex(CRON, 'a five-field cron expression, e.g. "*/15 * * * *"').default('*/15 * * * *'),
    reconcileTimeZone: z.string().refine(isTimeZone, 'not an IANA time zone').default('Etc/UTC'),
    memory: z.string().default('256Mi'),
    /** Default iap-functions@PROJECT.iam.gserviceaccount.com: the functions run as it. */
    serviceAccount: z.string().optional(),
    /** Default iap-functions-build@PROJECT.iam.gserviceaccount.com: Cloud Build builds the functions as it. */
    buildServiceAccount: z.string().optional(),
    // an emulator switch in the cloud would accept unsigned ID tokens (FIREBASE_AUTH_EMULATOR_HOST) or talk to no database
    env: z
      .record(z.string().regex(/^[A-Z][A-Z0-9_]*$/), z.string())
      .refine((env) => !Object.keys(env).some((k) => k.endsWith('_EMULATOR_HOST')), {
        message: 'must not contain any *_EMULATOR_HOST variable (emulators are for the local stack only)',
      }),
    secrets: z
      .record(z.string().regex(/^[A-Z][A-Z0-9_]*$/), z.string().regex(/^[\w-]+:(latest|\d+)$/, 'a Secret Manager reference NAME:VERSION, e.g. apple-api-key:latest'))
      .refine((s) => !Object.keys(s).some((k) => k.endsWith('_EMULATOR_HOST')), { message: 'must not contain any *_EMULATOR_HOST variable' })
      .default({}),
  })
  .transform((c) => ({ ...c, rtdnDeadLetterTopic: c.rtdnDeadLetterTopic ?? `${c.rtdnTopic}-dead-letter` }))
  .refine((c) => PUBSUB_ID.test(c.rtdnDeadLetterTopic) && PUBSUB_ID.test(holdSubscription(c)), {
    path: ['rtdnDeadLetterTopic'],
    message: 'not a valid Pub/Sub topic id (or too long to append "-hold" for its subscription)',
  })
  .refine((c) => c.rtdnDeadLetterTopic !== c.rtdnTopic, {
    path: ['rtdnDeadLetterTopic'],
    message: 'must differ from rtdnTopic',
  })
  // a shared topic would push RTDNs to the sweep and the sweep's `{}` to playRtdn
  .refine((c) => c.reconcileTopic !== c.rtdnTopic && c.reconcileTopic !== c.rtdnDeadLetterTopic, {
    path: ['reconcileTopic'],
    message: 'must differ from rtdnTopic and rtdnDeadLetterTopic',
  });
export type DeployConfig = z.output<typeof DeployConfigSchema>;

/** The subscription that keeps dead-lettered RTDNs (a topic without one drops them). */
export function holdSubscription(c: { rtdnDeadLetterTopic: string }): string {
  return `${c.rtdnDeadLetterTopic}-hold`;
}

/**
 * One command. `capture` stores its trimmed stdout under a name that later commands use as `${name}`
 * (substituted just before they run; printed as-is by --dry-run). `okIfExists` treats a failure whose
 * output says "already exists" as success, so a re-deploy re-runs the create steps harmlessly;
 * `orUpdate` runs that command instead, so a re-deploy also applies changed settings.
 */
export interface Step {
  run: string[];
  capture?: string;
  okIfExists?: boolean;
  orUpdate?: string[];
}

export interface Args {
  /** Absent only for a --check of the config alone. */
  project: string | undefined;
  region: string | undefined;
  config: string;
  dryRun: boolean;
  check: boolean;
  setup: boolean;
}

const USAGE =
  'usage: npm run deploy -- --project PROJECT --region REGION [--config deploy/deploy.json] [--dry-run]\n' +
  '       npm run deploy -- --check [--project PROJECT --region REGION] [--config deploy/deploy.json]\n' +
  '       npm run deploy -- --setup --project PROJECT --region REGION [--config deploy/deploy.json]';

/** Strict: an unknown flag stops before anything runs. */
function parseArgs(argv: string[]): Args {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseCliArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        project: { type: 'string' },
        region: { type: 'string' },
        config: { type: 'string' },
        'dry-run': { type: 'boolean' },
        check: { type: 'boolean' },
        setup: { type: 'boolean' },
      },
    }));
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const project = values.project as string | undefined;
  const region = values.region as string | undefined;
  const check = values.check === true;
  const setup = values.setup === true;
  const dryRun = values['dry-run'] === true;
  // --check alone checks the config; with a project it also probes it, which needs both
  const needsTarget = !check || project !== undefined || region !== undefined;
  if ((needsTarget && (!project || !region)) || [check, setup, dryRun].filter(Boolean).length > 1) {
    console.error(USAGE);
    process.exit(2);
  }
  return { project, region, config: (values.config as string | undefined) ?? 'deploy/deploy.json', dryRun, check, setup };
}

const TRIGGERS: Record<string, (c: DeployConfig) => string[]> = {
  verifyPurchase: () => ['--trigger-http', '--allow-unauthenticated'],
  refundPurchase: () => ['--trigger-http', '--allow-unauthenticated'],
  appStoreNotifications: () => ['--trigger-http', '--allow-unauthenticated'],
  // retries on: a transient failure throws and Pub/Sub redelivers
  playRtdn: (c) => [`--trigger-topic=${c.rtdnTopic}`, '--retry'],
  reconcilePurchases: (c) => [`--trigger-topic=${c.reconcileTopic}`, '--retry'],
};

export function deployCommands(args: { project: string; region: string }, config: DeployConfig, envFile: string): Step[] {
  const project = `--project=${args.project}`;
  const dlq = config.rtdnDeadLetterTopic;
  const steps: Step[] = [
    { run: ['gcloud', 'pubsub', 'topics', 'create', config.rtdnTopic, project], okIfExists: true },
    { run: ['gcloud', 'pubsub', 'topics', 'create', dlq, project], okIfExists: true },
    {
      run: [
        'gcloud', 'pubsub', 'subscriptions', 'create', holdSubscription(config), project, `--topic=${dlq}`,
        // unread, a subscription expires after 31 days by default: this one must stay
        '--message-retention-duration=7d', '--expiration-period=never',
      ],
      okIfExists: true,
    },
    { run: ['gcloud', 'pubsub', 'topics', 'create', config.reconcileTopic, project], okIfExists: true },
  ];
  // entitlement events (docs/entitlement-events.md): their topic, when configured
  const eventsTopic = config.env.ENTITLEMENT_EVENTS_TOPIC;
  if (eventsTopic) steps.push({ run: ['gcloud', 'pubsub', 'topics', 'create', eventsTopic, project], okIfExists: true });
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
    const serviceAccount = config.serviceAccount ?? defaultServiceAccount(args.project);
    cmd.push(`--service-account=${serviceAccount}`);
    const secrets = Object.entries(config.secrets).map(([k, v]) => `${k}=${v}`);
    if (secrets.length) cmd.push(`--set-secrets=${secrets.join(',')}`);
    cmd.push(`--build-service-account=projects/${args.project}/serviceAccounts/${config.buildServiceAccount ?? defaultBuildServiceAccount(args.project)}`);
    // Eventarc pushes as this account (it needs roles/run.invoker, --check looks): the default, Compute
    // Engine's account, has no role at all in newer projects, and every delivery would be refused
    if (cmd.some((a) => a.startsWith('--trigger-topic='))) cmd.push(`--trigger-service-account=${serviceAccount}`);
    steps.push({ run: cmd });
  }
  // playRtdn's push subscription is made by its Eventarc trigger: find it, then bound its retries.
  const pubsubAgent = 'serviceAccount:service-${projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com';
  steps.push(
    {
      run: ['gcloud', 'functions', 'describe', 'playRtdn', '--gen2', `--region=${args.region}`, project, '--format=value(eventTrigger.trigger.basename())'],
      capture: 'rtdnTrigger',
    },
    {
      run: ['gcloud', 'eventarc', 'triggers', 'describe', '${rtdnTrigger}', `--location=${args.region}`, project, '--format=value(transport.pubsub.subscription.basename())'],
      capture: 'rtdnSubscription',
    },
    {
      run: [
        'gcloud', 'pubsub', 'subscriptions', 'update', '${rtdnSubscription}', project,
        `--dead-letter-topic=${dlq}`, `--max-delivery-attempts=${config.rtdnMaxDeliveryAttempts}`,
        '--min-retry-delay=10s', '--max-retry-delay=600s',
      ],
    },
    // the Pub/Sub service agent forwards to the dead-letter topic and acks the source message
    { run: ['gcloud', 'projects', 'describe', args.project, '--format=value(projectNumber)'], capture: 'projectNumber' },
    { run: ['gcloud', 'pubsub', 'topics', 'add-iam-policy-binding', dlq, project, `--member=${pubsubAgent}`, '--role=roles/pubsub.publisher'] },
    {
      run: ['gcloud', 'pubsub', 'subscriptions', 'add-iam-policy-binding', '${rtdnSubscription}', project, `--member=${pubsubAgent}`, '--role=roles/pubsub.subscriber'],
    },
    // the support console goes to Hosting only when its web API key is given (docs/console.md)
    { run: ['firebase', 'deploy', '--only', `firestore:rules,firestore:indexes${process.env.FIREBASE_WEB_API_KEY ? ',hosting' : ''}`, '--project', args.project, '--non-interactive'] },
  );
  // Last: the sweep starts once its function and its indexes are deployed.
  const job = (verb: 'create' | 'update') => [
    'gcloud', 'scheduler', 'jobs', verb, 'pubsub', RECONCILE_JOB, `--location=${args.region}`, project,
    `--schedule=${config.reconcileSchedule}`, `--time-zone=${config.reconcileTimeZone}`,
    `--topic=${config.reconcileTopic}`, '--message-body={}',
  ];
  steps.push({ run: job('create'), orUpdate: job('update') });
  checkPlaceholders(steps);
  return steps;
}

const PLACEHOLDER = /\$\{(\w+)\}/g;

/** Every `${name}` must be captured by an earlier step. */
function checkPlaceholders(steps: Step[]): void {
  const known = new Set<string>();
  for (const step of steps) {
    for (const arg of [...step.run, ...(step.orUpdate ?? [])]) {
      for (const [, name] of arg.matchAll(PLACEHOLDER)) {
        if (!known.has(name!)) throw new Error(`\${${name}} is used before a step captures it: ${step.run.join(' ')}`);
      }
    }
    if (step.capture) known.add(step.capture);
  }
}

/** A step as a shell line: `name=$(…)` for a capture, placeholders left for the shell to expand. */
export function formatStep(step: Step): string {
  const quote = (a: string) =>
    a.includes('${') ? `"${a}"` : /[^\w@%+=:,./-]/.test(a) ? `'${a}'` : a;
  const line = step.run.map(quote).join(' ');
  if (step.capture) return `${step.capture}=$(${line})`;
  // Pasted into a shell both lines run: an update right after the create changes nothing.
  if (step.orUpdate) return `${line}  # if it already exists, instead:\n${step.orUpdate.map(quote).join(' ')}`;
  return step.okIfExists ? `${line}  # ok if it already exists` : line;
}

function runSteps(steps: Step[]): void {
  const values: Record<string, string> = {};
  const substitute = (run: string[]) => run.map((a) => a.replace(PLACEHOLDER, (_, name: string) => values[name]!));
  const exec = (argv: string[], stdio: StdioOptions) => {
    console.log(`$ ${argv.join(' ')}`);
    const r = spawnSync(argv[0]!, argv.slice(1), { cwd: root, encoding: 'utf8', stdio });
    if (r.error) {
      console.error(`Could not run ${argv[0]}: ${r.error.message}`);
      process.exit(1);
    }
    return r;
  };
  for (const step of steps) {
    // a create that may find its resource: stderr is read for "already exists", then passed on
    const tolerant = step.okIfExists === true || step.orUpdate !== undefined;
    const r = exec(substitute(step.run), ['inherit', step.capture ? 'pipe' : 'inherit', tolerant ? 'pipe' : 'inherit']);
    if (tolerant && r.stderr) process.stderr.write(r.stderr);
    if (r.status !== 0) {
      if (!tolerant || !/already exists/i.test(r.stderr ?? '')) process.exit(r.status ?? 1);
      if (step.orUpdate) {
        const u = exec(substitute(step.orUpdate), 'inherit');
        if (u.status !== 0) process.exit(u.status ?? 1);
      } else {
        console.log('  (already exists: kept as it is)');
      }
      continue;
    }
    if (step.capture) {
      const value = (r.stdout ?? '').trim();
      if (!/^[\w.~+%@-]+$/.test(value)) {
        console.error(`Expected a single name from ${step.run.slice(0, 3).join(' ')} for ${step.capture}, got ${JSON.stringify(value)}.`);
        process.exit(1);
      }
      values[step.capture] = value;
      console.log(`  ${step.capture}=${value}`);
    }
  }
}

/** Exits 2 with every problem named: the schema's, placeholders, and what the functions would refuse. */
function readDeployConfig(args: Args): DeployConfig {
  if (!existsSync(args.config)) {
    console.error(`No ${args.config}: copy deploy/deploy.example.json to it and fill it in.`);
    process.exit(2);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(args.config, 'utf8'));
  } catch (e) {
    console.error(`Invalid ${args.config}: not JSON (${(e as Error).message})`);
    process.exit(2);
  }
  const problems = placeholderProblems(raw);
  const parsed = DeployConfigSchema.safeParse(raw);
  if (!parsed.success) problems.push(...parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  else problems.push(...functionConfigProblems(parsed.data, args.project ?? 'project-not-given'));
  if (!parsed.success || problems.length > 0) {
    console.error(`Invalid ${args.config} (the functions would refuse to start, or a value is not yours yet):\n  - ${problems.join('\n  - ')}`);
    process.exit(2);
  }
  return parsed.data;
}

function probeTarget(args: { project: string; region: string }, config: DeployConfig): ProbeTarget {
  return {
    project: args.project,
    region: args.region,
    serviceAccount: config.serviceAccount ?? defaultServiceAccount(args.project),
    buildServiceAccount: config.buildServiceAccount ?? defaultBuildServiceAccount(args.project),
    rtdnTopic: config.rtdnTopic,
    secrets: config.secrets,
    eventsTopic: config.env.ENTITLEMENT_EVENTS_TOPIC,
    claims: Boolean(config.env.ENTITLEMENT_CLAIMS_KEY),
  };
}

const show = (m: Missing) => (m.run ? formatStep({ run: m.run }) : `by hand: ${m.manual}`);

/** What the project lacks, or null (said on stderr) when it cannot be probed. */
function probeOrSay(target: ProbeTarget): Missing[] | null {
  try {
    return probeProject(target);
  } catch (e) {
    console.error((e as Error).message);
    return null;
  }
}

/** Probes the project; 0 only when nothing is missing. The config was checked by readDeployConfig. */
function checkProject(target: ProbeTarget, setupHint: boolean): number {
  const missing = probeOrSay(target);
  if (!missing) return 1;
  if (missing.length === 0) {
    console.log(`Project ${target.project}: everything the deploy needs is there.`);
    return 0;
  }
  console.log(`Project ${target.project} lacks:`);
  for (const m of missing) console.log(`  - ${m.what}\n      ${show(m)}`);
  if (setupHint) {
    console.log(`npm run deploy -- --setup --project ${target.project} --region ${target.region} runs these commands${missing.some((m) => !m.run) ? ' (not the ones marked "by hand")' : ''}.`);
  }
  return 1;
}

/** Prints the fixes, then runs them in order, stopping at the first that fails; then checks again. */
function setup(target: ProbeTarget): number {
  const missing = probeOrSay(target);
  if (!missing) return 1;
  const runnable = missing.filter((m) => m.run);
  console.log(runnable.length ? 'Will run:' : 'Nothing for --setup to run.');
  for (const m of runnable) console.log(`  ${show(m)}`);
  for (const m of runnable) {
    console.log(`$ ${show(m)}`);
    const r = spawnSync('gcloud', m.run!.slice(1), { stdio: 'inherit' });
    if (r.status !== 0) {
      console.error(`Setup stopped: ${show(m)} failed (${r.error?.message ?? `exit ${r.status}`}) while making ${m.what}; nothing after it ran.`);
      return 1;
    }
  }
  console.log('Checking again:');
  return checkProject(target, false);
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const config = readDeployConfig(args);
  // --dry-run prints a shell script: this line is a comment there
  console.log(`${args.dryRun ? '# ' : ''}${args.config}: valid (the functions' configuration and catalog, no emulator variable, no placeholder).`);
  if (args.check && !args.project) {
    console.log('Project not probed: give --project and --region to check it too.');
    return;
  }
  const target = probeTarget({ project: args.project!, region: args.region! }, config);
  if (args.check && !gcloudOnPath()) {
    console.log(`Project ${target.project} not probed: gcloud is not on PATH.`);
    return;
  }
  if (args.check) process.exit(checkProject(target, true));
  if (args.setup && !gcloudOnPath()) {
    console.error('--setup needs gcloud on PATH (https://cloud.google.com/sdk/docs/install).');
    process.exit(1);
  }
  if (args.setup) process.exit(setup(target));
  // a real deploy: the project check first, before any command that changes anything
  if (!args.dryRun) {
    const ok = gcloudOnPath() && checkProject(target, true) === 0;
    if (!ok) {
      console.error(gcloudOnPath() ? 'Deploy stopped before changing anything: the check above failed.' : 'Deploy stopped: gcloud is not on PATH.');
      process.exit(1);
    }
  }
  for (const name of Object.keys(TRIGGERS)) {
    const dir = join(root, 'build/functions', name);
    if (!existsSync(join(dir, 'index.js'))) {
      console.error(`Missing ${dir}/index.js: run npm run build first.`);
      process.exit(2);
    }
    copyFileSync(resolve(config.catalog), join(dir, 'catalog.json'));
  }
  // Cloud Functions run from /workspace, the root of the uploaded folder.
  const env = { GOOGLE_CLOUD_PROJECT: target.project, IAP_CATALOG: '/workspace/catalog.json', ...config.env };
  const envFile = join(mkdtempSync(join(tmpdir(), 'iap-deploy-')), 'env.yaml');
  writeFileSync(envFile, Object.entries(env).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join('\n') + '\n');
  const steps = deployCommands(target, config, envFile);
  if (args.dryRun) {
    console.log(`# env file ${envFile}:\n${readFileSync(envFile, 'utf8').replace(/^/gm, '#   ')}`);
    for (const step of steps) console.log(formatStep(step));
    return;
  }
  // The support console on Hosting reads its Firebase web config from config.json (docs/console.md).
  const apiKey = process.env.FIREBASE_WEB_API_KEY;
  if (apiKey) writeFileSync(join(root, 'build/console/config.json'), JSON.stringify(hostingConsoleConfig(target.project, target.region, apiKey)));
  else console.log('FIREBASE_WEB_API_KEY is not set: the support console is not deployed to Hosting (docs/console.md).');
  runSteps(steps);
}

if (require.main === module) main();
