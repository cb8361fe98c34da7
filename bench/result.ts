/** One benchmark figure; `npm run bench -- --json` prints one of these per line. */
export interface BenchResult {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
}

/**
 * Runs one group when its file is started on its own (`npx tsx bench/<group>.bench.ts`): figures as JSON lines on
 * stdout, then an explicit exit, since a library may leave a timer or socket behind.
 */
export function runStandalone(bench: () => Promise<readonly BenchResult[]>): void {
  bench().then(
    (results) => {
      results.forEach((r) => process.stdout.write(`${JSON.stringify(r)}\n`));
      process.exit(0);
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
