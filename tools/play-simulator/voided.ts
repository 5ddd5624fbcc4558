import { errors } from './google-errors';
import { DAY_MS, type VoidedRecord } from './model';
import { voidedResource } from './resources';
import type { VoidedPurchase } from './types';

/** voidedpurchases.list cannot look further back than this. */
const LOOKBACK_MS = 30 * DAY_MS;
const MAX_RESULTS = 1000;

export interface VoidedQuery {
  packageName: string;
  /** Bounds on the recorded time, inclusive. */
  startTime: number;
  endTime: number;
  includeSubscriptions: boolean;
  includePartial: boolean;
}

type Position = Pick<VoidedRecord, 'recordedTime' | 'seq'>;
const byRecorded = (a: Position, b: Position): number => a.recordedTime - b.recordedTime || a.seq - b.seq;

/** Voided purchases in the order the list pages them: by recorded time, then insertion. */
export class VoidedLog {
  private records: VoidedRecord[] = [];
  private nextSeq = 0;

  add(v: Omit<VoidedRecord, 'seq'>): void {
    this.records.push({ ...v, seq: this.nextSeq++ });
  }

  clear(): void {
    this.records = [];
  }

  query(q: VoidedQuery): VoidedRecord[] {
    return this.records
      .filter((v) => v.packageName === q.packageName && v.recordedTime >= q.startTime && v.recordedTime <= q.endTime)
      .filter((v) => (q.includeSubscriptions || v.productType === 2) && (q.includePartial || v.voidedQuantity === undefined))
      .sort(byRecorded);
  }
}

/**
 * A page token holds the time window of the first request and the last record served, so later pages
 * neither skip nor repeat records when new voids are recorded meanwhile.
 */
interface Cursor extends Position {
  startTime: number;
  endTime: number;
}

const encodeCursor = (c: Cursor): string => Buffer.from(JSON.stringify(c)).toString('base64url');

function decodeCursor(token: string): Cursor {
  try {
    const c = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<Cursor>;
    if ([c.startTime, c.endTime, c.recordedTime, c.seq].every(Number.isInteger)) return c as Cursor;
  } catch {
    // falls through to the 400
  }
  throw errors.invalidValue('token');
}

function intParam(query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) throw errors.invalidValue(name);
  return Number(raw);
}

function boolParam(query: URLSearchParams, name: string): boolean {
  const raw = query.get(name);
  if (raw === null || raw === '' || raw === 'false') return false;
  if (raw === 'true') return true;
  throw errors.invalidValue(name);
}

export interface VoidedListReply {
  voidedPurchases?: VoidedPurchase[];
  pageInfo: { totalResults: number; resultPerPage: number; startIndex: number };
  tokenPagination?: { nextPageToken: string };
}

/** voidedpurchases.list: `list` runs the query against the store. */
export function listVoided(list: (q: VoidedQuery) => VoidedRecord[], packageName: string, query: URLSearchParams, now: number): VoidedListReply {
  const token = query.get('token') || undefined;
  const cursor = token ? decodeCursor(token) : undefined;
  // With a page token, the window is the first request's; startTime and endTime are ignored.
  const startTime = cursor?.startTime ?? intParam(query, 'startTime') ?? now - LOOKBACK_MS;
  if (!cursor && startTime < now - LOOKBACK_MS) throw errors.invalidValue('startTime');
  const endTime = cursor?.endTime ?? Math.min(intParam(query, 'endTime') ?? now, now);
  const type = intParam(query, 'type') ?? 0;
  if (type > 1) throw errors.invalidValue('type');
  const maxResults = Math.min(intParam(query, 'maxResults') ?? MAX_RESULTS, MAX_RESULTS);
  if (maxResults < 1) throw errors.invalidValue('maxResults');

  const all = list({ packageName, startTime, endTime, includeSubscriptions: type === 1, includePartial: boolParam(query, 'includeQuantityBasedPartialRefund') });
  const after = cursor ? all.findIndex((v) => byRecorded(v, cursor) > 0) : -1;
  const from = cursor ? (after < 0 ? all.length : after) : (intParam(query, 'startIndex') ?? 0);
  const page = all.slice(from, from + maxResults);
  const reply: VoidedListReply = { pageInfo: { totalResults: all.length, resultPerPage: maxResults, startIndex: from } };
  // Like Google's JSON, empty repeated fields are left out.
  if (page.length > 0) reply.voidedPurchases = page.map(voidedResource);
  const last = page.at(-1);
  if (last && from + page.length < all.length) {
    reply.tokenPagination = { nextPageToken: encodeCursor({ startTime, endTime, recordedTime: last.recordedTime, seq: last.seq }) };
  }
  return reply;
}
