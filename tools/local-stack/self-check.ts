import { spawn, spawnSync } from 'node:child_process';
import { appAccountTokenFor } from '../../shared/app-store/app-account-token';
import { reconcileOnce, type StackHosts } from '../reconcile/reconcile';
import { signIn } from './auth-users';
import { commands, type Commands } from './commands';
import { PROJECT_ID } from './functions';
import type { Stack } from './start';

/** `npm start -- --check`: the quick-start flow against the started stack, each step one ✓/✗ line. */
const say = (line: string) => process.stdout.write(`${line}\n`);

function runSummary(id: string, run: Json): string {
  const errors = Array.isArray(run.errors) ? run.errors.length : run.errors;
  return `reconcileRuns/${id}: ${run.status ?? ''}${run.finishedAt ? '' : ' (not finished)'}, playCalls ${run.playCalls}, errors ${errors}`;
}

function stackHosts(stack: Stack): StackHosts {
  return { projectId: PROJECT_ID, pubsubHost: stack.pubsubEmulator!.host, firestoreHost: stack.firestore!.host };
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The quick-start flow, programmatically and through the printed commands. */
export async function selfCheck(stack: Stack): Promise<boolean> {
  const results: { name: string; ok: boolean; detail: string }[] = [];
  const record = (name: string, ok: boolean, detail: string) => {
    results.push({ name, ok, detail });
    say(`  ${ok ? '✓' : '✗'} ${name}${detail ? `: ${detail}` : ''}`);
  };
  const verify = stack.functions.find((f) => f.entry.target === 'verifyPurchase');
  if (!verify) {
    record('verifyPurchase is served', false, 'dist/index.js does not register it');
    return false;
  }
  const c = commands(stack);
  const product = stack.picks.nonConsumable;
  if (!product) {
    record('the catalog has a non-consumable to buy', false, stack.catalog);
    return false;
  }
  const { productId, entitlement } = product;
  const pkg = stack.playPackage;
  try {
    const idToken = await signIn(stack.auth!.host, stack.accounts!.user);
    const adminToken = await signIn(stack.auth!.host, stack.accounts!.admin);
    record('demo user and admin sign in at the Auth emulator', true, stack.auth!.host);
    const created = await fetch(`${stack.sim!.url}_sim/purchases`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'product', productId, packageName: pkg }),
    });
    const purchase = (await created.json()) as Json;
    record('create a purchase at the Play simulator', created.status === 201 && typeof purchase.purchaseToken === 'string', `HTTP ${created.status}`);

    const res = await fetch(verify.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${idToken}` },
      body: JSON.stringify({ packageName: pkg, productId, purchaseToken: purchase.purchaseToken }),
    });
    const body = (await res.json()) as Json;
    record(
      'verify it as demo-user',
      res.status === 200 && body.entitlements?.[entitlement]?.active === true && body.purchase?.acknowledged === true,
      `HTTP ${res.status}, ${entitlement} active: ${body.entitlements?.[entitlement]?.active}, acknowledged: ${body.purchase?.acknowledged}`,
    );
    const again = await fetch(verify.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
      body: JSON.stringify({ packageName: pkg, productId, purchaseToken: purchase.purchaseToken }),
    });
    const againBody = (await again.json()) as Json;
    record('the same token for another user', again.status === 409, `HTTP ${again.status} ${againBody.error?.code ?? ''}`);
    const unauth = await fetch(verify.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await unauth.arrayBuffer();
    record('no ID token', unauth.status === 401, `HTTP ${unauth.status}`);

    const doc = await fetch(
      `http://${stack.firestore!.host}/v1/projects/${PROJECT_ID}/databases/(default)/documents/users/demo-user/entitlements/${entitlement}`,
      { headers: { authorization: 'Bearer owner' } },
    );
    const docBody = (await doc.json()) as Json;
    record('entitlement in Firestore', doc.status === 200 && docBody.fields?.active?.booleanValue === true, `HTTP ${doc.status}`);

    // The printed commands, as a user pastes them (needs curl).
    const hasCurl = spawnSync('sh', ['-c', 'command -v curl'], { stdio: 'ignore' }).status === 0;
    if (hasCurl) {
      // Asynchronously: the Play simulator answering these curls runs in this process.
      const marker = '--- admin ---';
      const script = ['set -e', ...c.lines, ...(c.adminLines.length ? [`echo '${marker}'`, ...c.adminLines] : [])].join('\n');
      const run = await runShell(script, 30_000);
      const [main = '', admin = ''] = run.stdout.split(marker);
      const out = main.trim().split('\n');
      const parse = (text: string): Json | undefined => {
        try {
          return JSON.parse(text) as Json;
        } catch {
          return undefined;
        }
      };
      const verified = parse(out[0] ?? '');
      const entitlement = parse(out.slice(1).join('\n'));
      record(
        'the printed curl commands (create, verify, read)',
        run.status === 0 && verified?.entitlements?.[product.entitlement]?.active === true && entitlement?.fields?.active?.booleanValue === true,
        run.status === 0
          ? `verify answered ${verified ? `entitlements.${product.entitlement}.active=${verified.entitlements?.[product.entitlement]?.active}` : out[0]}`
          : `exit ${run.status}: ${run.stderr.trim()}`,
      );
      if (c.adminLines.length) {
        const answer = parse(admin.trim());
        record(
          'the printed admin curl (refundPurchase revoke)',
          run.status === 0 && answer !== undefined && 'result' in answer,
          admin.trim().slice(0, 160) || `exit ${run.status}: ${run.stderr.trim()}`,
        );
      }
    } else {
      say('  - the printed curl commands: skipped (no curl)');
    }
    await appleCheck(stack, idToken, c, record);
    if (stack.functions.some((f) => f.entry.target === 'playRtdn')) {
      // Refund with revoke at the simulator (a plain refund sends no RTDN, as at Play) -> void RTDN
      // published to the topic -> pushed to playRtdn, which logs it.
      const seen = new Promise<string>((resolve) => {
        const w = (target: string, line: string) => {
          if (target === 'playRtdn' && /"message":"playRtdn/.test(line)) {
            stack.lineWatchers.delete(w);
            resolve(line);
          }
        };
        stack.lineWatchers.add(w);
        setTimeout(() => {
          stack.lineWatchers.delete(w);
          resolve('');
        }, 15_000).unref();
      });
      const refund = await fetch(`${stack.sim!.url}_sim/purchases/${encodeURIComponent(purchase.purchaseToken)}/refund`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ revoke: true }),
      });
      await refund.arrayBuffer();
      const line = await seen;
      let outcome = '';
      try {
        const j = JSON.parse(line) as Json;
        outcome = `${j.message}${j.outcome ? `: ${JSON.stringify(j.outcome)}` : ''}${j.code ? ` (${j.code})` : ''}`;
      } catch {
        /* no line */
      }
      record('refund RTDN reaches playRtdn through Pub/Sub push', refund.status === 200 && line !== '', line ? outcome.slice(0, 160) : 'no playRtdn log line within 15 s');
    }
    if (stack.functions.some((f) => f.entry.target === 'reconcilePurchases')) {
      // What npm run reconcile does: {} on the topic -> pushed to reconcilePurchases -> its run report.
      const out = await reconcileOnce(stackHosts(stack));
      record(
        'a reconcile sweep through Pub/Sub push writes its reconcileRuns report',
        out.finished,
        out.run ? runSummary(out.run.id, out.run.data) : 'no report within 30 s',
      );
    }
    const stats = stack.sim!.stats();
    // verify and the RTDN each read the one-time purchase, with products.get or productsv2
    const reads = (stats.calls['purchases.products.get'] ?? 0) + (stats.calls['purchases.productsv2.getproductpurchasev2'] ?? 0);
    record('Play calls seen by the simulator', reads >= 2, JSON.stringify(stats.calls));
  } catch (e) {
    record('quick-start flow', false, (e as Error).message);
  }
  return results.every((r) => r.ok);
}

