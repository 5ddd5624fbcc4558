import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * The online half of `npm run deploy -- --check`: read-only gcloud look-ups of what a deploy needs in
 * the project, each missing thing with the command that makes it. `--setup` runs those commands.
 */
export interface Missing {
  what: string;
  /** The fix; absent when only the user can do it (`manual` says how). */
  run?: string[];
  manual?: string;
}

export interface ProbeTarget {
  project: string;
  region: string;
  serviceAccount: string;
  buildServiceAccount: string;
  rtdnTopic: string;
  /** Secret Manager references by variable: NAME:VERSION. */
  secrets: Record<string, string>;
  eventsTopic: string | undefined;
  /** ENTITLEMENT_CLAIMS_KEY is set: the functions write custom claims through the Identity Toolkit API. */
  claims?: boolean;
}

/** Everything `npm run deploy` touches: functions (2nd gen runs on Cloud Run, built by Cloud Build into
 * Artifact Registry), topic triggers (Eventarc), the sweep (Cloud Scheduler), data, secrets, Play's API,
 * and the Firestore rules the firebase CLI deploys. */
export const REQUIRED_APIS = [
  'cloudfunctions.googleapis.com',
  'run.googleapis.com',
  'cloudbuild.googleapis.com',
  'artifactregistry.googleapis.com',
  'eventarc.googleapis.com',
  'pubsub.googleapis.com',
  'cloudscheduler.googleapis.com',
  'firestore.googleapis.com',
  'firebaserules.googleapis.com',
  'secretmanager.googleapis.com',
  'androidpublisher.googleapis.com',
  'iam.googleapis.com',
];

/** Play publishes RTDNs as this account (Play Console > Monetization setup). */
export const PLAY_PUBLISHER = 'serviceAccount:google-play-developer-notifications@system.gserviceaccount.com';

export function defaultServiceAccount(project: string): string {
  return `iap-functions@${project}.iam.gserviceaccount.com`;
}

export function defaultBuildServiceAccount(project: string): string {
  return `iap-functions-build@${project}.iam.gserviceaccount.com`;
}

