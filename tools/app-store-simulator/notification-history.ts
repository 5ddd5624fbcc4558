import { z } from 'zod';
import type { ApiReply } from './api';
import type { SimState } from './state';
import type { HistoryRecord, SimEnvironment } from './types';

/**
 * Get Notification History: `POST /inApps/v1/notifications/history?paginationToken=…` with
 * `{startDate, endDate, notificationType?, notificationSubtype?, transactionId?, onlyFailures?}`.
 * Every notification signed in this environment whose send time is in [startDate, endDate] (an endDate
 * in the future means now), oldest first, 20 a page; `paginationToken` (only while `hasMore`) is opaque
 * and names the last record served, so the next page starts after it.
 *
 * Error codes are Apple's (APIError in the library); the HTTP status and messages of the date errors
 * are UNCONFIRMED (4000012 for a too-old startDate was seen at Apple with "Invalid request.").
 */
const PAGE = 20;
const DAY = 86_400_000;
/** How far back Apple keeps history: 180 days in Production, 30 in Sandbox (Apple's documentation). */
const HISTORY_RETENTION_MS: Record<SimEnvironment, number> = { Production: 180 * DAY, Sandbox: 30 * DAY, Xcode: 0 };

const bad = (errorCode: number, errorMessage: string): ApiReply => ({ status: 400, body: { errorCode, errorMessage } });

// Apple's libraries send absent fields as null, so null is accepted everywhere.
const RequestSchema = z.object({
  startDate: z.number().int().nonnegative().nullish(),
  endDate: z.number().int().nonnegative().nullish(),
  notificationType: z.string().min(1).nullish(),
  notificationSubtype: z.string().min(1).nullish(),
  transactionId: z.string().nullish(),
  onlyFailures: z.boolean().nullish(),
});

export function notificationHistory(
  records: readonly HistoryRecord[],
  state: SimState,
  env: SimEnvironment,
  body: unknown,
  paginationToken: string | null,
): ApiReply {
  const parsed = RequestSchema.safeParse(body);
  if (!parsed.success) return bad(4000000, 'Invalid request.');
  const q = parsed.data;
  const now = state.now(); // the simulator's clock, which signed every record (it may run ahead of Date.now())
  if (q.startDate == null) return bad(4000015, 'Invalid start date.');
  if (q.endDate == null) return bad(4000016, 'Invalid end date.');
  if (q.startDate >= q.endDate) return bad(4000013, 'Start date is after or equal to the end date.');
  if (q.startDate < now - HISTORY_RETENTION_MS[env]) return bad(4000012, 'Start date is too far in the past.');
  if (q.transactionId && q.notificationType) return bad(4000019, 'Give either transactionId or notificationType, not both.');
  if (q.notificationSubtype && !q.notificationType) return bad(4000018, 'A notificationSubtype needs its notificationType.');
  if (q.transactionId && !/^[0-9]{1,32}$/.test(q.transactionId)) return bad(4000006, 'Invalid transaction id.');
  const after = paginationToken === null ? null : decodeToken(paginationToken);
  if (paginationToken !== null && !after) return bad(4000014, 'Invalid pagination token.');

  // UNCONFIRMED: a transactionId Apple does not know; answered here as an empty history.
  const customer = q.transactionId ? (state.findByTransactionId(q.transactionId)?.purchase.customerId ?? null) : undefined;
  const end = Math.min(q.endDate, now);
  const rows = records
    .map((r, seq) => ({ r, key: { sentAt: r.sentAt, seq } }))
    .filter(
      ({ r, key }) =>
        (!after || later(key, after)) &&
        r.environment === env &&
        r.sentAt >= q.startDate! &&
        r.sentAt <= end &&
        (!q.onlyFailures || !r.sendAttempts.some((a) => a.sendAttemptResult === 'SUCCESS')) &&
        (!q.notificationType || r.notificationType === q.notificationType) &&
        (!q.notificationSubtype || r.subtype === q.notificationSubtype) &&
        (customer === undefined || (customer !== null && r.customerId === customer)),
    )
    .sort((a, b) => (later(a.key, b.key) ? 1 : -1));
  const page = rows.slice(0, PAGE);
  const hasMore = rows.length > PAGE;
  return {
    status: 200,
    body: {
      notificationHistory: page.map(({ r }) => ({ signedPayload: r.signedPayload, sendAttempts: r.sendAttempts })),
      hasMore,
      ...(hasMore ? { paginationToken: encodeToken(page[page.length - 1]!.key) } : {}),
    },
  };
}

/** Oldest first by send time; the recording order breaks ties (and stays stable while paging). */
type Position = { sentAt: number; seq: number };
const later = (a: Position, b: Position) => a.sentAt > b.sentAt || (a.sentAt === b.sentAt && a.seq > b.seq);

const encodeToken = (p: Position) => Buffer.from(JSON.stringify({ v: 1, ...p })).toString('base64url');

function decodeToken(token: string): Position | null {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Record<string, unknown>;
    return t.v === 1 && Number.isInteger(t.sentAt) && Number.isInteger(t.seq) ? { sentAt: t.sentAt as number, seq: t.seq as number } : null;
  } catch {
    return null;
  }
}
