import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';

/** What the console reads from config.json (the same shape on Hosting, written by deploy). */
export interface ConsoleFirebaseConfig {
  projectId: string;
  apiKey: string;
  /** e.g. http://127.0.0.1:9099; absent on Hosting. */
  authEmulatorUrl?: string;
  /** e.g. 127.0.0.1:8080; absent on Hosting. */
  firestoreEmulatorHost?: string;
  /** Base URL of the functions, e.g. http://127.0.0.1:8081 (refundPurchase is `${base}/refundPurchase`) */
  functionsBaseUrl: string;
  /** The admin custom claim when not `admin` (IAP_ADMIN_CLAIM; firestore.rules must say the same). */
  adminClaim?: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
};

/** Serves build/console/ (run `npm run build` first) and a config.json made from `firebaseConfig`. */
export async function startConsoleServer(opts: {
  host: string;
  port: number;
  firebaseConfig: ConsoleFirebaseConfig;
  dir?: string;
}): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = opts.dir ?? join(__dirname, '../../build/console');
  const config = JSON.stringify(opts.firebaseConfig);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/config.json') {
      res.writeHead(200, { 'content-type': TYPES['.json']!, 'cache-control': 'no-store' }).end(config);
      return;
    }
    const file = normalize(path === '/' ? '/index.html' : path);
    if (file.includes('..')) {
      res.writeHead(400).end();
      return;
    }
    readFile(join(dir, file)).then(
      (body) => res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404, { 'content-type': 'text/plain' }).end('not found'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host}:${port}/`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
