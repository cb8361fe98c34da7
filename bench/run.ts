import { benchAudit } from './audit.bench';
import { benchDelivery } from './delivery.bench';
import { benchExplain } from './explain.bench';
import { benchMapping } from './mapping.bench';
import { benchMonitoring } from './monitoring.bench';
import { benchPipeline } from './pipeline.bench';
import { benchPolicy } from './policy.bench';
import type { BenchResult } from './result';

/** One group of benchmarks: a name for error messages and the function that yields its figures. */
interface Bench {
  readonly name: string;
  readonly run: () => Promise<unknown>;
}

function isBenchResult(v: unknown): v is BenchResult {
  const r = v as Partial<Record<keyof BenchResult, unknown>> | null;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.name === 'string' &&
    typeof r.unit === 'string' &&
    typeof r.value === 'number' &&
    Number.isFinite(r.value)
  );
}

function assertResults(name: string, value: unknown): BenchResult[] {
  if (!Array.isArray(value) || !value.every(isBenchResult)) {
    throw new Error(`${name} did not return a list of { name, value, unit } with finite values`);
  }
  return value;
}

function formatValue(v: number): string {
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function formatTable(results: readonly BenchResult[]): string {
  const rows = [['name', 'value', 'unit'], ...results.map((r) => [r.name, formatValue(r.value), r.unit])];
  const width = [0, 1, 2].map((c) => Math.max(...rows.map((row) => row[c]?.length ?? 0)));
  const line = (row: readonly string[]) =>
    `${row[0]!.padEnd(width[0]!)}  ${row[1]!.padStart(width[1]!)}  ${row[2]!.padEnd(width[2]!)}`.trimEnd();
  return [line(rows[0]!), line(width.map((w) => '-'.repeat(w))), ...rows.slice(1).map(line)].join('\n');
}

/** `--only pipeline,audit` (or `--only=…`): the groups to run, by name; all of them without it. */
function onlyGroups(argv: readonly string[]): Set<string> | undefined {
  const i = argv.findIndex((a) => a === '--only' || a.startsWith('--only='));
  if (i < 0) {
    return undefined;
  }
  const arg = argv[i] ?? '';
  const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : (argv[i + 1] ?? '');
  return new Set(value.split(',').filter((g) => g !== ''));
}

async function main(): Promise<number> {
  const json = process.argv.includes('--json');
  // The pipeline first, as its numbers are the most sensitive to what else runs on the machine.
  const all: (Bench & { readonly group: string })[] = [
    { group: 'pipeline', name: 'benchPipeline', run: benchPipeline },
    { group: 'policy', name: 'benchPolicy', run: benchPolicy },
    { group: 'mapping', name: 'benchMapping', run: benchMapping },
    { group: 'audit', name: 'benchAudit', run: benchAudit },
    { group: 'explain', name: 'benchExplain', run: benchExplain },
    { group: 'delivery', name: 'benchDelivery', run: benchDelivery },
    { group: 'monitoring', name: 'benchMonitoring', run: benchMonitoring },
  ];
  const only = onlyGroups(process.argv);
  const unknown = [...(only ?? [])].filter((g) => !all.some((b) => b.group === g));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown group ${unknown.join(', ')}; groups: ${all.map((b) => b.group).join(', ')}\n`);
    return 2;
  }
  const benches = only ? all.filter((b) => only.has(b.group)) : all;
  const results: BenchResult[] = [];
  let failed = 0;
  for (const bench of benches) {
    try {
      const figures = assertResults(bench.name, await bench.run());
      results.push(...figures);
      if (json) {
        figures.forEach((r) =>
          process.stdout.write(`${JSON.stringify({ name: r.name, value: r.value, unit: r.unit })}\n`),
        );
      }
    } catch (err) {
      failed++;
      process.stderr.write(
        `bench: ${bench.name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
    }
  }
  if (!json) {
    process.stdout.write(`${formatTable(results)}\n`);
  }
  return failed === 0 ? 0 : 1;
}

// Exit explicitly: a library may leave a timer or socket behind, and the harness must end by itself.
main().then(
  (code) => process.stdout.write('', () => process.exit(code)),
  (err: unknown) => {
    process.stderr.write(`bench: ${String(err)}\n`);
    process.exit(1);
  },
);
