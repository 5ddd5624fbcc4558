import { cloudEvent, http } from '@google-cloud/functions-framework';
import { startRuntime } from '../shared/runtime';
import { appStoreNotificationsHandler } from './app-store-notifications';
import { answerBodyParseErrorsAsJson } from './body-parse-errors';
import { playRtdnHandler } from './play-rtdn';
import { reconcilePurchasesHandler } from './reconcile-purchases';
import { refundPurchaseHandler } from './refund-purchase';
import { verifyPurchaseHandler } from './verify-purchase';

/**
 * Registers every function with the functions framework (dist/index.js; the deployable folders
 * build/functions/<name>/ get one bundle per function, generated from the same handlers by
 * tools/build/build.ts). Configuration is validated here, at start: a broken environment stops the
 * process with one message naming every bad variable (exit 78). Clients are built when first needed.
 */
answerBodyParseErrorsAsJson();
const runtime = startRuntime();

/** Every target this bundle registers (tools/serve-function.js names them when asked for another). */
export const FUNCTION_TARGETS = ['verifyPurchase', 'playRtdn', 'refundPurchase', 'appStoreNotifications', 'reconcilePurchases'] as const;

http('verifyPurchase', verifyPurchaseHandler(runtime));
cloudEvent('playRtdn', playRtdnHandler(runtime));
http('refundPurchase', refundPurchaseHandler(runtime));
http('appStoreNotifications', appStoreNotificationsHandler(runtime));
cloudEvent('reconcilePurchases', reconcilePurchasesHandler(runtime));
