import { execFile } from 'node:child_process';
import { createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SignJWT } from 'jose';

/**
 * Firebase ID tokens for tests: unsigned Auth-emulator tokens, and RS256 tokens signed by a local
 * stand-in for Google's securetoken certificate endpoint.
 */

const execFileAsync = promisify(execFile);
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);

export interface EmulatorIdTokenOptions {
  projectId: string;
  uid: string;
  claims?: Record<string, unknown>;
  expiresInSeconds?: number;
  /** Seconds since the epoch; also used for auth_time. Default: now. */
  iat?: number;
  aud?: string;
  iss?: string;
}

/** An unsigned ID token exactly as the Firebase Auth emulator makes it: `header.payload.` with alg none. */
export function emulatorIdToken(o: EmulatorIdTokenOptions): string {
  const iat = o.iat ?? nowSeconds();
  const payload = {
    provider_id: 'anonymous',
    iss: o.iss ?? `https://securetoken.google.com/${o.projectId}`,
    aud: o.aud ?? o.projectId,
    auth_time: iat,
    user_id: o.uid,
    sub: o.uid,
    iat,
    exp: iat + (o.expiresInSeconds ?? 3600),
    firebase: { identities: {}, sign_in_provider: 'anonymous' },
    ...o.claims,
  };
  return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(payload)}.`;
}

export interface SignIdTokenOptions {
  projectId: string;
  uid: string;
  claims?: Record<string, unknown>;
  expiresInSeconds?: number;
  /** Which served key signs (default: the first one). The header carries this kid. */
  kid?: string;
  /** Sign with this private key instead of the one behind `kid` (for wrong-signature tests). */
  signingKey?: KeyObject;
  /** Seconds since the epoch. Default: now. */
  iat?: number;
  authTime?: number;
  exp?: number;
  aud?: string;
  iss?: string;
  sub?: string;
}

export interface CertServer {
  url: string;
  /** kid of the first key. */
  kid: string;
  privateKey: KeyObject;
  signIdToken(o: SignIdTokenOptions): Promise<string>;
  /** Publishes one more key (as Google does ahead of a rotation); returns its kid. */
  addKey(): Promise<string>;
  /** Answer every request with this HTTP status (e.g. 503), or undefined to serve normally again. */
  setFailure(status: number | undefined): void;
  requests(): number;
  close(): Promise<void>;
}

/** An RSA-2048 key and a self-signed X.509 certificate for it (node:crypto cannot make certificates). */
export async function makeKeyAndCert(): Promise<{ privateKey: KeyObject; certPem: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'iap-cert-'));
  try {
    const keyFile = join(dir, 'key.pem');
    const certFile = join(dir, 'cert.pem');
    await execFileAsync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=securetoken-test',
    ]);
    const [keyPem, certPem] = await Promise.all([readFile(keyFile, 'utf8'), readFile(certFile, 'utf8')]);
    return { privateKey: createPrivateKey(keyPem), certPem };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function startCertServer(): Promise<CertServer> {
  const keys = new Map<string, { privateKey: KeyObject; certPem: string }>();
  let count = 0;
  let failure: number | undefined;

  async function addKey(): Promise<string> {
    const kid = randomBytes(20).toString('hex');
    keys.set(kid, await makeKeyAndCert());
    return kid;
  }
  const firstKid = await addKey();

  const server = createServer((req, res) => {
    count += 1;
    if (failure !== undefined) {
      res.writeHead(failure, { 'content-type': 'text/plain' }).end('unavailable');
      return;
    }
    const body = Object.fromEntries([...keys].map(([kid, k]) => [kid, k.certPem]));
    res
      .writeHead(200, { 'content-type': 'application/json; charset=UTF-8', 'cache-control': 'public, max-age=3600' })
      .end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com`,
    kid: firstKid,
    privateKey: keys.get(firstKid)!.privateKey,
    async signIdToken(o) {
      const kid = o.kid ?? firstKid;
      const key = o.signingKey ?? keys.get(kid)?.privateKey ?? keys.get(firstKid)!.privateKey;
      const iat = o.iat ?? nowSeconds();
      const payload = {
        iss: o.iss ?? `https://securetoken.google.com/${o.projectId}`,
        aud: o.aud ?? o.projectId,
        auth_time: o.authTime ?? iat,
        user_id: o.uid,
        sub: o.sub ?? o.uid,
        iat,
        exp: o.exp ?? iat + (o.expiresInSeconds ?? 3600),
        firebase: { identities: {}, sign_in_provider: 'password' },
        ...o.claims,
      };
      return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(key);
    },
    addKey,
    setFailure(status) {
      failure = status;
    },
    requests: () => count,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