/** The App Store flow: buy, verify the jwsRepresentation, the printed commands, a REFUND notification. */
async function appleCheck(stack: Stack, idToken: string, c: Commands, record: (name: string, ok: boolean, detail: string) => void): Promise<void> {
  const verify = stack.functions.find((f) => f.entry.target === 'verifyPurchase')!;
  const notifications = stack.functions.find((f) => f.entry.target === 'appStoreNotifications');
  const sub = stack.picks.subscription;
  if (!stack.apple || !sub) return void say('  - App Store flow: skipped (no subscription in the catalog)');
  const apple = stack.apple;
  const uid = stack.accounts!.user.uid;
  const bought = await apple.buy({ kind: 'subscription', productId: sub.productId, appAccountToken: appAccountTokenFor(uid) });
  const id = bought.purchase.originalTransactionId;
  const first = bought.notifications[0]?.delivery;
  record(
    'buy at the App Store simulator; SUBSCRIBED reaches appStoreNotifications',
    !notifications || (first !== undefined && 'status' in first && first.status === 200),
    notifications ? `delivery ${JSON.stringify(first).slice(0, 120)}` : 'appStoreNotifications not registered: nothing delivered',
  );
  const res = await fetch(verify.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${idToken}` },
    body: JSON.stringify({ platform: 'app_store', signedTransaction: await apple.signTransaction(id) }),
  });
  const body = (await res.json()) as Json;
  record(
    'verify the App Store purchase (jwsRepresentation) as demo-user',
    res.status === 200 && body.entitlements?.[sub.entitlement]?.active === true,
    `HTTP ${res.status}, ${sub.entitlement} active: ${body.entitlements?.[sub.entitlement]?.active}${body.error ? ` ${body.error.code}` : ''}`,
  );
  if (notifications) {
    const refunded = await apple.transition(id, 'refund');
    const d = refunded.notifications[0]?.delivery;
    const doc = await fetch(
      `http://${stack.firestore!.host}/v1/projects/${PROJECT_ID}/databases/(default)/documents/users/${uid}/entitlements/${sub.entitlement}`,
      { headers: { authorization: 'Bearer owner' } },
    );
    const docBody = (await doc.json()) as Json;
    record(
      'REFUND notification through appStoreNotifications ends access',
      d !== undefined && 'status' in d && d.status === 200 && docBody.fields?.active?.booleanValue === false,
      `delivery ${d && 'status' in d ? `HTTP ${d.status}` : JSON.stringify(d)}, ${sub.entitlement} active: ${docBody.fields?.active?.booleanValue}`,
    );
  }
  if (c.appleLines.length && spawnSync('sh', ['-c', 'command -v curl'], { stdio: 'ignore' }).status === 0) {
    const run = await runShell(['set -e', c.lines[0]!, ...c.appleLines].join('\n'), 30_000);
    const [verified, renewed] = run.stdout.trim().split('\n').map((l) => {
      try {
        return JSON.parse(l) as Json;
      } catch {
        return undefined;
      }
    });
    const renewDelivery = renewed?.notifications?.[0]?.delivery;
    record(
      'the printed App Store curl commands (buy, verify, renew)',
      run.status === 0 && verified?.entitlements?.[sub.entitlement]?.active === true && (!notifications || renewDelivery?.status === 200),
      run.status === 0 ? `verify answered ${JSON.stringify(verified?.entitlements ?? verified?.error).slice(0, 100)}, renewal delivery HTTP ${renewDelivery?.status}` : `exit ${run.status}: ${run.stderr.trim().slice(0, 200)}`,
    );
  }
}

function runShell(script: string, timeoutMs: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

