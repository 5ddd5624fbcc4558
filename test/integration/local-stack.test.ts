import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appAccountTokenFor } from '../../shared/app-store/app-account-token';
import type { StackInfo } from '../../tools/local-stack/stack-info';

/**
 * `npm start` as a user runs it (node --import tsx tools/local-stack/start.ts, after the build), with its
 * own state directory: ports move past a developer's running stack, and its lock is not theirs.
 */
const ROOT = resolve(__dirname, '../..');
const stateDir = mkdtempSync(join(tmpdir(), 'local-stack-test-'));

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
  /** Resolves once stdout has a line matching `re`. */
  line: (re: RegExp, timeoutMs?: number) => Promise<string>;
}

function run(script: string, args: string[], env: Record<string, string> = {}): Run {
  // Its own process group, as in a terminal: the groups it leaves behind are then all its own.
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...cleanEnv(), ...env }, detached: true });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (b: Buffer) => {
    out += b.toString();
    for (const w of waiters) w();
  });
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const line = (re: RegExp, timeoutMs = 30_000) =>
    new Promise<string>((resolveLine, reject) => {
      const check = () => {
        const hit = out.split('\n').find((l) => re.test(l));
        if (hit === undefined) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolveLine(hit);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no line ${re} within ${timeoutMs} ms; stdout:\n${out.slice(-3000)}\nstderr:\n${err.slice(-2000)}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { child, out: () => out, err: () => err, exited, line };
}

/** The test runner's own emulator variables must not leak into the stack (it sets its own). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(FIRESTORE_|PUBSUB_|FIREBASE_|GOOGLE_|APPLE_|PLAY_|IAP_|VITEST|NODE_OPTIONS)/.test(k)) env[k] = v;
  return env;
}

/** Process groups of every descendant of `pid` (Linux /proc). */
function descendantGroups(pid: number): Set<number> {
  const parent = new Map<number, number>();
  const group = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(e), Number(f[1]));
      group.set(Number(e), Number(f[2]));
    } catch {
      /* gone */
    }
  }
  const groups = new Set<number>();
  for (const p of parent.keys()) {
    for (let q = p, n = 0; q > 1 && n < 64; q = parent.get(q) ?? 0, n++) {
      if (parent.get(q) === pid) {
        groups.add(group.get(p)!);
        break;
      }
    }
  }
  return groups;
}

/** What runs in those groups, for a failure message. */
function members(pgids: number[]): string {
  const out: string[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgids.includes(pgid)) out.push(`${e} (group ${pgid}): ${readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 200)}`);
    } catch {
      /* gone */
    }
  }
  return out.join('\n');
}

const groupAlive = (pgid: number) => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

async function post(url: string, body: unknown, token?: string): Promise<{ status: number; json: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

let stack: Run;
let info: StackInfo;
const signIn = async (who: 'user' | 'admin') => {
  const a = info.accounts![who];
  const r = await post(`http://${info.authEmulatorHost}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword?key=test`, {
    email: a.email,
    password: a.password,
    returnSecureToken: true,
  });
  expect(r.status).toBe(200);
  return r.json.idToken as string;
};

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/index.js')) || !existsSync(join(ROOT, 'build/console/index.html'))) {
    expect(spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' }).status).toBe(0);
  }
  stack = run('tools/local-stack/start.ts', ['--state-dir', stateDir]);
  // ~25 s on an idle 2-core machine; much longer when it is shared.
  await stack.line(/^ready$/, 150_000);
  info = JSON.parse(readFileSync(join(stateDir, 'stack.json'), 'utf8')) as StackInfo;
}, 170_000);

