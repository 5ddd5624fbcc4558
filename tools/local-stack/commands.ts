import { appAccountTokenFor } from '../../shared/app-store/app-account-token';
import { signInLine } from './auth-users';
import { PROJECT_ID } from './functions';
import type { Stack } from './start';

/** The shell lines npm start prints (and --check runs): sign-in, a Play purchase, an App Store one. */
export interface Commands {
  /** Shell lines: sign in, create a purchase, verify it, read the entitlement from Firestore. */
  lines: string[];
  /** Then, as the admin: revoke that purchase with refundPurchase (when registered). */
  adminLines: string[];
  /** An App Store purchase: buy at the App Store simulator, verify its jwsRepresentation. */
  appleLines: string[];
}

const jsonField = (field: string) => `node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8"))${field}'`;

export function commands(stack: Stack): Commands {
  const verify = stack.functions.find((f) => f.entry.target === 'verifyPurchase');
  const { user, admin } = stack.accounts!;
  const authHost = stack.auth!.host;
  const product = stack.picks.nonConsumable;
  const sim = stack.sim!.url;
  const lines = [signInLine('ID_TOKEN', authHost, user), signInLine('ADMIN_TOKEN', authHost, admin)];
  if (product) {
    lines.push(
      `PURCHASE_TOKEN=$(curl -sf -X POST ${sim}_sim/purchases -H 'content-type: application/json' \\`,
      `  -d '{"type":"product","productId":"${product.productId}","packageName":"${stack.playPackage}"}' | ${jsonField('.purchaseToken')})`,
    );
    if (verify) {
      lines.push(
        `curl -s -X POST ${verify.url} -H "authorization: Bearer $ID_TOKEN" -H 'content-type: application/json' \\`,
        `  -d "{\\"packageName\\":\\"${stack.playPackage}\\",\\"productId\\":\\"${product.productId}\\",\\"purchaseToken\\":\\"$PURCHASE_TOKEN\\"}"; echo`,
      );
    }
    if (stack.firestore) {
      lines.push(
        `curl -s -H 'authorization: Bearer owner' 'http://${stack.firestore.host}/v1/projects/${PROJECT_ID}/databases/(default)/documents/users/${user.uid}/entitlements/${product.entitlement}'`,
      );
    }
  }
  const refund = stack.functions.find((f) => f.entry.target === 'refundPurchase');
  const adminLines =
    refund && product
      ? [
          `curl -s -X POST ${refund.url} -H "authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' \\`,
          `  -d "{\\"data\\":{\\"packageName\\":\\"${stack.playPackage}\\",\\"purchaseToken\\":\\"$PURCHASE_TOKEN\\",\\"action\\":\\"revoke\\",\\"reason\\":\\"local stack demo\\"}}"; echo`,
        ]
      : [];
  const appleLines: string[] = [];
  const sub = stack.picks.subscription;
  if (stack.apple && sub && verify) {
    const control = stack.apple.controlUrl;
    appleLines.push(
      `APPLE_TX=$(curl -sf -X POST ${control}purchases -H 'content-type: application/json' \\`,
      `  -d '{"kind":"subscription","productId":"${sub.productId}","appAccountToken":"${appAccountTokenFor(user.uid)}"}' | ${jsonField('.purchase.originalTransactionId')})`,
      `JWS=$(curl -sf -X POST ${control}purchases/$APPLE_TX/sign | ${jsonField('.signedTransaction')})`,
      `curl -s -X POST ${verify.url} -H "authorization: Bearer $ID_TOKEN" -H 'content-type: application/json' \\`,
      `  -d "{\\"platform\\":\\"app_store\\",\\"signedTransaction\\":\\"$JWS\\"}"; echo`,
      `curl -s -X POST ${control}purchases/$APPLE_TX/renew; echo   # DID_RENEW → appStoreNotifications`,
    );
  }
  return { lines, adminLines, appleLines };
}

