import { z } from 'zod';

/** App Store Server Notifications V2 body: `{ "signedPayload": "<JWS>" }` (extra fields are ignored). */
export const AppStoreNotificationRequestSchema = z.object({
  signedPayload: z
    .string()
    .max(60_000)
    .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'must be a JWS (compact serialization)'),
});
