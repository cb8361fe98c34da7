/** One benchmark figure; `npm run bench -- --json` prints one of these per line. */
export interface BenchResult {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
}
