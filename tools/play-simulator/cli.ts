import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { describeNotification, startPlaySimulator } from './index';

const USAGE = `Usage: tsx tools/play-simulator/cli.ts [--port 8090] [--host 127.0.0.1] [--key-out key.json] [--quiet]

Serves the Google Play Developer API (androidpublisher v3), its OAuth token endpoint and a control
API under /_sim/. Notifications (RTDN) are printed as JSON lines prefixed "RTDN " unless --quiet
(tokens as sha256:<fingerprint>, as the functions log them; GET /_sim/notifications has them in full).`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8090' },
      host: { type: 'string', default: '127.0.0.1' },
      'key-out': { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return void console.log(USAGE);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: not a port number: ${values.port}`);

  const sim = await startPlaySimulator({
    port,
    host: values.host,
    onNotification: (n) => {
      if (!values.quiet) console.log(`RTDN ${describeNotification(n)}`);
    },
  });
  const keyPath = values['key-out'] ? resolve(values['key-out']) : undefined;
  // The key only works against this simulator, but it is still a private key: owner-only.
  if (keyPath) writeFileSync(keyPath, `${JSON.stringify(sim.serviceAccountKey, null, 2)}\n`, { mode: 0o600 });

  console.log(`Play simulator listening on ${sim.url}`);
  console.log(`  PLAY_API_ROOT_URL=${sim.url}`);
  console.log(`  GOOGLE_OAUTH_TOKEN_URL=${sim.tokenUrl}`);
  if (keyPath) console.log(`  GOOGLE_APPLICATION_CREDENTIALS=${keyPath}`);
  console.log(`  control API: ${sim.url}_sim/ (POST ${sim.url}_sim/purchases to create a purchase)`);

  const stop = () => void sim.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
