#!/usr/bin/env node
'use strict';
/**
 * The physical floor of a first verification, for `npm run bench:cold`: a Node program (built-ins
 * only) that does only the work no verifier can avoid. It listens; for a POST of
 * {packageName, productId, purchaseToken} it exchanges one signed JWT (RS256, the service-account
 * key) for an access token (on its first request; cached after), reads the purchase at Play once
 * (purchases.productsv2.getproductpurchasev2) and commits one Firestore document over the REST API,
 * then answers 200. Nothing else: no ID-token check (it only reads the uid from the token), no
 * schema, no transaction, no acknowledgement, no retries, no logs per request.
 *
 *   node tools/bench/floor/index.js --port=N
 * with the functions' environment: GOOGLE_CLOUD_PROJECT, FIRESTORE_EMULATOR_HOST,
 * GOOGLE_APPLICATION_CREDENTIALS, GOOGLE_OAUTH_TOKEN_URL, PLAY_API_ROOT_URL. 127.0.0.1 only.
 * A request without an Authorization header gets 401 (so it can be probed like the functions).
 */
const { createHash, createSign } = require('node:crypto');
const { readFileSync } = require('node:fs');
const { createServer } = require('node:http');

const port = Number((process.argv.find((a) => a.startsWith('--port=')) || '--port=8080').slice(7));
const env = process.env;
const project = env.GOOGLE_CLOUD_PROJECT;
const firestoreRoot = `http://${env.FIRESTORE_EMULATOR_HOST}/v1/projects/${project}/databases/(default)/documents`;
const playRoot = env.PLAY_API_ROOT_URL.replace(/\/?$/, '/');
const SCOPE = 'https://www.googleapis.com/auth/androidpublisher';

let key; // read on the first request, like a client library's lazy credentials
let token; // { value, expiresAt }

const b64url = (s) => Buffer.from(s).toString('base64url');

async function accessToken() {
  if (token && token.expiresAt > Date.now() + 60_000) return token.value;
  key ??= JSON.parse(readFileSync(env.GOOGLE_APPLICATION_CREDENTIALS, 'utf8'));
  const iat = Math.floor(Date.now() / 1000);
  const unsigned = `${b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }))}.${b64url(
    JSON.stringify({ iss: key.client_email, scope: SCOPE, aud: 'https://oauth2.googleapis.com/token', iat, exp: iat + 3600 }),
  )}`;
  const signature = createSign('RSA-SHA256').update(unsigned).sign(key.private_key, 'base64url');
  const res = await fetch(env.GOOGLE_OAUTH_TOKEN_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: `${unsigned}.${signature}` }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`token exchange: ${res.status}`);
  token = { value: body.access_token, expiresAt: Date.now() + body.expires_in * 1000 };
  return token.value;
}

async function verify(uid, { packageName, productId, purchaseToken }) {
  const bearer = await accessToken();
  const url = `${playRoot}androidpublisher/v3/applications/${encodeURIComponent(packageName)}/purchases/productsv2/tokens/${encodeURIComponent(purchaseToken)}`;
  const res = await fetch(url, { headers: { authorization: `Bearer ${bearer}` } });
  const purchase = await res.json();
  if (!res.ok) return { status: 404, body: { error: { code: 'purchase_not_found' } } };
  const item = (purchase.productLineItem || []).find((i) => i.productId === productId);
  if (!item) return { status: 404, body: { error: { code: 'purchase_not_found' } } };
  const state = (purchase.purchaseStateContext && purchase.purchaseStateContext.purchaseState) || 'UNKNOWN';
  const id = createHash('sha256').update(purchaseToken).digest('hex');
  const commit = await fetch(`${firestoreRoot}:commit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer owner' },
    body: JSON.stringify({
      writes: [
        {
          update: {
            name: `projects/${project}/databases/(default)/documents/floorPurchases/${id}`,
            fields: {
              uid: { stringValue: uid },
              packageName: { stringValue: packageName },
              productId: { stringValue: productId },
              state: { stringValue: state },
              orderId: { stringValue: String(purchase.orderId || '') },
            },
          },
        },
      ],
    }),
  });
  await commit.arrayBuffer();
  if (!commit.ok) throw new Error(`commit: ${commit.status}`);
  return { status: 200, body: { purchase: { id, packageName, productId, state, orderId: purchase.orderId || null } } };
}

function uidOf(authorization) {
  const m = /^Bearer (\S+)$/.exec(authorization || '');
  if (!m) return undefined;
  try {
    return JSON.parse(Buffer.from(m[1].split('.')[1], 'base64url').toString('utf8')).sub;
  } catch {
    return undefined;
  }
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const reply = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const uid = uidOf(req.headers.authorization);
    if (!uid) return reply(401, { error: { code: 'unauthenticated' } });
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return reply(400, { error: { code: 'invalid_argument' } });
    }
    verify(uid, body).then(
      (r) => reply(r.status, r.body),
      (e) => reply(503, { error: { code: 'upstream_unavailable', message: e.message } }),
    );
  });
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ severity: 'INFO', message: 'serving', target: 'floor', url: `http://127.0.0.1:${port}/` })}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
