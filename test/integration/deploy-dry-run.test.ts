import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** `npm run deploy -- --dry-run` prints the exact gcloud and firebase commands (build/ made by npm test's build). */
const root = resolve(__dirname, '../..');

describe('deploy --dry-run', () => {
  it('prints one gcloud deploy per function with the right triggers, and the Firestore deploy', () => {
    expect(existsSync(resolve(root, 'build/functions/verifyPurchase/index.js'))).toBe(true);
    const out = execFileSync(
      resolve(root, 'node_modules/.bin/tsx'),
      ['tools/deploy/deploy.ts', '--project', 'acme-prod', '--region', 'europe-west1', '--config', 'deploy/deploy.example.json', '--dry-run'],
      { cwd: root, encoding: 'utf8' },
    );
    const lines = out.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines).toHaveLength(5);
    const byName = (n: string) => lines.find((l) => l.startsWith(`gcloud functions deploy ${n} `))!;
    for (const n of ['verifyPurchase', 'refundPurchase', 'appStoreNotifications', 'playRtdn']) {
      const l = byName(n);
      expect(l).toContain('--gen2 --runtime=nodejs22 --project=acme-prod --region=europe-west1');
      expect(l).toContain(`--source=build/functions/${n} --entry-point=${n}`);
      expect(l).toContain('--set-secrets=APPLE_PRIVATE_KEY=apple-api-key:latest');
    }
    for (const n of ['verifyPurchase', 'refundPurchase', 'appStoreNotifications']) expect(byName(n)).toContain('--trigger-http --allow-unauthenticated');
    expect(byName('playRtdn')).toContain('--trigger-topic=play-rtdn --retry');
    expect(lines[4]).toBe('firebase deploy --only firestore:rules,firestore:indexes --project acme-prod --non-interactive');
    expect(out).toContain('#   IAP_CATALOG: "/workspace/catalog.json"');
    expect(out).toContain('#   GOOGLE_CLOUD_PROJECT: "acme-prod"');
    const pkg = JSON.parse(readFileSync(resolve(root, 'build/functions/playRtdn/package.json'), 'utf8'));
    expect(Object.keys(pkg.dependencies)).toContain('@google-cloud/functions-framework');
    expect(Object.keys(pkg.dependencies)).not.toContain('vitest');
    expect(existsSync(resolve(root, 'build/functions/playRtdn/catalog.json'))).toBe(true);
  });

  it('refuses to run without --project and --region', () => {
    expect(() =>
      execFileSync(resolve(root, 'node_modules/.bin/tsx'), ['tools/deploy/deploy.ts', '--dry-run'], { cwd: root, stdio: 'pipe' }),
    ).toThrow();
  });
});
