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
  /** What an injected fault answers. */
  fault: (code: number, message?: string) => {
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
