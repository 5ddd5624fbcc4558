import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { formatStep } from '../../tools/deploy/deploy';
import { PLAY_PUBLISHER, REQUIRED_APIS } from '../../tools/deploy/probe';
import { installFakeGcloud, PROBE_CALL, type FakeProject } from '../helpers/fake-gcloud';

/** `npm run deploy -- --check` and `--setup` against a fake gcloud whose project is a JSON state file. */
const root = resolve(__dirname, '../..');
const tsxCli = resolve(root, 'node_modules/tsx/dist/cli.mjs');
const SA = 'serviceAccount:iap-functions@acme-prod.iam.gserviceaccount.com';
const BUILD_SA = 'serviceAccount:iap-functions-build@acme-prod.iam.gserviceaccount.com';
const where = ['--project', 'acme-prod', '--region', 'europe-west1'];

const example = JSON.parse(readFileSync(resolve(root, 'deploy/deploy.example.json'), 'utf8'));
/** Apple on with the App Store Server API key, its private key a secret; entitlement events on. */
const withApple = {
  ...example,
  env: {
    ...example.env,
    APPLE_BUNDLE_ID: 'com.example.app',
    APPLE_APP_APPLE_ID: '1234567890',
    APPLE_ISSUER_ID: '57246542-96fe-1a63-e053-0824d011072a',
    APPLE_KEY_ID: '2X9R4HXF34',
    ENTITLEMENT_EVENTS_TOPIC: 'iap-entitlement-events',
  },
  secrets: { APPLE_PRIVATE_KEY: 'apple-api-key:latest' },
};

const complete = (): FakeProject => ({
  services: [...REQUIRED_APIS, 'logging.googleapis.com'],
  firestore: true,
  serviceAccounts: ['iap-functions@acme-prod.iam.gserviceaccount.com', 'iap-functions-build@acme-prod.iam.gserviceaccount.com'],
  bindings: [
    { role: 'roles/datastore.user', members: [SA] },
    { role: 'roles/run.invoker', members: [SA] },
    { role: 'roles/cloudbuild.builds.builder', members: [BUILD_SA] },
  ],
  topics: { 'play-rtdn': { bindings: [{ role: 'roles/pubsub.publisher', members: [PLAY_PUBLISHER] }] } },
  secrets: {},
});
const empty = (): FakeProject => ({ services: [], firestore: false, serviceAccounts: [], bindings: [], topics: {}, secrets: {} });

