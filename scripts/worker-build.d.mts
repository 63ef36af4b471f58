// Types for worker-build.mjs, for the TypeScript test harness.
export function wranglerConfig(): {
  durableObjects: Record<string, { className: string; useSQLite: boolean }>;
  compatibilityDate: string;
};
export function bundleWorker(entry?: string): Promise<string>;
