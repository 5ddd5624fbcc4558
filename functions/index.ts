import { cloudEvent, http } from '@google-cloud/functions-framework';
import { ConfigError, loadConfig } from '../shared/config';
import { createRuntime, type Runtime } from '../shared/runtime';
import { appStoreNotificationsHandler } from './app-store-notifications';
import { answerBodyParseErrorsAsJson } from './body-parse-errors';
import { playRtdnHandler } from './play-rtdn';
import { reconcilePurchasesHandler } from './reconcile-purchases';
import { refundPurchaseHandler } from './refund-purchase';
import { verifyPurchaseHandler } from './verify-purchase';

/**
 * Registers every function with the functions framework. Configuration is validated here, at start:
 * a broken environment stops the process with one message naming every bad variable.
 */
function start(): Runtime {
  try {
    return createRuntime(loadConfig());
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`iap-functions: ${e.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw e;
  }
}

answerBodyParseErrorsAsJson();
const rt = start();
const runtime = () => rt;

/** Every target this bundle registers (tools/serve-function.js names them when asked for another). */
export const FUNCTION_TARGETS = ['verifyPurchase', 'playRtdn', 'refundPurchase', 'appStoreNotifications', 'reconcilePurchases'] as const;

http('verifyPurchase', verifyPurchaseHandler(runtime));
cloudEvent('playRtdn', playRtdnHandler(runtime));
http('refundPurchase', refundPurchaseHandler(runtime));
http('appStoreNotifications', appStoreNotificationsHandler(runtime));
cloudEvent('reconcilePurchases', reconcilePurchasesHandler(runtime));
