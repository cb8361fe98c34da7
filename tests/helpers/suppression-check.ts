import type { MeasureReport, MeasureReportGroupPopulation } from '@medplum/fhirtypes';
import { GROUPS } from '../../src/reports/monitoring/measure';
import { DATA_ABSENT_REASON } from '../../src/reports/monitoring/measure-report';
import { boundsOfWithheld } from '../../src/reports/monitoring/suppression';

function masked(p: { extension?: { url?: string; valueCode?: string }[] | undefined } | undefined): boolean {
  return p?.extension?.some((e) => e.url === DATA_ABSENT_REASON && e.valueCode === 'masked') ?? false;
}

function count(p: MeasureReportGroupPopulation | undefined): number | 'withheld' {
  if (masked(p)) {
    if (p?.count !== undefined) {
      throw new Error('a population is both masked and counted');
    }
    return 'withheld';
  }
  if (p?.count === undefined) {
    throw new Error('a population has neither a count nor the masked extension');
  }
  return p.count;
}

/** The total of the group `code` of a report. */
function totalOf(report: MeasureReport, code: string): number | 'withheld' | undefined {
  const g = report.group?.find((x) => x.code?.coding?.[0]?.code === code);
  return g?.population?.[0] ? count(g.population[0]) : undefined;
}

/**
 * Plays the adversary: for every group and stratifier of a report, tries to work out each withheld count from the
 * shown total and the shown cells, and checks no shown count lies between 1 and k − 1, nor any count the report
 * implies: the rest of a `partition` or `part` (total less the shown strata), the complement of an `overlapping`
 * stratum (total less it), and a waiting interval's complement in the group it is a part of. Returns what it tried, so a
 * test can also assert that there was something to try. Throws on the first cell it can derive.
 */
export function tryToDeriveWithheldCells(report: MeasureReport, k: number): { withheld: number; stratifiers: number } {
  let withheld = 0;
  let stratifiers = 0;
  for (const g of report.group ?? []) {
    const code = g.code?.coding?.[0]?.code;
    const spec = GROUPS.find((s) => s.code === code);
    if (!spec) {
      throw new Error(`unknown group ${String(code)}`);
    }
    const total = g.population?.[0] ? count(g.population[0]) : undefined;
    if (typeof total === 'number' && total > 0 && total < k) {
      throw new Error(`${spec.code}: total ${total} shown`);
    }
    if (total === 'withheld' && g.measureScore) {
      throw new Error(`${spec.code}: a score over a withheld total is shown`);
    }
    (g.stratifier ?? []).forEach((s, i) => {
      stratifiers++;
      const sSpec = spec.stratifiers[i];
      const cells = (s.stratum ?? []).map((st) => ({
        code: st.value?.coding?.[0]?.code,
        n: count(st.population?.[0]),
      }));
      for (const c of cells) {
        if (typeof c.n === 'number' && c.n > 0 && c.n < k) {
          throw new Error(`${spec.code}/${String(c.code)}: count ${c.n} shown`);
        }
      }
      for (const st of s.stratum ?? []) {
        if (count(st.population?.[0]) === 'withheld' && st.measureScore) {
          throw new Error(`${spec.code}: the score of a withheld stratum is shown`);
        }
      }
      const hidden = cells.filter((c) => c.n === 'withheld');
      withheld += hidden.length;
      const name = `${spec.code}/${String(sSpec?.code)}`;
      const shown = cells.flatMap((c) => (typeof c.n === 'number' ? [{ code: c.code, n: c.n }] : []));
      const small = (n: number) => n > 0 && n < k;
      if (spec.code === 'waiting-days') {
        // Each interval is a part of another group: its total less n is the number without one.
        for (const c of shown) {
          const of = totalOf(report, c.code === 'start-to-first-contact' ? 'inflow' : 'referral-target');
          if (of === 'withheld' && c.n > 0) {
            throw new Error(`${spec.code}/${String(c.code)}: ${c.n} shown beside a withheld total it may equal`);
          }
          if (typeof of === 'number' && small(of - c.n)) {
            throw new Error(`${spec.code}/${String(c.code)}: ${of - c.n} without it`);
          }
        }
      } else if (sSpec?.strata === 'overlapping' && typeof total === 'number') {
        // The strata need not add up, but each one's complement is the number without that category.
        for (const c of shown) {
          if (small(total - c.n)) {
            throw new Error(`${spec.code}/${String(c.code)}: ${total - c.n} without it`);
          }
        }
      } else if (sSpec && sSpec.strata !== 'overlapping' && typeof total === 'number') {
        const rest = total - shown.reduce((a, c) => a + c.n, 0);
        if (hidden.length === 0 && small(rest)) {
          throw new Error(`${name}: ${rest} in no stratum shown, by difference`);
        }
        if (hidden.length > 0) {
          const b = boundsOfWithheld(
            total,
            shown.map((c) => c.n),
            hidden.length,
            sSpec.strata,
          );
          if (b.min >= b.max) {
            throw new Error(`${name}: withheld ${hidden.map((h) => String(h.code)).join(', ')} derivable as ${b.min}`);
          }
        }
      }
    });
  }
  // The open trajectories less the children are the second trajectories of a child: never 1 to k − 1 beside both.
  const children = totalOf(report, 'children');
  const open = totalOf(report, 'help-question');
  if (typeof children === 'number' && typeof open === 'number' && open - children > 0 && open - children < k) {
    throw new Error(`children: ${open - children} trajectories are a second one of a child, by difference`);
  }
  const median = report.group?.find((g) => g.code?.coding?.[0]?.code === 'contacts-median');
  if (median?.measureScore && typeof totalOf(report, 'contacts-per-trajectory') !== 'number') {
    throw new Error('contacts-median: shown beside a withheld total');
  }
  // p of the saving is the closed-without-referral stratum; the score would give p back.
  const saving = report.group?.find((g) => g.code?.coding?.[0]?.code === 'estimated-saving');
  const closed = report.group?.find((g) => g.code?.coding?.[0]?.code === 'closed');
  const positive = closed?.stratifier?.[0]?.stratum?.find(
    (s) => s.value?.coding?.[0]?.code === 'closed-without-referral',
  );
  if (masked(positive?.population?.[0]) && (saving?.measureScore || saving?.population?.[0]?.count !== undefined)) {
    throw new Error('estimated-saving shows p, or a score that gives it back, while the closed stratum is withheld');
  }
  return { withheld, stratifiers };
}
