import { uidHash, userLogSettingsFrom } from '../../shared/log';

/**
 * npm run uid-hash -- UID [--project PROJECT]: the uidHash the functions log for UID, so that support
 * can find one user's lines. Needs the functions' key: LOG_HASH_KEY as deployed, else (no key set
 * there) the project id from --project or GOOGLE_CLOUD_PROJECT. Prints the hash, then a Cloud Logging query.
 */
const USAGE = 'usage: npm run uid-hash -- UID [--project PROJECT]   (key: LOG_HASH_KEY, else the project id)';

export function uidHashCli(argv: string[], env: NodeJS.ProcessEnv): { code: number; out: string } {
  const args = [...argv];
  let project: string | undefined;
  const at = args.indexOf('--project');
  if (at >= 0) [, project] = args.splice(at, 2);
  if (args.length !== 1 || args[0]!.startsWith('-') || (at >= 0 && !project)) return { code: 2, out: USAGE };
  const { hashKey } = userLogSettingsFrom({ ...env, ...(project ? { GOOGLE_CLOUD_PROJECT: project } : {}) });
  if (!hashKey) return { code: 2, out: `set LOG_HASH_KEY (as deployed) or give --project PROJECT\n${USAGE}` };
  const hash = uidHash(args[0]!, hashKey);
  return { code: 0, out: `${hash}\nCloud Logging query: jsonPayload.uidHash="${hash}"` };
}

if (require.main === module) {
  const { code, out } = uidHashCli(process.argv.slice(2), process.env);
  (code === 0 ? process.stdout : process.stderr).write(out + '\n');
  process.exitCode = code;
}