afterAll(async () => {
  if (stack && stack.child.exitCode === null) {
    stack.child.kill('SIGINT');
    await stack.exited;
  }
  rmSync(stateDir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('prints "ready" alone on its line once, and writes stack.json and its lock', () => {
    expect(stack.out().split('\n').filter((l) => l === 'ready')).toHaveLength(1);
    expect(info.pid).toBe(stack.child.pid);
    expect(JSON.parse(readFileSync(join(stateDir, 'stack.lock'), 'utf8')).pid).toBe(stack.child.pid);
  });

  it('a second start with the same state directory refuses, naming the pid and the ports', async () => {
    const second = run('tools/local-stack/start.ts', ['--state-dir', stateDir]);
    expect(await second.exited).toBe(3);
    expect(second.err()).toContain(`already running (pid ${stack.child.pid}`);
    expect(second.err()).toContain(info.functions.verifyPurchase);
    expect(second.err()).toContain('--force');
    expect(JSON.parse(readFileSync(join(stateDir, 'stack.json'), 'utf8')).pid).toBe(stack.child.pid);
  }, 30_000);

  it('the Auth emulator signs in the demo admin with the admin claim; the console serves its config', async () => {
    const token = await signIn('admin');
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({ admin: true, user_id: 'demo-admin', aud: info.projectId });
    expect(stack.out()).toContain(`sign in as ${info.accounts!.admin.email} / ${info.accounts!.admin.password}`);
    const config = await (await fetch(`${info.consoleUrl}config.json`)).json();
    expect(config).toMatchObject({ projectId: info.projectId, authEmulatorUrl: `http://${info.authEmulatorHost}`, firestoreEmulatorHost: info.firestoreHost });
  });

  it('an App Store purchase verifies and its notifications reach appStoreNotifications; watch prints each change', async () => {
    const uid = info.accounts!.user.uid;
    const watch = run('tools/local-stack/watch.ts', ['--uid', uid, '--state-dir', stateDir]);
    try {
      await watch.line(/events: \d+ so far/, 20_000);
      await watch.line(/entitlements: none yet/, 20_000);
      const apple = (path: string, body: unknown = {}) => post(new URL(`_sim/${path}`, info.appStoreSimUrl!).toString(), body);
      const bought = await apple('purchases', { kind: 'subscription', productId: 'premium_monthly', appAccountToken: appAccountTokenFor(uid) });
      expect(bought.json.notifications[0].delivery.status).toBe(200);
      const tx = bought.json.purchase.originalTransactionId as string;
      const jws = (await apple(`purchases/${tx}/sign`)).json.signedTransaction;
      const verified = await post(info.functions.verifyPurchase!, { platform: 'app_store', signedTransaction: jws }, await signIn('user'));
      expect(verified.status).toBe(200);
      expect(verified.json.entitlements.premium.active).toBe(true);
      await watch.line(/entitlement premium: ACTIVE \(active, premium_monthly/, 20_000);
      await watch.line(/event #1 INITIAL_PURCHASE: app_store premium_monthly/, 20_000);

      const refunded = await apple(`purchases/${tx}/refund`);
      expect(refunded.json.notifications[0]).toMatchObject({ notificationType: 'REFUND', delivery: { status: 200 } });
      await watch.line(/entitlement premium: inactive \(revoked/, 20_000);
      await watch.line(/event #2 REVOCATION/, 20_000);
    } finally {
      watch.child.kill('SIGINT');
      expect(await watch.exited).toBe(0);
    }
  }, 60_000);

  it('npm run client: the web client sample signs in as the demo user, buys, verifies, and sees the entitlement arrive through onSnapshot', async () => {
    const client = run('tools/web-client/buy.ts', ['--state-dir', stateDir]);
    const code = await client.exited;
    expect(code, `${client.out()}\n${client.err()}`).toBe(0);
    expect(client.out()).toContain(`signed in as ${info.accounts!.user.email} (uid ${info.accounts!.user.uid})`);
    expect(client.out()).toMatch(/^entitlements \(onSnapshot\):$/m);
    expect(client.out()).toContain('verifyPurchase: verified, no_ads active');
    expect(client.out()).toMatch(/no_ads: ACTIVE \(purchased, remove_ads\)/);
    expect(client.out()).toContain('no_ads unlocked from the listener');
    const doc = await fetch(`http://${info.firestoreHost}/v1/projects/${info.projectId}/databases/(default)/documents/users/${info.accounts!.user.uid}/entitlements/no_ads`, {
      headers: { authorization: 'Bearer owner' },
    });
    expect(((await doc.json()) as { fields: unknown }).fields).toMatchObject({ active: { booleanValue: true }, productId: { stringValue: 'remove_ads' } });
    const unknown = run('tools/web-client/buy.ts', ['--product', 'nope', '--state-dir', stateDir]);
    expect(await unknown.exited).toBe(1);
    expect(unknown.err()).toContain("nope is not in the stack's catalog");
  }, 60_000);

  it('npm run demo passes against it: the Play story, then an App Store purchase, DID_RENEW and REFUND', async () => {
    const demo = run('tools/demo/demo.ts', ['--state-dir', stateDir]);
    const code = await demo.exited;
    expect(code, `${demo.out().slice(-3000)}\n${demo.err().slice(-2000)}`).toBe(0);
    expect(demo.out()).toContain('✓ DID_RENEW delivered, HTTP 200');
    expect(demo.out()).toContain('✓ REFUND delivered, HTTP 200');
    expect(demo.out()).toContain('Demo passed.');
  }, 90_000);

  it('SIGINT stops every process group it started, and removes its lock and stack.json', async () => {
    const groups = descendantGroups(stack.child.pid!).add(stack.child.pid!);
    expect(groups.size).toBeGreaterThanOrEqual(9); // its own, 3 emulators, 5 functions
    stack.child.kill('SIGINT');
    expect(await stack.exited).toBe(0);
    expect(stack.out()).toContain('nothing left running');
    // A killed JVM or helper may take a moment to leave the process table.
    const deadline = Date.now() + 5000;
    while ([...groups].some(groupAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect([...groups].filter(groupAlive), members([...groups].filter(groupAlive))).toEqual([]);
    expect(existsSync(join(stateDir, 'stack.lock'))).toBe(false);
    expect(existsSync(join(stateDir, 'stack.json'))).toBe(false);
  }, 40_000);

  it('a stale lock (its pid gone) is taken over; --check with --catalog and a shell override runs the Play and App Store flows', async () => {
    writeFileSync(join(stateDir, 'stack.lock'), JSON.stringify({ pid: 2 ** 22 + 1, startedAt: 'earlier' }));
    const catalog = join(stateDir, 'my-catalog.json');
    writeFileSync(
      catalog,
      JSON.stringify({
        products: {
          gold_monthly: { type: 'subscription', entitlements: ['vip'] },
          dark_theme: { type: 'non_consumable', entitlements: ['theme'] },
          gems_50: { type: 'consumable', credits: { gems: 50 } },
        },
      }),
    );
    // refundPurchase then wants the "support" claim: the admin curl passes only if the demo admin got it too.
    const check = run('tools/local-stack/start.ts', ['--check', '--state-dir', stateDir, '--catalog', catalog], { IAP_ADMIN_CLAIM: 'support' });
    const code = await check.exited;
    const out = check.out();
    expect(code, `${out.slice(-3000)}\n${check.err().slice(-2000)}`).toBe(0);
    expect(out).toContain('from your shell, for the functions: IAP_ADMIN_CLAIM');
    expect(out).toContain('✓ verify it as demo-user: HTTP 200, theme active: true');
    expect(out).toContain('✓ the printed admin curl (refundPurchase revoke): {"result"');
    expect(out).toContain('✓ verify the App Store purchase (jwsRepresentation) as demo-user: HTTP 200, vip active: true');
    expect(out).toContain('✓ REFUND notification through appStoreNotifications ends access');
    expect(out).not.toContain('✗');
  }, 120_000);
});
