import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * A test certificate authority shaped like Apple's: root -> intermediate (marker OID
 * 1.2.840.113635.100.6.2.1) -> leaf (marker OID 1.2.840.113635.100.6.11.1), all ECDSA P-256, made with
 * the openssl CLI (node:crypto cannot issue certificates). Apple's SignedDataVerifier checks exactly
 * these: chain of 3, signatures, CA flag, both OIDs, validity dates.
 */
export interface TestCa {
  name: string;
  rootDer: Buffer;
  intermediateDer: Buffer;
  leafDer: Buffer;
  /** The leaf's key: signs JWS payloads. */
  leafKey: KeyObject;
  /** x5c header value: leaf, intermediate, root (base64 DER). */
  x5c: [string, string, string];
}

export interface TestCaOptions {
  name?: string;
  /** Leave Apple's marker OIDs out (a chain Apple's verifier must refuse). */
  withoutAppleOids?: boolean;
  days?: number;
}

const run = promisify(execFile);

const CONFIG = (oids: boolean) => `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[intermediate]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
${oids ? '1.2.840.113635.100.6.2.1 = ASN1:NULL' : ''}
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
${oids ? '1.2.840.113635.100.6.11.1 = ASN1:NULL' : ''}
`;

export async function createTestCa(options: TestCaOptions = {}): Promise<TestCa> {
  const name = options.name ?? 'iap-functions test';
  const days = String(options.days ?? 3650);
  const dir = await mkdtemp(join(tmpdir(), 'app-store-ca-'));
  const f = (n: string) => join(dir, n);
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  try {
    await writeFile(f('ca.cnf'), CONFIG(!options.withoutAppleOids));
    await Promise.all(
      ['root', 'intermediate', 'leaf'].map((k) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f(`${k}.key`))),
    );
    await openssl(
      'req', '-x509', '-new', '-key', f('root.key'), '-sha256', '-days', days, '-config', f('ca.cnf'), '-extensions', 'root',
      '-subj', `/CN=${name} Root CA - G3/OU=Certification Authority/O=${name}/C=US`, '-out', f('root.pem'),
    );
    await issue(openssl, f, 'intermediate', 'root', `/CN=${name} WWDR CA - G6/OU=G6/O=${name}/C=US`, days);
    await issue(openssl, f, 'leaf', 'intermediate', `/CN=${name} App Store Signing/OU=Apple Worldwide Developer Relations/O=${name}/C=US`, days);
    const der = async (k: string) => Buffer.from(new X509Certificate(await readFile(f(`${k}.pem`))).raw);
    const [rootDer, intermediateDer, leafDer] = await Promise.all([der('root'), der('intermediate'), der('leaf')]);
    return {
      name,
      rootDer,
      intermediateDer,
      leafDer,
      leafKey: createPrivateKey(await readFile(f('leaf.key'))),
      x5c: [leafDer.toString('base64'), intermediateDer.toString('base64'), rootDer.toString('base64')],
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function issue(
  openssl: (...args: string[]) => Promise<unknown>,
  f: (n: string) => string,
  kind: 'intermediate' | 'leaf',
  issuer: 'root' | 'intermediate',
  subject: string,
  days: string,
): Promise<void> {
  await openssl('req', '-new', '-key', f(`${kind}.key`), '-subj', subject, '-config', f('ca.cnf'), '-out', f(`${kind}.csr`));
  await openssl(
    'x509', '-req', '-in', f(`${kind}.csr`), '-CA', f(`${issuer}.pem`), '-CAkey', f(`${issuer}.key`), '-set_serial',
    `0x${Date.now().toString(16)}${kind === 'leaf' ? '02' : '01'}`, '-sha256', '-days', days, '-extfile', f('ca.cnf'),
    '-extensions', kind, '-out', f(`${kind}.pem`),
  );
}
