import { Environment, SignedDataVerifier, VerificationException, VerificationStatus } from '@apple/app-store-server-library';
import type * as z from '../zod';
import { DomainError } from '../errors';
import { countCall } from '../metrics';
import type { AppleConfig } from './config';
import { AppStoreNotificationSchema, type AppStoreNotificationPayload } from './notification';
import { AppStoreRenewalInfoSchema, type AppStoreRenewalInfo } from './renewal-info';
import { AppStoreEnvironment, AppStoreTransactionSchema, type AppStoreTransaction, type SignedEnvironment } from './transaction';

/**
 * Apple's SignedDataVerifier, one per accepted environment (each checks bundle id, App Apple ID in
 * Production, environment, the x5c chain up to the configured roots with Apple's OIDs, and the ES256
 * signature). Failures become `invalid_signed_data` with the reason; an OCSP outage is transient.
 */
export interface SignedData {
  transaction(jws: string): Promise<AppStoreTransaction>;
  renewalInfo(jws: string): Promise<AppStoreRenewalInfo>;
  notification(jws: string): Promise<AppStoreNotificationPayload>;
}

type Kind = 'transaction' | 'renewal info' | 'notification';

export function createSignedData(config: AppleConfig): SignedData {
  const verifiers = new Map<SignedEnvironment, SignedDataVerifier>(
    config.environments.map((env) => [
      env,
      new SignedDataVerifier(config.rootCerts, config.onlineChecks, env as Environment, config.bundleId, config.appAppleId),
    ]),
  );
  const accepted = config.environments.join(', ');

  async function verify<S extends z.ZodMiniType>(
    kind: Kind,
    jws: string,
    decode: (v: SignedDataVerifier) => Promise<unknown>,
    schema: S,
  ): Promise<z.infer<S>> {
    countCall('apple:verify');
    const declared = declaredEnvironment(jws);
    if (declared === AppStoreEnvironment.XCODE || declared === AppStoreEnvironment.LOCAL_TESTING) {
      throw invalid(`This ${kind} comes from ${declared} (StoreKit testing): it is not signed by Apple and is never accepted.`);
    }
    // The declared environment only routes; the chosen verifier checks it again after the signature.
    const verifier = verifiers.get((declared ?? config.environments[0]) as SignedEnvironment);
    if (!verifier) {
      throw invalid(`This ${kind} is from the ${declared} environment; this deployment accepts ${accepted} (APPLE_ENVIRONMENTS).`);
    }
    let decoded: unknown;
    try {
      decoded = await decode(verifier);
    } catch (e) {
      throw mapVerificationError(e, kind, config.bundleId);
    }
    const parsed = schema.safeParse(decoded);
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
      throw invalid(`This ${kind} is signed but lacks or mistypes required fields (${fields}).`);
    }
    return parsed.data;
  }

  return {
    transaction: (jws) => verify('transaction', jws, (v) => v.verifyAndDecodeTransaction(jws), AppStoreTransactionSchema),
    renewalInfo: (jws) => verify('renewal info', jws, (v) => v.verifyAndDecodeRenewalInfo(jws), AppStoreRenewalInfoSchema),
    notification: (jws) => verify('notification', jws, (v) => v.verifyAndDecodeNotification(jws), AppStoreNotificationSchema),
  };
}

const invalid = (message: string) => new DomainError('invalid_signed_data', message);

/**
 * The environment the payload claims, read WITHOUT verification, only to pick the verifier.
 * Undefined when absent or unreadable (the default verifier then refuses it properly).
 */
function declaredEnvironment(jws: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(jws.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    const data = (payload.data ?? payload.summary ?? payload.appData) as Record<string, unknown> | undefined;
    const env = payload.environment ?? data?.environment;
    return typeof env === 'string' ? env : undefined;
  } catch {
    return undefined;
  }
}

function mapVerificationError(e: unknown, kind: Kind, bundleId: string): DomainError {
  if (!(e instanceof VerificationException)) {
    return new DomainError('internal', 'Internal error while verifying App Store data.', { cause: e });
  }
  switch (e.status) {
    case VerificationStatus.RETRYABLE_VERIFICATION_FAILURE:
      return new DomainError('upstream_unavailable', "Apple's certificate status service did not answer; retry later.", {
        retryAfterSeconds: 30,
        cause: e,
      });
    case VerificationStatus.INVALID_APP_IDENTIFIER:
      return invalid(`This ${kind} was signed for another app (bundle id or App Apple ID), not ${bundleId}.`);
    case VerificationStatus.INVALID_ENVIRONMENT:
      return invalid(`This ${kind} is signed for another App Store environment than it claims or than this deployment accepts.`);
    case VerificationStatus.FAILURE:
      return invalid(`This is not a well-formed App Store ${kind} (JWS).`);
    default:
      // VERIFICATION_FAILURE, INVALID_CHAIN_LENGTH, INVALID_CERTIFICATE
      return invalid(`This ${kind} is not signed by Apple under the configured root certificates, or it was altered.`);
  }
}
