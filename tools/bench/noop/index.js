'use strict';
/**
 * A CloudEvent function that does nothing, for `npm run bench:rtdn`: the same Pub/Sub emulator push
 * and functions framework as playRtdn, without Play or Firestore. Served like ours:
 *   node tools/serve-function.js --source=tools/bench/noop/index.js --target=noopRtdn
 * It writes the same kind of log line as playRtdn (message = target, messageId, calls) so the benchmark
 * counts completions the same way.
 */
const { cloudEvent } = require('@google-cloud/functions-framework');

cloudEvent('noopRtdn', (event) => {
  const message = (event.data && event.data.message) || {};
  const messageId = message.messageId || message.message_id || event.id;
  process.stdout.write(JSON.stringify({ severity: 'INFO', message: 'noopRtdn', messageId, outcome: 'noop', latencyMs: 0, calls: {} }) + '\n');
});
