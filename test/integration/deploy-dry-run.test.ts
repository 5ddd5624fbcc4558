import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REQUIRED_APIS } from '../../tools/deploy/probe';
import { PROBE_CALL } from '../helpers/fake-gcloud';

/** `npm run deploy -- --dry-run` prints the exact gcloud and firebase commands (build/ made by npm test's build). */
const root = resolve(__dirname, '../..');
const tsx = resolve(root, 'node_modules/.bin/tsx');
const deployArgs = ['tools/deploy/deploy.ts', '--project', 'acme-prod', '--region', 'europe-west1', '--config', 'deploy/deploy.example.json'];
const agent = 'serviceAccount:service-${projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com';
const FUNCTION_NAMES = ['verifyPurchase', 'refundPurchase', 'appStoreNotifications', 'playRtdn', 'reconcilePurchases'];
const schedulerJob = (verb: string, flags = "'--schedule=*/15 * * * *' --time-zone=Etc/UTC --topic=iap-reconcile '--message-body={}'") =>
  `gcloud scheduler jobs ${verb} pubsub iap-reconcile --location=europe-west1 --project=acme-prod ${flags}`;

describe('deploy --dry-run', () => {
  it('prints one gcloud deploy per function with the right triggers, and the Firestore deploy', () => {
    expect(existsSync(resolve(root, 'build/functions/verifyPurchase/index.js'))).toBe(true);
    const out = execFileSync(tsx, [...deployArgs, '--dry-run'], { cwd: root, encoding: 'utf8' });
    const lines = out.split('\n').filter((l) => l && !l.startsWith('#'));
    // 4 Pub/Sub creates, 5 function deploys, 2 look-ups + the subscription update, project number + 2 grants, firebase,
    // the scheduler job (create, or update when it exists)
    expect(lines).toHaveLength(18);
    const byName = (n: string) => lines.find((l) => l.startsWith(`gcloud functions deploy ${n} `))!;
    for (const n of FUNCTION_NAMES) {
      const l = byName(n);
      expect(l).toContain('--gen2 --runtime=nodejs22 --project=acme-prod --region=europe-west1');
      expect(l).toContain(`--source=build/functions/${n} --entry-point=${n}`);
      // the example as written: Play only, no secret, the service account named after the project
      expect(l).not.toContain('--set-secrets');
      expect(l).toContain('--service-account=iap-functions@acme-prod.iam.gserviceaccount.com');
    }
    for (const n of ['verifyPurchase', 'refundPurchase', 'appStoreNotifications']) expect(byName(n)).toContain('--trigger-http --allow-unauthenticated');
    expect(byName('playRtdn')).toContain('--trigger-topic=play-rtdn --retry');
    expect(byName('reconcilePurchases')).toContain('--trigger-topic=iap-reconcile --retry --memory=256Mi --env-vars-file=');
    expect(out).toContain('deploy/deploy.example.json: valid');
    expect(lines[15]).toBe('firebase deploy --only firestore:rules,firestore:indexes --project acme-prod --non-interactive');
    expect(lines.slice(16)).toEqual([`${schedulerJob('create')}  # if it already exists, instead:`, schedulerJob('update')]);
    expect(out).toContain('#   IAP_CATALOG: "/workspace/catalog.json"');
    expect(out).toContain('#   GOOGLE_CLOUD_PROJECT: "acme-prod"');
    const pkg = JSON.parse(readFileSync(resolve(root, 'build/functions/playRtdn/package.json'), 'utf8'));
    expect(Object.keys(pkg.dependencies)).toContain('@google-cloud/functions-framework');
    expect(Object.keys(pkg.dependencies)).not.toContain('vitest');
    expect(existsSync(resolve(root, 'build/functions/playRtdn/catalog.json'))).toBe(true);
    expect(existsSync(resolve(root, 'build/functions/reconcilePurchases/catalog.json'))).toBe(true);
  });

  it('bounds playRtdn retries: topics first (tolerant creates), then the functions, the dead-letter policy and its grants', () => {
    const out = execFileSync(tsx, [...deployArgs, '--dry-run'], { cwd: root, encoding: 'utf8' });
    const lines = out.split('\n').filter((l) => l && !l.startsWith('#'));
    const tolerant = '  # ok if it already exists';
    expect(lines.slice(0, 4)).toEqual([
      `gcloud pubsub topics create play-rtdn --project=acme-prod${tolerant}`,
      `gcloud pubsub topics create play-rtdn-dead-letter --project=acme-prod${tolerant}`,
      'gcloud pubsub subscriptions create play-rtdn-dead-letter-hold --project=acme-prod --topic=play-rtdn-dead-letter' +
        ` --message-retention-duration=7d --expiration-period=never${tolerant}`,
      `gcloud pubsub topics create iap-reconcile --project=acme-prod${tolerant}`,
    ]);
    expect(lines.slice(4, 9).map((l) => l.split(' ')[3])).toEqual(FUNCTION_NAMES);
    expect(lines.slice(9, 15)).toEqual([
      "rtdnTrigger=$(gcloud functions describe playRtdn --gen2 --region=europe-west1 --project=acme-prod '--format=value(eventTrigger.trigger.basename())')",
      'rtdnSubscription=$(gcloud eventarc triggers describe "${rtdnTrigger}" --location=europe-west1 --project=acme-prod' +
        " '--format=value(transport.pubsub.subscription.basename())')",
      'gcloud pubsub subscriptions update "${rtdnSubscription}" --project=acme-prod --dead-letter-topic=play-rtdn-dead-letter' +
        ' --max-delivery-attempts=10 --min-retry-delay=10s --max-retry-delay=600s',
      "projectNumber=$(gcloud projects describe acme-prod '--format=value(projectNumber)')",
      `gcloud pubsub topics add-iam-policy-binding play-rtdn-dead-letter --project=acme-prod "--member=${agent}" --role=roles/pubsub.publisher`,
      `gcloud pubsub subscriptions add-iam-policy-binding "\${rtdnSubscription}" --project=acme-prod "--member=${agent}" --role=roles/pubsub.subscriber`,
    ]);
  });

  it('takes the dead-letter topic and the attempts from the config, and refuses attempts outside 5..100', () => {
    const dir = mkdtempSync(join(tmpdir(), 'iap-deploy-config-'));
    try {
      const base = JSON.parse(readFileSync(resolve(root, 'deploy/deploy.example.json'), 'utf8'));
      const write = (c: object) => {
        const file = join(dir, 'deploy.json');
        writeFileSync(file, JSON.stringify({ ...c, catalog: resolve(root, base.catalog) }));
        return file;
      };
      const { rtdnDeadLetterTopic: _t, rtdnMaxDeliveryAttempts: _n, ...defaults } = base;
      const run = (file: string) =>
        spawnSync(tsx, ['tools/deploy/deploy.ts', '--project', 'proj-1', '--region', 'r1', '--config', file, '--dry-run'], { cwd: root, encoding: 'utf8' });
      const d = run(write({ ...defaults, rtdnTopic: 'rtdn-x' }));
      expect(d.status).toBe(0);
      expect(d.stdout).toContain('gcloud pubsub subscriptions create rtdn-x-dead-letter-hold --project=proj-1 --topic=rtdn-x-dead-letter ');
      expect(d.stdout).toContain('--dead-letter-topic=rtdn-x-dead-letter --max-delivery-attempts=10 ');
      const c = run(write({ ...base, rtdnDeadLetterTopic: 'rtdn-parked', rtdnMaxDeliveryAttempts: 25 }));
      expect(c.stdout).toContain('--dead-letter-topic=rtdn-parked --max-delivery-attempts=25 ');
      expect(c.stdout).toContain('gcloud pubsub topics add-iam-policy-binding rtdn-parked ');
      for (const bad of [{ rtdnMaxDeliveryAttempts: 4 }, { rtdnMaxDeliveryAttempts: 101 }, { rtdnDeadLetterTopic: base.rtdnTopic }]) {
        const r = run(write({ ...base, ...bad }));
        expect(r.status).toBe(2);
        expect(r.stderr).toMatch(/rtdn(MaxDeliveryAttempts|DeadLetterTopic)/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes the secrets and the service account from the config when given', () => {
    const dir = mkdtempSync(join(tmpdir(), 'iap-deploy-config-'));
    try {
      const base = JSON.parse(readFileSync(resolve(root, 'deploy/deploy.example.json'), 'utf8'));
      const file = join(dir, 'deploy.json');
      writeFileSync(file, JSON.stringify({ ...base, serviceAccount: 'runner@proj-1.iam.gserviceaccount.com', secrets: { PLAY_LICENSE_KEYS: 'play-license-keys:3' } }));
      const r = spawnSync(tsx, ['tools/deploy/deploy.ts', '--project', 'proj-1', '--region', 'r1', '--config', file, '--dry-run'], { cwd: root, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const deploys = r.stdout.split('\n').filter((l) => l.startsWith('gcloud functions deploy '));
      expect(deploys).toHaveLength(5);
      for (const l of deploys) expect(l).toContain('--service-account=runner@proj-1.iam.gserviceaccount.com --set-secrets=PLAY_LICENSE_KEYS=play-license-keys:3');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an unknown flag with the usage line before anything runs (an option it does not know must not deploy)', () => {
    for (const extra of [['--chek'], ['--force'], ['--dryrun']]) {
      const r = spawnSync(tsx, ['tools/deploy/deploy.ts', '--project', 'proj-1', '--region', 'r1', ...extra], { cwd: root, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toContain(`Unknown option '${extra[0]}'`);
      expect(r.stderr).toContain('usage: npm run deploy -- --project PROJECT --region REGION');
      expect(r.stdout).toBe('');
    }
  });

  it('takes the reconcile topic, schedule and time zone from the config (defaults when left out), and refuses bad ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'iap-deploy-config-'));
    try {
      const base = JSON.parse(readFileSync(resolve(root, 'deploy/deploy.example.json'), 'utf8'));
      const file = join(dir, 'deploy.json');
      const run = (c: object) => {
        writeFileSync(file, JSON.stringify({ ...c, catalog: resolve(root, base.catalog) }));
        return spawnSync(tsx, ['tools/deploy/deploy.ts', '--project', 'proj-1', '--region', 'r1', '--config', file, '--dry-run'], { cwd: root, encoding: 'utf8' });
      };
      const { reconcileTopic: _t, reconcileSchedule: _s, reconcileTimeZone: _z, ...defaults } = base;
      const d = run(defaults);
      expect(d.status).toBe(0);
      expect(d.stdout).toContain('gcloud pubsub topics create iap-reconcile --project=proj-1 ');
      expect(d.stdout).toContain(
        "gcloud scheduler jobs create pubsub iap-reconcile --location=r1 --project=proj-1 '--schedule=*/15 * * * *' --time-zone=Etc/UTC --topic=iap-reconcile '--message-body={}'",
      );
      const c = run({ ...base, reconcileTopic: 'sweep-x', reconcileSchedule: '0 3 * * 1-5', reconcileTimeZone: 'Europe/Berlin' });
      expect(c.status).toBe(0);
      expect(c.stdout).toContain('gcloud pubsub topics create sweep-x --project=proj-1 ');
      expect(c.stdout).toContain('--entry-point=reconcilePurchases --trigger-topic=sweep-x --retry ');
      for (const verb of ['create', 'update']) {
        expect(c.stdout).toContain(
          `gcloud scheduler jobs ${verb} pubsub iap-reconcile --location=r1 --project=proj-1 '--schedule=0 3 * * 1-5' --time-zone=Europe/Berlin --topic=sweep-x '--message-body={}'`,
        );
      }
      const bad = [
        { reconcileSchedule: 'every 15 minutes' },
        { reconcileSchedule: '*/15 * * *' },
        { reconcileTimeZone: 'Mars/Olympus' },
        { reconcileTopic: base.rtdnTopic },
        { reconcileTopic: base.rtdnDeadLetterTopic },
        { reconcileTopic: 'goog-x' },
        { env: { ...base.env, FIREBASE_AUTH_EMULATOR_HOST: '127.0.0.1:9099' } },
        { env: { ...base.env, FIRESTORE_EMULATOR_HOST: '127.0.0.1:8080' } },
      ];
      for (const b of bad) {
        const r = run({ ...base, ...b });
        expect(r.status).toBe(2);
        expect(r.stderr).toContain(Object.keys(b)[0]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to run without --project and --region', () => {
    expect(() =>
      execFileSync(tsx, ['tools/deploy/deploy.ts', '--dry-run'], { cwd: root, stdio: 'pipe' }),
    ).toThrow();
  });
});

/**
 * The real deploy against a fake gcloud and firebase first on PATH: they log their argv, answer the
 * project check's look-ups as a complete project (test/integration/deploy-check.test.ts tests the check)
 * and the deploy's look-ups with canned names and say "already exists" for the RTDN topic and the hold subscription,
 * and for the scheduler job when FAKE_JOB=exists (FAKE_JOB=denied: refused).
 */
describe('deploy (fake gcloud and firebase)', () => {
  const bin = mkdtempSync(join(tmpdir(), 'iap-deploy-fake-'));
  const log = join(bin, 'calls.log');
  afterAll(() => rmSync(bin, { recursive: true, force: true }));
  writeFileSync(
    join(bin, 'gcloud'),
    `#!/bin/sh
echo "gcloud $*" >> "$FAKE_CLI_LOG"
case "$*" in
  "services list "*) for a in $FAKE_APIS; do echo "$a"; done ;;
  "firestore databases describe "*|"iam service-accounts describe "*) echo found ;;
  "projects get-iam-policy "*) echo '{"bindings":[{"role":"roles/datastore.user","members":["serviceAccount:iap-functions@acme-prod.iam.gserviceaccount.com"]},{"role":"roles/run.invoker","members":["serviceAccount:iap-functions@acme-prod.iam.gserviceaccount.com"]},{"role":"roles/cloudbuild.builds.builder","members":["serviceAccount:iap-functions-build@acme-prod.iam.gserviceaccount.com"]}]}' ;;
  "pubsub topics get-iam-policy "*) echo '{"bindings":[{"role":"roles/pubsub.publisher","members":["serviceAccount:google-play-developer-notifications@system.gserviceaccount.com"]}]}' ;;
  "pubsub topics create play-rtdn "*)
    echo "ERROR: Failed to create topic [projects/acme-prod/topics/play-rtdn]: Resource already exists in the project (resource=play-rtdn)." >&2; exit 1 ;;
  "pubsub topics create "*)
    if [ -n "$FAKE_DENY_CREATE" ]; then echo "ERROR: (gcloud.pubsub.topics.create) PERMISSION_DENIED: User not authorized" >&2; exit 1; fi
    echo "Created topic [projects/acme-prod/topics/$4]." >&2 ;;
  "pubsub subscriptions create "*)
    echo "ERROR: Failed to create subscription [projects/acme-prod/subscriptions/$4]: Resource already exists in the project (resource=$4)." >&2; exit 1 ;;
  "scheduler jobs create pubsub "*)
    case "$FAKE_JOB" in
      exists) echo "ERROR: (gcloud.scheduler.jobs.create.pubsub) ALREADY_EXISTS: Job projects/acme-prod/locations/europe-west1/jobs/$5 already exists." >&2; exit 1 ;;
      denied) echo "ERROR: (gcloud.scheduler.jobs.create.pubsub) PERMISSION_DENIED: The principal lacks cloudscheduler.jobs.create" >&2; exit 1 ;;
    esac ;;
  "scheduler jobs update pubsub "*) if [ -n "$FAKE_UPDATE_FAILS" ]; then echo "ERROR: (gcloud.scheduler.jobs.update.pubsub) INVALID_ARGUMENT" >&2; exit 1; fi ;;
  "functions describe playRtdn "*) echo "$FAKE_TRIGGER" ;;
  "eventarc triggers describe "*) echo "eventarc-europe-west1-playrtdn-482113-sub-051" ;;
  "projects describe "*) echo "123456789012" ;;
esac
exit 0
`,
  );
  writeFileSync(join(bin, 'firebase'), '#!/bin/sh\necho "firebase $*" >> "$FAKE_CLI_LOG"\n');
  chmodSync(join(bin, 'gcloud'), 0o755);
  chmodSync(join(bin, 'firebase'), 0o755);

  const deploy = (env: Record<string, string> = {}) => {
    rmSync(log, { force: true });
    const r = spawnSync(tsx, deployArgs, {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE_CLI_LOG: log, FAKE_APIS: REQUIRED_APIS.join(' '), FAKE_TRIGGER: 'playrtdn-482113', FIREBASE_WEB_API_KEY: 'test-web-key', ...env },
    });
    const all = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
    // the check's look-ups come first; what follows is the deploy
    const checks = all.filter((c) => PROBE_CALL.test(c.replace(/^gcloud /, ''))).length;
    expect(checks).toBeGreaterThanOrEqual(5);
    expect(all.slice(0, checks).every((c) => PROBE_CALL.test(c.replace(/^gcloud /, '')))).toBe(true);
    return { ...r, calls: all.slice(checks) };
  };

  it('runs every step in order, tolerates "already exists" and substitutes the looked-up names', () => {
    const r = deploy();
    expect(r.stderr).toContain('Resource already exists');
    expect(r.status).toBe(0);
    const sub = 'eventarc-europe-west1-playrtdn-482113-sub-051';
    const agent = 'serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com';
    expect(r.calls).toHaveLength(17);
    expect(r.calls.slice(0, 4)).toEqual([
      'gcloud pubsub topics create play-rtdn --project=acme-prod',
      'gcloud pubsub topics create play-rtdn-dead-letter --project=acme-prod',
      'gcloud pubsub subscriptions create play-rtdn-dead-letter-hold --project=acme-prod --topic=play-rtdn-dead-letter --message-retention-duration=7d --expiration-period=never',
      'gcloud pubsub topics create iap-reconcile --project=acme-prod',
    ]);
    expect(r.calls.slice(4, 9).map((c) => c.split(' ')[3])).toEqual(FUNCTION_NAMES);
    expect(r.calls[7]).toContain('--trigger-topic=play-rtdn --retry');
    expect(r.calls[8]).toContain('--source=build/functions/reconcilePurchases --entry-point=reconcilePurchases --trigger-topic=iap-reconcile --retry ');
    expect(r.calls.slice(9)).toEqual([
      'gcloud functions describe playRtdn --gen2 --region=europe-west1 --project=acme-prod --format=value(eventTrigger.trigger.basename())',
      'gcloud eventarc triggers describe playrtdn-482113 --location=europe-west1 --project=acme-prod --format=value(transport.pubsub.subscription.basename())',
      `gcloud pubsub subscriptions update ${sub} --project=acme-prod --dead-letter-topic=play-rtdn-dead-letter --max-delivery-attempts=10 --min-retry-delay=10s --max-retry-delay=600s`,
      'gcloud projects describe acme-prod --format=value(projectNumber)',
      `gcloud pubsub topics add-iam-policy-binding play-rtdn-dead-letter --project=acme-prod --member=${agent} --role=roles/pubsub.publisher`,
      `gcloud pubsub subscriptions add-iam-policy-binding ${sub} --project=acme-prod --member=${agent} --role=roles/pubsub.subscriber`,
      'firebase deploy --only firestore:rules,firestore:indexes,hosting --project acme-prod --non-interactive',
      // a new job: created, not updated
      schedulerJob('create', "--schedule=*/15 * * * * --time-zone=Etc/UTC --topic=iap-reconcile --message-body={}"),
    ]);
    expect(r.calls.join('\n')).not.toContain('${');
  });

  it('updates the scheduler job when it already exists, so a changed schedule takes effect', () => {
    const r = deploy({ FAKE_JOB: 'exists' });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('ALREADY_EXISTS');
    const flags = '--schedule=*/15 * * * * --time-zone=Etc/UTC --topic=iap-reconcile --message-body={}';
    expect(r.calls.slice(-2)).toEqual([schedulerJob('create', flags), schedulerJob('update', flags)]);
    expect(r.calls).toHaveLength(18);
    // the update itself must succeed
    expect(deploy({ FAKE_JOB: 'exists', FAKE_UPDATE_FAILS: '1' }).status).not.toBe(0);
  });

  it('stops at a scheduler job create refused for another reason, without updating', () => {
    const r = deploy({ FAKE_JOB: 'denied' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('PERMISSION_DENIED');
    expect(r.calls.at(-1)).toMatch(/^gcloud scheduler jobs create pubsub iap-reconcile /);
    expect(r.calls.join('\n')).not.toContain('scheduler jobs update');
  });

  it('stops at a create that fails for another reason than "already exists"', () => {
    const r = deploy({ FAKE_DENY_CREATE: '1' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('PERMISSION_DENIED');
    expect(r.calls).toEqual(['gcloud pubsub topics create play-rtdn --project=acme-prod', 'gcloud pubsub topics create play-rtdn-dead-letter --project=acme-prod']);
  });

  it('stops before updating anything when the trigger look-up prints no name', () => {
    const r = deploy({ FAKE_TRIGGER: '' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('rtdnTrigger');
    expect(r.calls.at(-1)).toMatch(/^gcloud functions describe playRtdn /);
    expect(r.calls.join('\n')).not.toMatch(/subscriptions update|add-iam-policy-binding|firebase/);
  });
});
