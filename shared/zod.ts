import { en } from 'zod/locales';
import { config } from 'zod/mini';

/**
 * zod for the product code: the mini API (functions instead of methods), so that a bundle keeps only
 * the parts of zod it uses. zod/mini sets no locale: English is configured here, once, so that the
 * messages are classic zod's. Product files `import * as z` from here; a namespace import is what lets
 * the bundler drop the rest (importing zod's `z` object, or `z.core`, keeps all of it).
 */
config(en());

export * from 'zod/mini';
/** What `parse` throws; zod/mini has it only under `core`. */
export { $ZodError } from 'zod/v4/core';
