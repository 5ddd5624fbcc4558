import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startAppStoreSimulator } from './index';

const USAGE = `Usage: tsx tools/app-store-simulator/cli.ts [--port 8091] [--host 127.0.0.1] [--bundle-id com.example.app]
       [--app-apple-id 1234567890] [--notification-url URL] [--root-out root.cer] [--key-out AuthKey.p8]

Serves the App Store Server API (Production at /, Sandbox at /sandbox), signs with a test CA shaped like
Apple's, POSTs App Store Server Notifications V2 to --notification-url, and takes commands under /_sim/.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8091' },
      host: { type: 'string', default: '127.0.0.1' },
      'bundle-id': { type: 'string', default: 'com.example.app' },
      'app-apple-id': { type: 'string', default: '1234567890' },
      'notification-url': { type: 'string' },
      'root-out': { type: 'string', default: '.local/app-store-test-root.cer' },
      'key-out': { type: 'string', default: '.local/app-store-AuthKey.p8' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return void console.log(USAGE);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: not a port number: ${values.port}`);
  const sim = await startAppStoreSimulator({
    port,
    host: values.host,
    bundleId: values['bundle-id'],
    appAppleId: Number(values['app-apple-id']),
    notificationUrl: values['notification-url'],
  });
  const rootPath = resolve(values['root-out']);
  const keyPath = resolve(values['key-out']);
  for (const path of [rootPath, keyPath]) mkdirSync(dirname(path), { recursive: true });
  writeFileSync(rootPath, sim.rootCertDer);
  // Only this simulator accepts the key, but it is still a private key: owner-only.
  writeFileSync(keyPath, sim.apiKey.privateKeyPem, { mode: 0o600 });

  console.log(`App Store simulator listening on ${sim.url}`);
  console.log(`  APPLE_BUNDLE_ID=${sim.bundleId}`);
  console.log(`  APPLE_APP_APPLE_ID=${sim.appAppleId}`);
  console.log(`  APPLE_ENVIRONMENTS=Production,Sandbox`);
  console.log(`  APPLE_ROOT_CERTS=${rootPath}`);
  console.log(`  APPLE_ONLINE_CHECKS=false`);
  console.log(`  APPLE_ISSUER_ID=${sim.apiKey.issuerId}`);
  console.log(`  APPLE_KEY_ID=${sim.apiKey.keyId}`);
  console.log(`  APPLE_PRIVATE_KEY=${keyPath}`);
  console.log(`  APPLE_API_ROOT_URL=${sim.url}`);
  console.log(`  APPLE_SANDBOX_API_ROOT_URL=${sim.sandboxUrl}`);
  console.log(`  control API: ${sim.controlUrl} (POST ${sim.controlUrl}purchases to buy)`);

  const stop = () => void sim.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
