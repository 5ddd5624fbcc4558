import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { gcloudRoot } from '../emulators/gcloud';

/** A missing tool: one message saying what is missing and how to install it. */
export class PrerequisiteError extends Error {
  override readonly name = 'PrerequisiteError';
}

const INSTALL = 'Install it with: bash tools/install-prerequisites.sh (Debian/Ubuntu; Java 17 and the gcloud emulators).';

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export interface Prerequisites {
  sdkRoot: string;
  javaVersion: string;
  /** The Pub/Sub emulator component and the gcloud command that starts it are present. */
  pubsubEmulator: boolean;
  /** Why not, when not. */
  pubsubMissing?: string;
}

/** Java 17+, the Cloud SDK with its Firestore emulator; reports whether the Pub/Sub emulator is there. */
export function checkPrerequisites(): Prerequisites {
  if (!onPath('java')) throw new PrerequisiteError(`Java 17+ is missing (no "java" on PATH); the emulators need it. ${INSTALL}`);
  const v = spawnSync('java', ['-version'], { encoding: 'utf8' });
  const text = `${v.stderr ?? ''}${v.stdout ?? ''}`;
  const m = /version "(\d+)(?:\.(\d+))?/.exec(text);
  const major = m ? (m[1] === '1' ? Number(m[2]) : Number(m[1])) : NaN;
  if (!(major >= 17)) {
    throw new PrerequisiteError(`Java 17+ is needed, found: ${text.split('\n')[0] || 'unknown'}. ${INSTALL}`);
  }
  let sdkRoot: string;
  try {
    sdkRoot = gcloudRoot();
  } catch {
    throw new PrerequisiteError(`The Google Cloud SDK (gcloud) is missing. ${INSTALL}`);
  }
  if (!existsSync(join(sdkRoot, 'platform/cloud-firestore-emulator'))) {
    throw new PrerequisiteError(
      `The gcloud Firestore emulator component is missing (${join(sdkRoot, 'platform/cloud-firestore-emulator')}). ${INSTALL}`,
    );
  }
  const component = existsSync(join(sdkRoot, 'platform/pubsub-emulator'));
  const gcloud = onPath('gcloud');
  const pubsubMissing = !component
    ? `The gcloud Pub/Sub emulator component is missing (${join(sdkRoot, 'platform/pubsub-emulator')}); playRtdn needs it. ` +
      'Install it with: sudo apt-get install google-cloud-cli-pubsub-emulator (or: gcloud components install pubsub-emulator); ' +
      `on a fresh machine, ${INSTALL.charAt(0).toLowerCase()}${INSTALL.slice(1)}`
    : !gcloud
      ? `"gcloud" is not on PATH; it starts the Pub/Sub emulator that playRtdn needs. Add ${join(sdkRoot, 'bin')} to PATH, or ${INSTALL.charAt(0).toLowerCase()}${INSTALL.slice(1)}`
      : undefined;
  return { sdkRoot, javaVersion: String(major), pubsubEmulator: !pubsubMissing, ...(pubsubMissing ? { pubsubMissing } : {}) };
}

/** Version of the gcloud SDK, for reports (best effort). */
export function gcloudVersion(): string | undefined {
  try {
    return execFileSync('gcloud', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0];
  } catch {
    return undefined;
  }
}

export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/**
 * Picks the stack's ports: the preferred one if free, else the next free one above it that is neither
 * another component's default nor already picked.
 */
export class PortPlanner {
  private readonly picked = new Set<number>();
  constructor(private readonly defaults: ReadonlySet<number>) {}

  async pick(preferred: number): Promise<number> {
    for (let p = preferred; p < preferred + 200 && p < 65536; p++) {
      if (this.picked.has(p) || (p !== preferred && this.defaults.has(p))) continue;
      if (await portFree(p)) {
        this.picked.add(p);
        return p;
      }
    }
    throw new Error(`no free port from ${preferred} upwards on 127.0.0.1`);
  }
}
