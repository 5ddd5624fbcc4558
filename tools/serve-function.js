#!/usr/bin/env node
'use strict';
/**
 * Serves one function of dist/index.js with the functions framework on 127.0.0.1 only (its CLI
 * listens on every interface and has no host flag). Plain JS so that start-up cost is the product's.
 * Usage: node tools/serve-function.js --target=verifyPurchase --port=8081 [--source=dist/index.js]
 */
const path = require('node:path');
const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, ...v] = a.replace(/^--/, '').split('=');
    return [k, v.join('=')];
  }),
);
const target = args.target || process.env.FUNCTION_TARGET;
const port = Number(args.port || process.env.PORT || 8080);
if (!target) {
  console.error('usage: serve-function.js --target=NAME --port=PORT [--source=dist/index.js]');
  process.exit(2);
}
const bundle = require(path.resolve(args.source || 'dist/index.js'));
const targets = bundle.FUNCTION_TARGETS || [];
if (!targets.includes(target)) {
  console.error(`serve-function.js: no function "${target}" in ${args.source || 'dist/index.js'}; valid targets: ${targets.join(', ')}`);
  process.exit(2);
}
const { getTestServer } = require('@google-cloud/functions-framework/testing');
const server = getTestServer(target);
server.once('error', (err) => {
  const taken = err && err.code === 'EADDRINUSE';
  console.error(taken ? `serve-function.js: port ${port} on 127.0.0.1 is taken; pick another with --port=N` : `serve-function.js: ${err.message}`);
  process.exit(taken ? 98 : 1);
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ severity: 'INFO', message: 'serving', target, url: `http://127.0.0.1:${port}/` }) + '\n');
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
