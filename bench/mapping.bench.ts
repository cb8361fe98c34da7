import fs from 'node:fs';
import path from 'node:path';
import { csvDialect } from '../mappings/his/csv';
import { fhirBundleDialect } from '../mappings/his/fhir-bundle';
import { genericJsonDialect } from '../mappings/his/generic-json';
import { assertValidResource, initFhirValidation } from '../src/kernel/fhir/validation';
import type { HisDialect, RawRecord } from '../src/contracts/his-dialect';
import { runStandalone, type BenchResult } from './result';

const WARM_UP_MS = 1_000;
const MEASURE_MS = 2_000;
const FIXTURES = path.join(__dirname, '..', 'tests', 'fixtures');

/** The records of a dialect's golden cases that map, as the work load: every event type, every input form. */
function workload(dialect: HisDialect): RawRecord[] {
  const dir = path.join(FIXTURES, dialect.name);
  return fs
    .readdirSync(dir)
    .filter((f) => /\.input\.(json|csv)$/.test(f))
    .sort()
    .flatMap((f) => {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      return dialect.split(f.endsWith('.csv') ? text : JSON.parse(text));
    })
    .filter((r) => {
      try {
        dialect.map(r);
        return true;
      } catch {
        return false;
      }
    });
}

/** Map plus FHIR validation of every resource, as the map worker does it. */
function mapAndValidate(dialect: HisDialect, record: RawRecord): void {
  for (const r of dialect.map(record).resources) {
    assertValidResource(r);
  }
}

/**
 * Records per CPU second for `ms` milliseconds, going round the workload: on a shared machine the wall clock also
 * counts the time other processes held the core (the wall-clock rate goes to stderr).
 */
function run(dialect: HisDialect, records: readonly RawRecord[], ms: number): number {
  let done = 0;
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const until = start + BigInt(ms) * 1_000_000n;
  while (process.hrtime.bigint() < until) {
    mapAndValidate(dialect, records[done % records.length]!);
    done++;
  }
  const wall = done / (Number(process.hrtime.bigint() - start) / 1e9);
  const used = process.cpuUsage(cpu);
  const perCpuSecond = done / ((used.user + used.system) / 1e6);
  process.stderr.write(
    `bench: mapping ${dialect.name} ${perCpuSecond.toFixed(0)} records per CPU second, ${wall.toFixed(0)} per wall-clock second\n`,
  );
  return perCpuSecond;
}

/** `mapping.<dialect>.records_per_s`: map and validate, one core, after a warm-up, about a second per dialect. */
export async function benchMapping(): Promise<BenchResult[]> {
  initFhirValidation();
  const results: BenchResult[] = [];
  for (const dialect of [genericJsonDialect, fhirBundleDialect, csvDialect]) {
    const records = workload(dialect);
    if (records.length === 0) {
      throw new Error(`No mappable fixture records for ${dialect.name}`);
    }
    run(dialect, records, WARM_UP_MS);
    results.push({
      name: `mapping.${dialect.name}.records_per_s`,
      value: run(dialect, records, MEASURE_MS),
      unit: 'records/s',
    });
    // Let the event loop breathe between dialects (timers, GC) without measuring it.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return results;
}

// `npx tsx bench/mapping.bench.ts` runs this group on its own.
if (require.main === module) {
  runStandalone(benchMapping);
}
