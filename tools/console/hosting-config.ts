import type { ConsoleFirebaseConfig } from './serve';

/** config.json for the console on Firebase Hosting: no emulators, the 2nd-gen functions' base URL. */
export function hostingConsoleConfig(project: string, region: string, apiKey: string): ConsoleFirebaseConfig {
  return { projectId: project, apiKey, functionsBaseUrl: `https://${region}-${project}.cloudfunctions.net` };
}
