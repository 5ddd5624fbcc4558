import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A fake `gcloud` for the deploy tool's project check: a script on PATH that answers the look-ups
 * from a JSON state file, applies the creates and grants to it (so a --setup can be checked again),
 * and logs every invocation's argv as one JSON line. `failOn`: any call whose argv contains that
 * string fails with PERMISSION_DENIED.
 */
export interface Binding {
  role: string;
  members: string[];
}

export interface FakeProject {
  services: string[];
  firestore: boolean;
  serviceAccounts: string[];
  bindings: Binding[];
  topics: Record<string, { bindings: Binding[] }>;
  secrets: Record<string, { versions: number; bindings: Binding[] }>;
  failOn?: string;
}

const SCRIPT = `#!/usr/bin/env node
const fs = require('node:fs');
const argv = process.argv.slice(2);
fs.appendFileSync(process.env.FAKE_GCLOUD_LOG, JSON.stringify(argv) + '\\n');
const file = process.env.FAKE_GCLOUD_STATE;
const s = JSON.parse(fs.readFileSync(file, 'utf8'));
const flag = (n) => (argv.find((a) => a.startsWith('--' + n + '=')) || '').slice(n.length + 3);
const pos = argv.filter((a) => !a.startsWith('--'));
const cmd = pos.slice(0, 3).join(' ');
const out = (t) => { process.stdout.write(t + '\\n'); process.exit(0); };
const fail = (t) => { process.stderr.write('ERROR: (gcloud) ' + t + '\\n'); process.exit(1); };
const save = () => { fs.writeFileSync(file, JSON.stringify(s)); process.exit(0); };
const bind = (list) => {
  const b = list.find((x) => x.role === flag('role'));
  if (b) { if (!b.members.includes(flag('member'))) b.members.push(flag('member')); }
  else list.push({ role: flag('role'), members: [flag('member')] });
  save();
};
if (s.failOn && argv.join(' ').includes(s.failOn)) fail('PERMISSION_DENIED: the caller lacks permission');
if (cmd.startsWith('services list')) out(s.services.join('\\n'));
if (cmd.startsWith('services enable')) { for (const a of pos.slice(2)) if (!s.services.includes(a)) s.services.push(a); save(); }
if (cmd === 'firestore databases describe') s.firestore ? out('projects/p/databases/(default)') : fail('NOT_FOUND: database (default) does not exist');
if (cmd === 'firestore databases create') { s.firestore = true; save(); }
if (cmd === 'iam service-accounts describe') s.serviceAccounts.includes(pos[3]) ? out(pos[3]) : fail('NOT_FOUND: ' + pos[3]);
if (cmd === 'iam service-accounts create') { s.serviceAccounts.push(pos[3] + '@' + flag('project') + '.iam.gserviceaccount.com'); save(); }
if (cmd.startsWith('projects get-iam-policy')) out(JSON.stringify({ bindings: s.bindings }));
if (cmd.startsWith('projects add-iam-policy-binding')) bind(s.bindings);
if (cmd === 'pubsub topics get-iam-policy') s.topics[pos[3]] ? out(JSON.stringify(s.topics[pos[3]])) : fail('NOT_FOUND: Resource not found (resource=' + pos[3] + ')');
if (cmd === 'pubsub topics create') { if (s.topics[pos[3]]) fail('ALREADY_EXISTS: Resource already exists'); s.topics[pos[3]] = { bindings: [] }; save(); }
if (cmd === 'pubsub topics add-iam-policy-binding') s.topics[pos[3]] ? bind(s.topics[pos[3]].bindings) : fail('NOT_FOUND: topic ' + pos[3]);
if (cmd.startsWith('secrets describe ')) s.secrets[pos[2]] ? out(pos[2]) : fail('NOT_FOUND: secret ' + pos[2]);
if (cmd.startsWith('secrets create ')) { s.secrets[pos[2]] = { versions: 0, bindings: [] }; save(); }
if (cmd === 'secrets versions describe') {
  const sec = s.secrets[flag('secret')];
  const v = pos[3];
  sec && sec.versions > 0 && (v === 'latest' || Number(v) <= sec.versions) ? out('ENABLED') : fail('NOT_FOUND: version ' + v);
}
if (cmd.startsWith('secrets get-iam-policy ')) s.secrets[pos[2]] ? out(JSON.stringify({ bindings: s.secrets[pos[2]].bindings })) : fail('NOT_FOUND');
if (cmd.startsWith('secrets add-iam-policy-binding ')) s.secrets[pos[2]] ? bind(s.secrets[pos[2]].bindings) : fail('NOT_FOUND');
// the deploy's own look-ups
if (cmd === 'functions describe playRtdn') out('playrtdn-trigger');
if (cmd === 'eventarc triggers describe') out('playrtdn-subscription');
if (cmd.startsWith('projects describe')) out('123456789012');
process.exit(0);
`;

/** The calls that only read: the check's probes. Anything else changes the project. */
export const PROBE_CALL =
  /^(services list|firestore databases describe|iam service-accounts describe|projects get-iam-policy|pubsub topics get-iam-policy|secrets (describe|versions describe|get-iam-policy)) /;

export interface FakeGcloud {
  /** PATH with the fake first. */
  path: string;
  env: Record<string, string>;
  /** Every invocation so far, as "arg arg ..." (gcloud's without "gcloud"; firebase's start with "firebase"). */
  calls(): string[];
  argvs(): string[][];
  state(): FakeProject;
  setState(s: FakeProject): void;
  remove(): void;
}

export function installFakeGcloud(initial: FakeProject): FakeGcloud {
  const bin = mkdtempSync(join(tmpdir(), 'iap-fake-gcloud-'));
  const log = join(bin, 'calls.jsonl');
  const stateFile = join(bin, 'state.json');
  writeFileSync(join(bin, 'gcloud'), SCRIPT);
  chmodSync(join(bin, 'gcloud'), 0o755);
  // the deploy's Firestore rules step
  writeFileSync(join(bin, 'firebase'), `#!/usr/bin/env node\nrequire('node:fs').appendFileSync(process.env.FAKE_GCLOUD_LOG, JSON.stringify(['firebase', ...process.argv.slice(2)]) + '\\n');\n`);
  chmodSync(join(bin, 'firebase'), 0o755);
  const setState = (s: FakeProject) => writeFileSync(stateFile, JSON.stringify(s));
  setState(initial);
  const argvs = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as string[]) : []);
  return {
    path: `${bin}:${process.env.PATH}`,
    env: { FAKE_GCLOUD_LOG: log, FAKE_GCLOUD_STATE: stateFile },
    argvs,
    calls: () => argvs().map((a) => a.join(' ')),
    state: () => JSON.parse(readFileSync(stateFile, 'utf8')) as FakeProject,
    setState,
    remove: () => rmSync(bin, { recursive: true, force: true }),
  };
}
