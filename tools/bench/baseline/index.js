'use strict';
/**
 * The naive baseline for `npm run bench:compare`: verifyPurchase written the way the common tutorials
 * write it. Not product code; never deployed. Served like ours:
 *   node tools/serve-function.js --source=tools/bench/baseline/index.js --target=verifyPurchaseBaseline
 *
 * What makes it "tutorial style":
 * - a NEW service-account JWT client (`new google.auth.JWT(...)`) and an explicit `authorize()` on every
 *   request, i.e. one OAuth token exchange per verification (no token cache);
 * - a new Android Publisher client on every request;
 * - plain Firestore writes (purchase document keyed by the raw token, a flag / an increment on the user),
 *   no transaction: no ownership check, a repeat verification of a consumable credits it again.
 *
 * What is NOT like the tutorials: they `require('googleapis')` (every Google API, ~190 of them). That
 * package is not installed in this project (it must not be added), so this baseline imports the same
 * generated client for one API, `@googleapis/androidpublisher`; its start-up cost is therefore the small
 * one, and the comparison is kind to the baseline on cold start and memory.
 * The ID token check stands for firebase-admin's `verifyIdToken` in emulator mode (firebase-admin is not
 * installed either): decode, check aud / iss / exp of the Auth-emulator's unsigned token.
 * Like ours it writes one JSON log line per request with `calls` (outbound calls it made).
 */
const { readFileSync } = require('node:fs');
const functions = require('@google-cloud/functions-framework');
const { androidpublisher } = require('@googleapis/androidpublisher');
const { JWT } = require('google-auth-library');
const { Firestore, FieldValue } = require('@google-cloud/firestore');

const TARGET = 'verifyPurchaseBaseline';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const PROJECT = process.env.GOOGLE_CLOUD_PROJECT;
const serviceAccount = JSON.parse(readFileSync(process.env.GOOGLE_APPLICATION_CREDENTIALS, 'utf8'));
const catalog = JSON.parse(readFileSync(process.env.IAP_CATALOG, 'utf8')).products;
const db = new Firestore({ projectId: PROJECT });

function log(fields) {
  process.stdout.write(JSON.stringify({ severity: 'INFO', message: TARGET, time: new Date().toISOString(), ...fields }) + '\n');
}

/** firebase-admin's verifyIdToken with FIREBASE_AUTH_EMULATOR_HOST set: unsigned tokens, claims checked. */
function uidFrom(req) {
  const m = /^Bearer (.+)$/.exec(req.get('authorization') || '');
  if (!m) return null;
  try {
    const claims = JSON.parse(Buffer.from(m[1].split('.')[1], 'base64url').toString('utf8'));
    const ok =
      claims.aud === PROJECT && claims.iss === `https://securetoken.google.com/${PROJECT}` && claims.exp * 1000 > Date.now() && claims.sub;
    return ok ? claims.sub : null;
  } catch {
    return null;
  }
}

functions.http(TARGET, async (req, res) => {
  const started = Date.now();
  const calls = {};
  const count = (k) => (calls[k] = (calls[k] || 0) + 1);
  let status = 200;
  try {
    const uid = uidFrom(req);
    if (!uid) {
      status = 401;
      res.status(401).json({ error: 'unauthenticated' });
      return;
    }
    const { packageName, productId, purchaseToken } = req.body || {};
    const product = catalog[productId];
    if (!packageName || !purchaseToken || !product) {
      status = 400;
      res.status(400).json({ error: 'invalid_argument' });
      return;
    }

    // The tutorial step: a new JWT client per request, authorized now (a token exchange every time).
    const authClient = new JWT({
      email: serviceAccount.client_email,
      key: serviceAccount.private_key,
      scopes: ['https://www.googleapis.com/auth/androidpublisher'],
    });
    // Local only: google-auth-library ignores a key's token_uri; send the exchange to the Play simulator.
    authClient.transporter.interceptors.request.add({
      resolved: async (config) => {
        if (String(config.url) === GOOGLE_TOKEN_URL) {
          count('oauth:token');
          config.url = new URL(process.env.GOOGLE_OAUTH_TOKEN_URL);
        }
        return config;
      },
    });
    await authClient.authorize();
    const publisher = androidpublisher({ version: 'v3', auth: authClient, rootUrl: process.env.PLAY_API_ROOT_URL });

    let valid;
    let acknowledged;
    if (product.type === 'subscription') {
      count('play:purchases.subscriptionsv2.get');
      const { data } = await publisher.purchases.subscriptionsv2.get({ packageName, token: purchaseToken });
      valid = ['SUBSCRIPTION_STATE_ACTIVE', 'SUBSCRIPTION_STATE_IN_GRACE_PERIOD', 'SUBSCRIPTION_STATE_CANCELED'].includes(data.subscriptionState);
      acknowledged = data.acknowledgementState === 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED';
      if (valid && !acknowledged) {
        count('play:purchases.subscriptions.acknowledge');
        await publisher.purchases.subscriptions.acknowledge({ packageName, subscriptionId: productId, token: purchaseToken, requestBody: {} });
      }
    } else {
      count('play:purchases.products.get');
      const { data } = await publisher.purchases.products.get({ packageName, productId, token: purchaseToken });
      valid = data.purchaseState === 0;
      acknowledged = data.acknowledgementState === 1;
      if (valid && product.type === 'consumable' && data.consumptionState !== 1) {
        count('play:purchases.products.consume');
        await publisher.purchases.products.consume({ packageName, productId, token: purchaseToken });
      } else if (valid && !acknowledged) {
        count('play:purchases.products.acknowledge');
        await publisher.purchases.products.acknowledge({ packageName, productId, token: purchaseToken, requestBody: {} });
      }
    }

    // Plain writes, no transaction.
    count('firestore:write');
    await db.collection('purchases').doc(purchaseToken).set({ uid, packageName, productId, valid, updatedAt: new Date() }, { merge: true });
    count('firestore:write');
    const user =
      product.type === 'consumable'
        ? Object.fromEntries(Object.entries(product.credits).map(([k, v]) => [k, FieldValue.increment(valid ? v : 0)]))
        : Object.fromEntries(product.entitlements.map((e) => [e, valid]));
    await db.collection('users').doc(uid).set(user, { merge: true });
    res.status(200).json({ valid, productId });
  } catch (e) {
    const code = e && e.response && e.response.status;
    status = code === 404 || code === 410 ? 404 : 500;
    res.status(status).json({ error: status === 404 ? 'purchase_not_found' : 'internal' });
  } finally {
    log({ status, latencyMs: Date.now() - started, calls });
  }
});
