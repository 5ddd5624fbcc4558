import { ReceiptUtility } from '@apple/app-store-server-library';
import { DomainError } from '../errors';

/**
 * The transaction id inside a StoreKit 1 app receipt, read with Apple's ReceiptUtility. The receipt
 * itself is NOT validated (Apple's advice since verifyReceipt's deprecation): the id is only used to
 * ask the App Store Server API, whose answer is verified.
 */
const receipts = new ReceiptUtility();

export function transactionIdFromReceipt(receipt: string): string {
  const transactionId = extract(receipt);
  if (!transactionId) {
    throw new DomainError('purchase_not_found', 'This app receipt contains no in-app purchase.');
  }
  return transactionId;
}

function extract(receipt: string): string | null {
  try {
    return receipts.extractTransactionIdFromAppReceipt(receipt);
  } catch {
    throw new DomainError('invalid_argument', 'receipt is not a StoreKit 1 app receipt (base64 of Bundle.main.appStoreReceiptURL).');
  }
}
