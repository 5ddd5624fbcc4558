import { generateKeyPairSync, randomBytes, randomInt } from 'node:crypto';
import type { ServiceAccountKey } from './types';

/** A fresh RSA 2048 service-account key; only the simulator trusts it. */
/** token_uri is added by the caller once the port is known. */
export function generateServiceAccountKey(): { key: Omit<ServiceAccountKey, 'token_uri'>; publicKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const projectId = 'play-simulator-local';
  return {
    publicKeyPem: publicKey,
    key: {
      type: 'service_account',
      project_id: projectId,
      private_key_id: randomBytes(20).toString('hex'),
      private_key: privateKey,
      client_email: `play-simulator@${projectId}.iam.gserviceaccount.com`,
      client_id: Array.from({ length: 21 }, () => randomInt(10)).join(''),
    },
  };
}
