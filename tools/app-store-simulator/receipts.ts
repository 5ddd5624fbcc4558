import type { SimState } from './state';
import type { SimPurchase, SimTransaction } from './types';

/**
 * StoreKit 1 app receipts: PKCS#7 SignedData (DER) wrapping the receipt's ASN.1 SET of attributes,
 * with one in-app purchase record (type 17) per transaction, as Apple lays them out. The signer info
 * is left empty: receipts are never trusted by the product, only the transaction id inside them
 * (Apple's ReceiptUtility reads it), which is then looked up with the App Store Server API.
 */
export function buildReceipt(state: SimState, transactions: { purchase: SimPurchase; transaction: SimTransaction }[]): string {
  const first = transactions[0]?.purchase;
  const attributes = [
    attribute(2, utf8(first?.bundleId ?? state.bundleId)), // bundle_id
    attribute(3, utf8('1.0')), // application_version
    attribute(19, utf8('1.0')), // original_application_version
    attribute(12, ia5(new Date(state.now()).toISOString())), // receipt_creation_date
    ...transactions.map(({ purchase, transaction }) => attribute(17, inApp(purchase, transaction))),
  ];
  const payload = tlv(0x31, Buffer.concat(attributes));
  const signedData = tlv(
    0x30,
    Buffer.concat([
      integer(1),
      tlv(0x31, tlv(0x30, Buffer.concat([oid('608648016503040201'), Buffer.from([0x05, 0x00])]))), // sha256
      tlv(0x30, Buffer.concat([oid('2a864886f70d010701'), tlv(0xa0, tlv(0x04, payload))])), // data
      tlv(0x31, Buffer.alloc(0)), // signerInfos
    ]),
  );
  return tlv(0x30, Buffer.concat([oid('2a864886f70d010702'), tlv(0xa0, signedData)])).toString('base64');
}

function inApp(p: SimPurchase, t: SimTransaction): Buffer {
  const fields = [
    attribute(1701, integer(t.quantity)),
    attribute(1702, utf8(t.productId)),
    attribute(1703, utf8(t.transactionId)),
    attribute(1705, utf8(p.originalTransactionId)),
    attribute(1704, ia5(new Date(t.purchaseDate).toISOString())),
    ...(t.expiresDate !== undefined ? [attribute(1708, ia5(new Date(t.expiresDate).toISOString()))] : []),
  ];
  return tlv(0x31, Buffer.concat(fields));
}

/** ReceiptAttribute ::= SEQUENCE { type INTEGER, version INTEGER, value OCTET STRING } */
const attribute = (type: number, value: Buffer) => tlv(0x30, Buffer.concat([integer(type), integer(1), tlv(0x04, value)]));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const ia5 = (s: string) => tlv(0x16, Buffer.from(s, 'ascii'));
const oid = (hex: string) => tlv(0x06, Buffer.from(hex, 'hex'));

function integer(n: number): Buffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  return tlv(0x02, Buffer.from(hex, 'hex'));
}

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const length =
    n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : n < 0x10000 ? Buffer.from([0x82, n >> 8, n & 0xff]) : Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, content]);
}
