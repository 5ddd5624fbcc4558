import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/** `npm run deploy -- --dry-run` prints the exact gcloud and firebase commands (build/ made by npm test's build). */
const root = resolve(__dirname, '../..');
const tsx = resolve(root, 'node_modules/.bin/tsx');
const deployArgs = ['tools/deploy/deploy.ts', '--project', 'acme-prod', '--region', 'europe-west1', '--config', 'deploy/deploy.example.json'];
const agent = 'serviceAccount:service-${projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com';

describe('deploy --dry-run', () => {
  it('prints one gcloud deploy per function with the right triggers, and the Firestore deploy', () => {
    expect(existsSync(resolve(root, 'build/functions/verifyPurchase/index.js'))).toBe(true);
    const out = execFileSync(tsx, [...deployArgs, '--dry-run'], { cwd: root, encoding: 'utf8' });
    const lines = out.split('\n').filter((l) => l && !l.startsWith('#'));
    // 3 Pub/Sub creates, 4 function deploys, 2 look-ups + the subscription update, project number + 2 grants, firebase
    expect(lines).toHaveLength(14);
    const byName = (n: string) => lines.find((l) => l.startsWith(`gcloud functions deploy ${n} `))!;
    for (const n of ['verifyPurchase', 'refundPurchase', 'appStoreNotifications', 'playRtdn']) {
      const l = byName(n);
      expect(l).toContain('--gen2 --runtime=nodejs22 --project=acme-prod --region=europe-west1');
      expect(l).toContain(`--source=build/functions/${n} --entry-point=${n}`);
      expect(l).toContain('--set-secrets=APPLE_PRIVATE_KEY=apple-api-key:latest');
    }
    for (const n of ['verifyPurchase', 'refundPurchase', 'appStoreNotifications']) expect(byName(n)).toContain('--trigger-http --allow-unauthenticated');
    expect(byName('playRtdn')).toContain('--trigger-topic=play-rtdn --retry');
    expect(lines[13]).toBe('firebase deploy --only firestore:rules,firestore:indexes --project acme-prod --non-interactive');
    expect(out).toContain('#   IAP_CATALOG: "/workspace/catalog.json"');
    expect(out).toContain('#   GOOGLE_CLOUD_PROJECT: "acme-prod"');
    const pkg = JSON.parse(readFileSync(resolve(root, 'build/functions/playRtdn/package.json'), 'utf8'));
    expect(Object.keys(pkg.dependencies)).toContain('@google-cloud/functions-framework');
    expect(Object.keys(pkg.dependencies)).not.toContain('vitest');
    expect(existsSync(resolve(root, 'build/functions/playRtdn/catalog.json'))).toBe(true);
  });

  it('bounds playRtdn retries: topics first (tolerant creates), then the functions, the dead-letter policy and its grants', () => {
    const out = execFileSync(tsx, [...deployArgs, '--dry-run'], { cwd: root, encoding: 'utf8' });
    const lines = out.split('\n').filter((l) => l && !l.startsWith('#'));
    const tolerant = '  # ok if it already exists';
    expect(lines.slice(0, 3)).toEqual([
      `gcloud pubsub topics create play-rtdn --project=acme-prod${tolerant}`,
      `gcloud pubsub topics create play-rtdn-dead-letter --project=acme-prod${tolerant}`,
      'gcloud pubsub subscriptions create play-rtdn-dead-letter-hold --project=acme-prod --topic=play-rtdn-dead-letter' +
        ` --message-retention-duration=7d --expiration-period=never${tolerant}`,
    ]);
    expect(lines.slice(3, 7).every((l) => l.startsWith('gcloud functions deploy '))).toBe(true);
    expect(lines.slice(7, 13)).toEqual([
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
        spawnSync(tsx, ['tools/deploy/deploy.ts', '--project', 'p1', '--region', 'r1', '--config', file, '--dry-run'], { cwd: root, encoding: 'utf8' });
      const d = run(write({ ...defaults, rtdnTopic: 'rtdn-x' }));
      expect(d.status).toBe(0);
      expect(d.stdout).toContain('gcloud pubsub subscriptions create rtdn-x-dead-letter-hold --project=p1 --topic=rtdn-x-dead-letter ');
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

  it('refuses to run without --project and --region', () => {
    expect(() =>
      execFileSync(tsx, ['tools/deploy/deploy.ts', '--dry-run'], { cwd: root, stdio: 'pipe' }),
    ).toThrow();
  });
});

/**
 * The real deploy against a fake gcloud and firebase first on PATH: they log their argv, answer the
 * look-ups with canned names and say "already exists" for the RTDN topic and the hold subscription.
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
  "pubsub topics create play-rtdn "*)
    echo "ERROR: Failed to create topic [projects/acme-prod/topics/play-rtdn]: Resource already exists in the project (resource=play-rtdn)." >&2; exit 1 ;;
  "pubsub topics create "*)
    if [ -n "$FAKE_DENY_CREATE" ]; then echo "ERROR: (gcloud.pubsub.topics.create) PERMISSION_DENIED: User not authorized" >&2; exit 1; fi
    echo "Created topic [projects/acme-prod/topics/$4]." >&2 ;;
  "pubsub subscriptions create "*)
    echo "ERROR: Failed to create subscription [projects/acme-prod/subscriptions/$4]: Resource already exists in the project (resource=$4)." >&2; exit 1 ;;
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
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE_CLI_LOG: log, FAKE_TRIGGER: 'playrtdn-482113', ...env },
    });
    const calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
    return { ...r, calls };
  };

  it('runs every step in order, tolerates "already exists" and substitutes the looked-up names', () => {
    const r = deploy();
    expect(r.stderr).toContain('Resource already exists');
    expect(r.status).toBe(0);
    const sub = 'eventarc-europe-west1-playrtdn-482113-sub-051';
    const agent = 'serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com';
    expect(r.calls).toHaveLength(14);
    expect(r.calls.slice(0, 3)).toEqual([
      'gcloud pubsub topics create play-rtdn --project=acme-prod',
      'gcloud pubsub topics create play-rtdn-dead-letter --project=acme-prod',
      'gcloud pubsub subscriptions create play-rtdn-dead-letter-hold --project=acme-prod --topic=play-rtdn-dead-letter --message-retention-duration=7d --expiration-period=never',
    ]);
    expect(r.calls.slice(3, 7).map((c) => c.split(' ')[3])).toEqual(['verifyPurchase', 'refundPurchase', 'appStoreNotifications', 'playRtdn']);
    expect(r.calls[6]).toContain('--trigger-topic=play-rtdn --retry');
    expect(r.calls.slice(7)).toEqual([
      'gcloud functions describe playRtdn --gen2 --region=europe-west1 --project=acme-prod --format=value(eventTrigger.trigger.basename())',
      'gcloud eventarc triggers describe playrtdn-482113 --location=europe-west1 --project=acme-prod --format=value(transport.pubsub.subscription.basename())',
      `gcloud pubsub subscriptions update ${sub} --project=acme-prod --dead-letter-topic=play-rtdn-dead-letter --max-delivery-attempts=10 --min-retry-delay=10s --max-retry-delay=600s`,
      'gcloud projects describe acme-prod --format=value(projectNumber)',
      `gcloud pubsub topics add-iam-policy-binding play-rtdn-dead-letter --project=acme-prod --member=${agent} --role=roles/pubsub.publisher`,
      `gcloud pubsub subscriptions add-iam-policy-binding ${sub} --project=acme-prod --member=${agent} --role=roles/pubsub.subscriber`,
      'firebase deploy --only firestore:rules,firestore:indexes --project acme-prod --non-interactive',
    ]);
    expect(r.calls.join('\n')).not.toContain('${');
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