export function gcloudOnPath(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, 'gcloud'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

interface Answer {
  ok: boolean;
  stdout: string;
  stderr: string;
}

function gcloud(args: string[]): Answer {
  const r = spawnSync('gcloud', args, { encoding: 'utf8' });
  return { ok: r.status === 0, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

interface Policy {
  bindings?: { role: string; members?: string[]; condition?: unknown }[];
}

function hasBinding(policyJson: string, role: string, member: string): boolean {
  let policy: Policy;
  try {
    policy = JSON.parse(policyJson || '{}') as Policy;
  } catch {
    return false;
  }
  // a conditional binding may not hold when the function runs: only an unconditional one counts
  return (policy.bindings ?? []).some((b) => b.role === role && !b.condition && (b.members ?? []).includes(member));
}

/** Throws when the project cannot be read at all (unknown project, no login): nothing else can be probed. */
export function probeProject(t: ProbeTarget): Missing[] {
  const p = `--project=${t.project}`;
  const sa = `serviceAccount:${t.serviceAccount}`;
  const missing: Missing[] = [];

  const services = gcloud(['services', 'list', '--enabled', p, '--format=value(config.name)']);
  if (!services.ok) throw new Error(`cannot read project ${t.project} with gcloud: ${firstLine(services.stderr)}`);
  const enabled = new Set(services.stdout.split('\n').map((s) => s.trim()));
  const apis = [...REQUIRED_APIS, ...(t.claims ? ['identitytoolkit.googleapis.com'] : [])].filter((a) => !enabled.has(a));
  if (apis.length) missing.push({ what: `APIs not enabled: ${apis.join(', ')}`, run: ['gcloud', 'services', 'enable', ...apis, p] });

  if (!gcloud(['firestore', 'databases', 'describe', '--database=(default)', p, '--format=value(name)']).ok) {
    missing.push({
      what: 'the Firestore database (default)',
      run: ['gcloud', 'firestore', 'databases', 'create', '--database=(default)', `--location=${t.region}`, '--type=firestore-native', p],
    });
  }

  const policy = gcloud(['projects', 'get-iam-policy', t.project, '--format=json']);
  const accounts = [
    // Firestore; invoking playRtdn and reconcilePurchases from their Eventarc triggers; the events topic
    { label: "the functions' service account", email: t.serviceAccount, roles: ['roles/datastore.user', 'roles/run.invoker', ...(t.eventsTopic ? ['roles/pubsub.publisher'] : []), ...(t.claims ? ['roles/firebaseauth.admin'] : [])] },
    // builds the functions (Compute Engine's default account, else used, has no role in newer projects)
    { label: 'the build service account', email: t.buildServiceAccount, roles: ['roles/cloudbuild.builds.builder'] },
  ];
  for (const account of accounts) {
    if (!gcloud(['iam', 'service-accounts', 'describe', account.email, p, '--format=value(email)']).ok) {
      const [name, domain] = account.email.split('@');
      missing.push(
        domain === `${t.project}.iam.gserviceaccount.com`
          ? { what: `${account.label} ${account.email}`, run: ['gcloud', 'iam', 'service-accounts', 'create', name!, p, `--display-name=${name}`] }
          : { what: `${account.label} ${account.email}`, manual: `create it, or name one of ${t.project} in deploy.json` },
      );
    }
    for (const role of account.roles) {
      const member = `serviceAccount:${account.email}`;
      if (!policy.ok || !hasBinding(policy.stdout, role, member)) {
        missing.push({
          what: `role ${role} for ${account.email}`,
          run: ['gcloud', 'projects', 'add-iam-policy-binding', t.project, `--member=${member}`, `--role=${role}`, '--condition=None'],
        });
      }
    }
  }

  const grantPlay = ['gcloud', 'pubsub', 'topics', 'add-iam-policy-binding', t.rtdnTopic, p, `--member=${PLAY_PUBLISHER}`, '--role=roles/pubsub.publisher'];
  const topic = gcloud(['pubsub', 'topics', 'get-iam-policy', t.rtdnTopic, p, '--format=json']);
  if (!topic.ok) {
    missing.push({ what: `the RTDN topic ${t.rtdnTopic}`, run: ['gcloud', 'pubsub', 'topics', 'create', t.rtdnTopic, p] });
  }
  if (!topic.ok || !hasBinding(topic.stdout, 'roles/pubsub.publisher', PLAY_PUBLISHER)) {
    missing.push({ what: `Play's right to publish to ${t.rtdnTopic} (roles/pubsub.publisher)`, run: grantPlay });
  }

  const accessor = 'roles/secretmanager.secretAccessor';
  const projectWideAccess = policy.ok && hasBinding(policy.stdout, accessor, sa);
  for (const [variable, ref] of Object.entries(t.secrets)) {
    const [name, version] = ref.split(':') as [string, string];
    const exists = gcloud(['secrets', 'describe', name, p, '--format=value(name)']).ok;
    if (!exists) missing.push({ what: `the secret ${name} (for ${variable})`, run: ['gcloud', 'secrets', 'create', name, '--replication-policy=automatic', p] });
    const state = exists ? gcloud(['secrets', 'versions', 'describe', version, `--secret=${name}`, p, '--format=value(state)']) : undefined;
    if (!state?.ok || state.stdout.trim() !== 'ENABLED') {
      missing.push({
        what: `version ${version} of the secret ${name} (the value of ${variable})`,
        manual: `gcloud secrets versions add ${name} --data-file=FILE ${p}   # FILE holds the value of ${variable}`,
      });
    }
    const access = exists ? gcloud(['secrets', 'get-iam-policy', name, p, '--format=json']) : undefined;
    if (!projectWideAccess && !(access?.ok && hasBinding(access.stdout, accessor, sa))) {
      missing.push({
        what: `${t.serviceAccount} may not read the secret ${name} (${accessor})`,
        run: ['gcloud', 'secrets', 'add-iam-policy-binding', name, `--member=${sa}`, `--role=${accessor}`, p],
      });
    }
  }
  return missing;
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0] || 'no answer';
}
