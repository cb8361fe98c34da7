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

/** Every count cell of a report's group `code`: its total (`total`) and each stratum (`i/code`); undefined when withheld. */
export function cellsByName(report: MeasureReport, code: string): Map<string, number | undefined> {
  const g = report.group?.find((x) => x.code?.coding?.[0]?.code === code);
  const cells = new Map<string, number | undefined>([['total', g?.population?.[0]?.count]]);
  (g?.stratifier ?? []).forEach((s, i) =>
    (s.stratum ?? []).forEach((st) =>
      cells.set(`${i}/${st.value?.coding?.[0]?.code ?? ''}`, st.population?.[0]?.count),
    ),
  );
  return cells;
}

/** The ways to write n as an ordered sum of `parts` counts of at least 1 each (at most `limit` of them). */
function compositions(n: number, parts: number, limit: number): number[][] | undefined {
  const out: number[][] = [];
  const walk = (left: number, k: number, acc: number[]): boolean => {
    if (k === 0) {
      if (left === 0) {
        out.push([...acc]);
      }
      return out.length <= limit;
    }
    for (let v = 1; v <= left - (k - 1); v++) {
      if (!walk(left - v, k - 1, [...acc, v])) {
        return false;
      }
    }
    return true;
  };
  return walk(n, parts, []) ? out : undefined;
}

/**
 * Plays the adversary across practices (xpolicy H1, after the tester's xpolicy-attack2d.py): one period's
 * municipality report and every practice's report, read as one practice × category table per `partition`
 * stratifier whose practices' totals are shown. Every assignment of the practices' withheld cells (each at least 1,
 * together the practice's total less its shown cells) is tried against the municipality's cells (a shown one is
 * the practices' sum, a withheld one at least 1). Returns each withheld cell, of a practice or of the municipality,
 * that has one possible value only (`period group/stratum practice = value`); empty when none. `tried` counts the
 * tables it could enumerate, so a test can assert that there was something to try.
 */
export function deriveAcrossPractices(
  municipality: MeasureReport,
  practices: ReadonlyMap<string, MeasureReport>,
  limit = 200_000,
): { derived: string[]; tried: number } {
  const derived: string[] = [];
  let tried = 0;
  const label = `${municipality.period?.start ?? ''}..${municipality.period?.end ?? ''}`;
  for (const spec of GROUPS) {
    spec.stratifiers.forEach((sSpec, si) => {
      if (sSpec.strata !== 'partition') {
        return;
      }
      const mun = cellsByName(municipality, spec.code);
      const names = sSpec.codes.map((c) => `${si}/${c}`);
      const rows = [...practices].map(([agb, r]) => ({ agb, cells: cellsByName(r, spec.code) }));
      if (rows.some((r) => r.cells.get('total') === undefined) || names.some((n) => !mun.has(n))) {
        return;
      }
      const per = rows.map((r) => {
        const hidden = names.filter((n) => r.cells.get(n) === undefined);
        const shownSum = names.reduce((a, n) => a + (r.cells.get(n) ?? 0), 0);
        return { ...r, hidden, ways: compositions((r.cells.get('total') ?? 0) - shownSum, hidden.length, limit) };
      });
      if (per.some((p) => p.ways === undefined) || per.reduce((a, p) => a * (p.ways?.length ?? 1), 1) > limit) {
        return;
      }
      tried++;
      const possible = new Map<string, Set<number>>();
      const note = (key: string, v: number) => possible.set(key, (possible.get(key) ?? new Set()).add(v));
      const choose = (i: number, chosen: Map<string, number>[]): void => {
        if (i < per.length) {
          for (const way of per[i]?.ways ?? []) {
            choose(i + 1, [...chosen, new Map(per[i]?.hidden.map((n, j) => [n, way[j] ?? 0]))]);
          }
          return;
        }
        const sums = names.map((n) => per.reduce((a, p, j) => a + (p.cells.get(n) ?? chosen[j]?.get(n) ?? 0), 0));
        const fits = names.every((n, j) => {
          const m = mun.get(n);
          return m === undefined ? (sums[j] ?? 0) >= 1 : m === sums[j];
        });
        if (!fits) {
          return;
        }
        per.forEach((p, j) => p.hidden.forEach((n) => note(`${n} ${p.agb}`, chosen[j]?.get(n) ?? 0)));
        names.forEach((n, j) => mun.get(n) === undefined && note(`${n} all`, sums[j] ?? 0));
      };
      choose(0, []);
      for (const [key, values] of possible) {
        if (values.size === 1) {
          derived.push(`${label} ${spec.code}/${key} = ${[...values][0] ?? ''}`);
        }
      }
    });
  }
  return { derived, tried };
}
