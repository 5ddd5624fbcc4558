/**
 * The closed set of domain errors, and the one place that maps them to HTTP and callable statuses.
 * Every refusal the product makes is one of these codes; anything else is an internal error.
 */

export type CallableStatus =
  | 'INVALID_ARGUMENT'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'UNAVAILABLE'
  | 'INTERNAL';

const ERRORS = {
  invalid_argument: { http: 400, callable: 'INVALID_ARGUMENT' },
  unknown_product: { http: 400, callable: 'INVALID_ARGUMENT' },
  invalid_signature: { http: 400, callable: 'INVALID_ARGUMENT' },
  invalid_signed_data: { http: 400, callable: 'INVALID_ARGUMENT' },
  apple_not_configured: { http: 400, callable: 'FAILED_PRECONDITION' },
  unauthenticated: { http: 401, callable: 'UNAUTHENTICATED' },
  permission_denied: { http: 403, callable: 'PERMISSION_DENIED' },
  package_not_allowed: { http: 403, callable: 'PERMISSION_DENIED' },
  account_mismatch: { http: 403, callable: 'PERMISSION_DENIED' },
  purchase_not_found: { http: 404, callable: 'NOT_FOUND' },
  method_not_allowed: { http: 405, callable: 'INVALID_ARGUMENT' },
  purchase_claimed: { http: 409, callable: 'ALREADY_EXISTS' },
  transfer_limit_reached: { http: 409, callable: 'FAILED_PRECONDITION' },
  purchase_pending: { http: 409, callable: 'FAILED_PRECONDITION' },
  purchase_canceled: { http: 410, callable: 'FAILED_PRECONDITION' },
  failed_precondition: { http: 400, callable: 'FAILED_PRECONDITION' },
  payload_too_large: { http: 413, callable: 'INVALID_ARGUMENT' },
  upstream_unavailable: { http: 503, callable: 'UNAVAILABLE' },
  internal: { http: 500, callable: 'INTERNAL' },
} as const satisfies Record<string, { http: number; callable: CallableStatus }>;

export type ErrorCode = keyof typeof ERRORS;

export class DomainError extends Error {
  override readonly name = 'DomainError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly options: { retryAfterSeconds?: number; details?: unknown; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}

export const isDomainError = (e: unknown): e is DomainError => e instanceof DomainError;

/** Anything that is not a DomainError is an internal failure; its message is never shown to callers. */
export function toDomainError(e: unknown): DomainError {
  if (isDomainError(e)) return e;
  return new DomainError('internal', 'Internal error. It has been logged; please retry later.', { cause: e });
}

export interface HttpErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: { error: { code: ErrorCode; message: string; details?: unknown } };
}

export function toHttpError(e: unknown): HttpErrorResponse {
  const err = toDomainError(e);
  const headers: Record<string, string> = {};
  if (err.options.retryAfterSeconds !== undefined) headers['Retry-After'] = String(err.options.retryAfterSeconds);
  const body: HttpErrorResponse['body'] = { error: { code: err.code, message: err.message } };
  if (err.options.details !== undefined) body.error.details = err.options.details;
  return { status: ERRORS[err.code].http, headers, body };
}

export interface CallableErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: { error: { status: CallableStatus; message: string; details?: unknown } };
}

/** Firebase callable protocol: the canonical status decides the HTTP code, the domain code rides in details. */
const CALLABLE_HTTP: Record<CallableStatus, number> = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  INTERNAL: 500,
  UNAVAILABLE: 503,
};

export function toCallableError(e: unknown): CallableErrorResponse {
  const err = toDomainError(e);
  const status = ERRORS[err.code].callable;
  const headers: Record<string, string> = {};
  if (err.options.retryAfterSeconds !== undefined) headers['Retry-After'] = String(err.options.retryAfterSeconds);
  const details = { code: err.code, ...(err.options.details === undefined ? {} : { info: err.options.details }) };
  return { status: CALLABLE_HTTP[status], headers, body: { error: { status, message: err.message, details } } };
}