const dir = mkdtempSync(join(tmpdir(), 'iap-deploy-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fake: ReturnType<typeof installFakeGcloud> | undefined;
afterEach(() => fake?.remove());

function configFile(c: object): string {
  const file = join(dir, `deploy-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ ...c, catalog: resolve(root, example.catalog) }));
  return file;
}

/** The deploy tool with the fake gcloud first on PATH (run through node itself, so PATH can also lack gcloud). */
function deploy(state: FakeProject, args: string[], path?: string) {
  fake = installFakeGcloud(state);
  const r = spawnSync(process.execPath, [tsxCli, 'tools/deploy/deploy.ts', ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...fake.env, PATH: path ?? fake.path },
  });
  return { ...r, calls: fake.calls(), changes: fake.calls().filter((c) => !PROBE_CALL.test(c)) };
}

describe('deploy --check', () => {
  it('is green on a complete project with the example config as written, and only reads', () => {
    const r = deploy(complete(), ['--check', ...where, '--config', 'deploy/deploy.example.json']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('deploy/deploy.example.json: valid');
    expect(r.stdout).toContain('Project acme-prod: everything the deploy needs is there.');
    expect(r.calls.length).toBeGreaterThanOrEqual(5);
    expect(r.changes).toEqual([]);
  });

  it('is green with Apple, a secret and entitlement events when each has what it needs', () => {
    const s = complete();
    s.bindings.push({ role: 'roles/pubsub.publisher', members: [SA] });
    s.secrets['apple-api-key'] = { versions: 1, bindings: [{ role: 'roles/secretmanager.secretAccessor', members: [SA] }] };
    const r = deploy(s, ['--check', ...where, '--config', configFile(withApple)]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.changes).toEqual([]);
  });

  it('with custom claims on: the Identity Toolkit API and roles/firebaseauth.admin are required', () => {
    const claims = { ...example, env: { ...example.env, ENTITLEMENT_CLAIMS_KEY: 'iap' } };
    const r = deploy(complete(), ['--check', ...where, '--config', configFile(claims)]);
    expect(r.status, r.stdout + r.stderr).toBe(1);
    const commands = r.stdout.split('\n').filter((l) => l.startsWith('      ')).map((l) => l.trim());
    expect(commands).toEqual([
      'gcloud services enable identitytoolkit.googleapis.com --project=acme-prod',
      `gcloud projects add-iam-policy-binding acme-prod --member=${SA} --role=roles/firebaseauth.admin --condition=None`,
    ]);
    const s = complete();
    s.services.push('identitytoolkit.googleapis.com');
    s.bindings.push({ role: 'roles/firebaseauth.admin', members: [SA] });
    expect(deploy(s, ['--check', ...where, '--config', configFile(claims)]).status).toBe(0);
  });

  it('lists each missing thing with the command that makes it, and exits 1', () => {
    const r = deploy(empty(), ['--check', ...where, '--config', configFile(withApple)]);
    expect(r.status).toBe(1);
    const p = '--project=acme-prod';
    const expected = [
      `gcloud services enable ${REQUIRED_APIS.join(' ')} ${p}`,
      `gcloud firestore databases create '--database=(default)' --location=europe-west1 --type=firestore-native ${p}`,
      `gcloud iam service-accounts create iap-functions ${p} --display-name=iap-functions`,
      `gcloud projects add-iam-policy-binding acme-prod --member=${SA} --role=roles/datastore.user --condition=None`,
      `gcloud projects add-iam-policy-binding acme-prod --member=${SA} --role=roles/run.invoker --condition=None`,
      `gcloud projects add-iam-policy-binding acme-prod --member=${SA} --role=roles/pubsub.publisher --condition=None`,
      `gcloud iam service-accounts create iap-functions-build ${p} --display-name=iap-functions-build`,
      `gcloud projects add-iam-policy-binding acme-prod --member=${BUILD_SA} --role=roles/cloudbuild.builds.builder --condition=None`,
      `gcloud pubsub topics create play-rtdn ${p}`,
      `gcloud pubsub topics add-iam-policy-binding play-rtdn ${p} --member=${PLAY_PUBLISHER} --role=roles/pubsub.publisher`,
      `gcloud secrets create apple-api-key --replication-policy=automatic ${p}`,
      `by hand: gcloud secrets versions add apple-api-key --data-file=FILE ${p}   # FILE holds the value of APPLE_PRIVATE_KEY`,
      `gcloud secrets add-iam-policy-binding apple-api-key --member=${SA} --role=roles/secretmanager.secretAccessor ${p}`,
    ];
    const commands = r.stdout.split('\n').filter((l) => l.startsWith('      ')).map((l) => l.trim());
    expect(commands).toEqual(expected);
    for (const what of ['APIs not enabled', 'the Firestore database (default)', "the functions' service account", 'the RTDN topic play-rtdn', "Play's right to publish"]) {
      expect(r.stdout).toContain(what);
    }
    expect(r.stdout).toContain('npm run deploy -- --setup --project acme-prod --region europe-west1 runs these commands (not the ones marked "by hand")');
    expect(r.changes).toEqual([]);
  });

  it('lists only what is missing: one API, the secret accessor grant', () => {
    const s = complete();
    s.services = s.services.filter((a) => a !== 'eventarc.googleapis.com');
    s.bindings.push({ role: 'roles/pubsub.publisher', members: [SA] });
    s.secrets['apple-api-key'] = { versions: 2, bindings: [] };
    const r = deploy(s, ['--check', ...where, '--config', configFile(withApple)]);
    expect(r.status).toBe(1);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('  - '))).toEqual([
      '  - APIs not enabled: eventarc.googleapis.com',
      '  - iap-functions@acme-prod.iam.gserviceaccount.com may not read the secret apple-api-key (roles/secretmanager.secretAccessor)',
    ]);
  });

  it('refuses a placeholder, a lone Apple key, an emulator variable, before any gcloud call', () => {
    const cases: [object, RegExp][] = [
      [{ ...example, serviceAccount: 'iap-functions@YOUR_PROJECT.iam.gserviceaccount.com' }, /serviceAccount: still the placeholder "YOUR_PROJECT"/],
      [{ ...example, env: { ...example.env, PLAY_PACKAGE_NAMES: '<your package>' } }, /env\.PLAY_PACKAGE_NAMES: still the placeholder "<your package>"/],
      // today's failure in the cloud: an APPLE_PRIVATE_KEY secret without the issuer and key ids
      [{ ...example, env: { ...example.env, APPLE_BUNDLE_ID: 'com.example.app', APPLE_APP_APPLE_ID: '1' }, secrets: { APPLE_PRIVATE_KEY: 'apple-api-key:latest' } },
        /APPLE_ISSUER_ID, APPLE_KEY_ID, APPLE_PRIVATE_KEY: set all three \(the App Store Server API key\) or none/],
      [{ ...example, secrets: { APPLE_PRIVATE_KEY: 'apple-api-key:latest' } }, /APPLE_BUNDLE_ID: required when APPLE_PRIVATE_KEY is set/],
      [{ ...example, env: { ...example.env, FIRESTORE_EMULATOR_HOST: '127.0.0.1:8080' } }, /env: must not contain any \*_EMULATOR_HOST variable/],
      [{ ...example, secrets: { FIREBASE_AUTH_EMULATOR_HOST: 'auth-host:latest' } }, /secrets: must not contain any \*_EMULATOR_HOST variable/],
      [{ ...example, env: { ...example.env, PLAY_TIMEOUT_MS: '5' } }, /PLAY_TIMEOUT_MS: /],
      [{ ...example, catalog: resolve(root, 'package.json') }, /IAP_CATALOG: .* is not a valid catalog/],
    ];
    for (const [config, message] of cases) {
      const file = configFile(config);
      // the catalog case keeps its own file
      if ((config as { catalog: string }).catalog !== example.catalog) writeFileSync(file, JSON.stringify(config));
      for (const mode of [['--check'], []]) {
        const r = deploy(complete(), [...mode, ...where, '--config', file]);
        expect(r.status, `${message}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.calls).toEqual([]);
      }
    }
  });

  it('says so when gcloud cannot read the project (unknown project, not logged in), and exits 1', () => {
    const r = deploy({ ...complete(), failOn: 'services list' }, ['--check', ...where, '--config', 'deploy/deploy.example.json']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('cannot read project acme-prod with gcloud: ERROR: (gcloud) PERMISSION_DENIED');
    expect(r.changes).toEqual([]);
  });

  it('without gcloud on PATH checks the config only and says the project was not probed', () => {
    const r = deploy(complete(), ['--check', ...where, '--config', 'deploy/deploy.example.json'], join(dir, 'no-such-bin'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('Project acme-prod not probed: gcloud is not on PATH.');
    const alone = deploy(complete(), ['--check', '--config', 'deploy/deploy.example.json']);
    expect(alone.status).toBe(0);
    expect(alone.stdout).toContain('Project not probed');
    expect(alone.calls).toEqual([]);
  });

  it('refuses an unknown flag, a lone --project and two modes at once, with the usage line', () => {
    for (const args of [['--check', '--force'], ['--check', '--project', 'acme-prod'], ['--check', '--setup', ...where], ['--setup', '--project', 'acme-prod']]) {
      const r = deploy(complete(), args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('usage: npm run deploy -- --project PROJECT --region REGION');
      expect(r.stderr).toContain('npm run deploy -- --check [--project PROJECT --region REGION]');
      expect(r.calls).toEqual([]);
    }
  });
});

describe('deploy --setup', () => {
  it('prints the commands, runs exactly those, and then the check is green', () => {
    const s = empty();
    s.secrets['apple-api-key'] = { versions: 1, bindings: [] };
    const r = deploy(s, ['--setup', ...where, '--config', configFile(withApple)]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const out = r.stdout.split('\n');
    const planned = out.slice(out.indexOf('Will run:') + 1).filter((l) => l.startsWith('  gcloud ')).map((l) => l.trim());
    expect(planned).toHaveLength(11);
    expect(fake!.argvs().filter((a) => !PROBE_CALL.test(a.join(' '))).map((a) => formatStep({ run: ['gcloud', ...a] }))).toEqual(planned);
    expect(r.stdout).toContain('Checking again:\nProject acme-prod: everything the deploy needs is there.');
    // and a later --check agrees, from the state the commands left
    const state = fake!.state();
    expect(deploy(state, ['--check', ...where, '--config', configFile(withApple)]).status).toBe(0);
  });

  it('stops at the first command that fails and says which', () => {
    const r = deploy({ ...empty(), failOn: 'firestore databases create' }, ['--setup', ...where, '--config', 'deploy/deploy.example.json']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("Setup stopped: gcloud firestore databases create '--database=(default)' --location=europe-west1 --type=firestore-native --project=acme-prod failed");
    expect(r.stderr).toContain('while making the Firestore database (default)');
    expect(r.changes.map((c) => c.split(' ').slice(0, 3).join(' '))).toEqual(['services enable cloudfunctions.googleapis.com', 'firestore databases create']);
  });

  it('leaves a secret value to the user: runs the rest, then the check still lists it', () => {
    const r = deploy(empty(), ['--setup', ...where, '--config', configFile(withApple)]);
    expect(r.status).toBe(1);
    expect(r.changes).toContain('secrets create apple-api-key --replication-policy=automatic --project=acme-prod');
    expect(r.stdout.split('Checking again:')[1]).toContain('by hand: gcloud secrets versions add apple-api-key');
    expect(r.changes.join('\n')).not.toContain('versions add');
  });
});

describe('deploy runs the check first', () => {
  it('refuses to start when the check fails: only look-ups ran', () => {
    const s = complete();
    s.firestore = false;
    const r = deploy(s, [...where, '--config', 'deploy/deploy.example.json']);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('the Firestore database (default)');
    expect(r.stderr).toContain('Deploy stopped before changing anything');
    expect(r.calls.length).toBeGreaterThan(0);
    expect(r.changes).toEqual([]);
  });

  it('deploys the example config as written to a complete project: look-ups first, then the deploy', () => {
    const r = deploy(complete(), [...where, '--config', 'deploy/deploy.example.json']);
    expect(r.status, r.stderr).toBe(0);
    const firstChange = r.calls.findIndex((c) => !PROBE_CALL.test(c));
    expect(r.calls.slice(firstChange).every((c) => !PROBE_CALL.test(c))).toBe(true);
    expect(r.calls[firstChange]).toBe('pubsub topics create play-rtdn --project=acme-prod');
    const fn = r.calls.filter((c) => c.startsWith('functions deploy '));
    expect(fn).toHaveLength(5);
    for (const c of fn) {
      expect(c).toContain('--service-account=iap-functions@acme-prod.iam.gserviceaccount.com');
      expect(c).toContain('--build-service-account=projects/acme-prod/serviceAccounts/iap-functions-build@acme-prod.iam.gserviceaccount.com');
    }
    expect(fn.filter((c) => c.endsWith(' --trigger-service-account=iap-functions@acme-prod.iam.gserviceaccount.com')).map((c) => c.split(' ')[2])).toEqual([
      'playRtdn',
      'reconcilePurchases',
    ]);
    expect(fn.join('\n')).not.toContain('--set-secrets');
  });
});
