import * as z from '../../shared/zod';

/** App Store Server Notifications V2 body: `{ "signedPayload": "<JWS>" }` (extra fields are ignored). */
export const AppStoreNotificationRequestSchema = z.object({
  signedPayload: z
    .string()
    .check(z.maxLength(60_000), z.regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'must be a JWS (compact serialization)')),
});
