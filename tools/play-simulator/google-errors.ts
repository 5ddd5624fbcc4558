import type { ServerResponse } from 'node:http';

/** One entry of the `errors` array of a Google API error body. */
export interface GoogleErrorItem {
  domain: string;
  reason: string;
  message: string;
  location?: string;
  locationType?: string;
}

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/**
 * An error that the simulator answers in Google's JSON error shape. The purchase store throws these
 * too, so a refused transition reads the same over the Play API and the control API.
 */
export class PlayError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly domain: 'global' | 'androidpublisher' = 'androidpublisher',
    readonly location?: { name: string; type: 'parameter' | 'header' },
  ) {
    super(message);
    this.name = 'PlayError';
  }

  body(): { error: { code: number; message: string; errors: GoogleErrorItem[]; status?: string } } {
    const item: GoogleErrorItem = { domain: this.domain, reason: this.reason, message: this.message };
    if (this.location) {
      item.location = this.location.name;
      item.locationType = this.location.type;
    }
    const status = STATUS_NAMES[this.code];
    return { error: { code: this.code, message: this.message, errors: [item], ...(status ? { status } : {}) } };
  }
}

const TOKEN_PARAM = { name: 'token', type: 'parameter' } as const;

/** Play's reasons for these statuses. Only the 401 message is Play's verbatim; the other messages and the domains are unconfirmed. */
const FAULT_REASONS: Record<number, { reason: string; message: string; domain: 'global' | 'androidpublisher' }> = {
  401: { reason: 'permissionDenied', message: 'The current user has insufficient permissions to perform the requested operation.', domain: 'androidpublisher' },
  403: { reason: 'userInsufficientPermission', message: 'The caller does not have permission.', domain: 'global' },
  409: { reason: 'concurrentUpdate', message: 'The operation could not be performed because of a concurrent update. Retry with backoff.', domain: 'androidpublisher' },
  410: { reason: 'purchaseTokenNoLongerValid', message: 'The purchase token is no longer valid.', domain: 'androidpublisher' },
};

export const errors = {
  tokenNotFound: () =>
    new PlayError(404, 'purchaseTokenNotFound', 'The purchase token was not found.', 'androidpublisher', TOKEN_PARAM),
  /** Real Play answers this for a token used with another package, product or purchase type. */
  invalidValue: (location: string = TOKEN_PARAM.name) =>
    new PlayError(400, 'invalidValue', 'Invalid Value', 'global', { name: location, type: 'parameter' }),
  invalidState: (detail?: string) =>
    new PlayError(
      400,
      'invalidPurchaseState',
      `The purchase is not in a valid state to perform the desired operation.${detail ? ` (${detail})` : ''}`,
      'androidpublisher',
      TOKEN_PARAM,
    ),
  subscriptionExpired: () =>
    new PlayError(400, 'subscriptionExpired', 'The subscription cannot be refunded or revoked because it has expired.'),
  orderNotFound: () => new PlayError(404, 'notFound', 'The order was not found.', 'global'),
  /** Unconfirmed reason and message: Play's answer to a refund review answered after its 24 hours. */
  refundReviewExpired: () => new PlayError(400, 'refundReviewExpired', 'The pending refund review can no longer be answered: its 24 hours have passed.'),
  orderAlreadyRefunded: () => new PlayError(400, 'orderAlreadyRefunded', 'The order has already been refunded.'),
  required: (field: string) =>
    new PlayError(400, 'required', `Required field missing: ${field}`, 'global', { name: field, type: 'parameter' }),
  badRequest: (message: string) => new PlayError(400, 'badRequest', message, 'global'),
  loginRequired: () =>
    new PlayError(
      401,
      'required',
      'Request is missing required authentication credential. Expected OAuth 2 access token.',
      'global',
      { name: 'Authorization', type: 'header' },
    ),
  invalidCredentials: () =>
    new PlayError(401, 'authError', 'Request had invalid authentication credentials. Expected OAuth 2 access token.', 'global', {
      name: 'Authorization',
      type: 'header',
    }),
  methodNotFound: (path: string) => new PlayError(404, 'notFound', `No such method: ${path}`, 'global'),
  /** What an injected fault answers: Play's reason for the statuses it documents, else a generic one. */
  fault: (code: number, message?: string) => {
    const known = FAULT_REASONS[code];
    if (known) return new PlayError(code, known.reason, message ?? known.message, known.domain);
    const reason = code === 429 ? 'rateLimitExceeded' : code >= 500 ? 'backendError' : 'simulatedFault';
    const text =
      code === 429
        ? 'Quota exceeded (simulated).'
        : code === 503
          ? 'The service is currently unavailable.'
          : code >= 500
            ? 'Internal error encountered.'
            : 'Simulated failure.';
    return new PlayError(code, reason, message ?? text, 'global');
  },
};

export function sendGoogleError(res: ServerResponse, err: PlayError, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(err.body());
  res.writeHead(err.code, { 'content-type': 'application/json; charset=UTF-8', ...headers });
  res.end(body);
}
