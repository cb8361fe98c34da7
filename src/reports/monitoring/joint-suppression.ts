/**
 * Suppression across reports, pure. One report's suppression (suppression.ts) keeps each report safe on its own; a
 * municipality can also ask for overlapping periods and for one practice, and subtract. These rules choose which
 * cells a report must withhold besides its own so that no withheld cell comes back by difference.
 *
 * Across periods. A half-year is its two quarters, a year its two half-years and four quarters. Trajectories
 * started, closed and referrals made are each counted in exactly one quarter, so those counts of a longer period
 * are the sums of its quarters' counts: a cell is shown only when every quarter of the period shows it. Then every
 * figure the longer report shows is a sum of figures its quarters show, and subtracting them tells nothing the
 * quarters do not (H2 − Q3 can no longer give a Q4 cell that Q4 withholds). Trajectories open at some time in the
 * period (help question, intervention) are counted in every quarter they are open in, so the longer period's count
 * is not the sum: besides being withheld when a part withholds it, a cell is withheld when it differs from a part's
 * by 1 to k − 1 (the trajectories of the one part that are not open in the other), or the two halves' cells add up
 * to 1 to k − 1 more than the whole (the trajectories open in both); the same for its complement (total less it).
 *
 * Across practices. A practice's figures and the other practices' add up to the municipality's figures, cell by cell
 * (each trajectory and referral is one practice's). So each cell is suppressed as a partition of the municipality's
 * cell over its practices (complementary suppression included), whatever practice is asked for: a practice's cell is
 * shown only when the municipality's cell less it (the other practices together) gives no small cell back, also when
 * the other reports of the municipality's practices are read beside it.
 *
 * One period's table. The rules above look at one row or one column at a time; cells in different lines can close
 * a cycle (three practices' age bands and the municipality's gave one practice's single 16-17-year-old back).
 * `jointTableMasks` therefore audits the municipality's and every practice's report of a period as one practice ×
 * category table (table-audit.ts) and withholds more until no withheld cell comes out as one value.
 *
 * Limits. Each cell is protected along its periods by the rules above, and each period's table by the audit, which
 * narrows intervals along the sums (no linear programming over all of them at once). Means and medians of a longer
 * period are shown with their counts and are not differenced. Figures change as late registrations come in: a
 * report read before and one read after a registration differ by it, whatever the periods (the audit trail shows
 * who asked what, when).
 */
import type { BuiltFigures, Figures, ForcedCells, GroupCells } from './measure-report';
import { GROUPS, type GroupCode } from './measure';
import { isSmall, withheldCells } from './suppression';
import { auditTable, forcedCell, type AuditOptions } from './table-audit';

/** Groups whose units are counted in every quarter they are open in, so a period's count is not its parts' sum. */
export function isOpenInPeriod(code: GroupCode): boolean {
  const spec = GROUPS.find((g) => g.code === code);
  return spec?.openInPeriod === true || (spec?.stratifiers.some((s) => s.strata === 'overlapping') ?? false);
}

/** The same cells as `of`, each from `cell(value, where)`; `where` is undefined for the total. */
function mapCells<T>(
  of: GroupCells<number>,
  cell: (value: number, where: readonly [number, number] | undefined) => T,
): GroupCells<T> {
  return {
    total: cell(of.total, undefined),
    strata: of.strata.map((values, i) => values.map((v, j) => cell(v, [i, j]))),
  };
}

const at = <T>(cells: GroupCells<T> | undefined, where: readonly [number, number] | undefined): T | undefined =>
  where ? cells?.strata[where[0]]?.[where[1]] : cells?.total;

/**
 * The cells a longer period's report must withhold because of its parts' reports (a half-year's quarters; a year's
 * half-years and quarters). `halves` are the two parts that make up the whole, each a report of its own.
 */
export function acrossPeriods(
  k: number,
  whole: Figures,
  parts: readonly BuiltFigures[],
  halves: readonly [BuiltFigures, BuiltFigures],
): ForcedCells {
  const forced = new Map<GroupCode, GroupCells<boolean>>();
  for (const [code, cells] of whole) {
    const open = isOpenInPeriod(code);
    forced.set(
      code,
      mapCells(cells, (_value, where) => {
        if (parts.some((p) => at(p.withheld.get(code), where) === true)) {
          return true;
        }
        if (!open) {
          return false;
        }
        // The cell itself, and for a stratum its complement (the open trajectories without that category).
        const valueOf = (f: Figures) => at(f.get(code), where) ?? 0;
        const complementOf = (f: Figures) => (f.get(code)?.total ?? 0) - valueOf(f);
        return [valueOf, ...(where ? [complementOf] : [])].some((of) => {
          const mine = of(whole);
          return (
            parts.some((p) => isSmall(mine - of(p.figures), k)) ||
            isSmall(of(halves[0].figures) + of(halves[1].figures) - mine, k)
          );
        });
      }),
    );
  }
  return forced;
}

/**
 * The cells one practice's report must withhold so that the municipality's report less it (the other practices
 * together) gives nothing back: each cell, over all practices with the rest (figures of no practice listed) as
 * one more, is suppressed as a partition of the municipality's cell, the cells the practices' reports withhold
 * (`withheld`) counting as withheld and the rest, never shown, too. Where the municipality withholds the cell, the
 * practices' cells must not add up to it: a practice's cell is shown (when not small) only while another practice's
 * non-zero cell is withheld, or there is a rest, so the sum stays unknown. `jointPracticeMasks` applies this to
 * every practice until their reports agree.
 */
export function acrossPractices(
  k: number,
  practice: number,
  practices: readonly { readonly figures: Figures; readonly withheld: ForcedCells }[],
  municipality: BuiltFigures,
): ForcedCells {
  const forced = new Map<GroupCode, GroupCells<boolean>>();
  for (const [code, cells] of municipality.figures) {
    forced.set(
      code,
      mapCells(cells, (whole, where) => {
        const values = practices.map((p) => at(p.figures.get(code), where) ?? 0);
        const hidden = practices.map((p) => at(p.withheld.get(code), where) === true);
        const rest = whole - values.reduce((a, b) => a + b, 0);
        if (at(municipality.withheld.get(code), where) === true) {
          const unknownElsewhere =
            rest > 0 || practices.some((_, i) => i !== practice && (values[i] ?? 0) > 0 && hidden[i] === true);
          return isSmall(values[practice] ?? 0, k) || !unknownElsewhere;
        }
        const { cells: withheld } = withheldCells([...values, rest], k, {
          totalShown: true,
          strata: 'partition',
          total: whole,
          forced: [...hidden, true],
        });
        return withheld[practice] === true;
      }),
    );
  }
  return forced;
}

/**
 * Every practice's report of one period, suppressed together: each practice's own suppression (its strata) and
 * `acrossPractices` (its practices) in turn, until neither withholds more. A cell one report withholds to protect
 * its strata is then protected along the practices too, and the other way round. `build` makes a practice's report
 * with the cells given forced; `forcedBefore` are a practice's cells forced already (by its quarters).
 */
export function jointPracticeMasks<T extends { readonly forcedBefore: ForcedCells }, R extends BuiltFigures>(
  k: number,
  practices: readonly T[],
  municipality: BuiltFigures,
  build: (practice: T, forced: ForcedCells) => R,
): R[] {
  let forced = practices.map((p) => p.forcedBefore);
  let built = practices.map((p) => build(p, p.forcedBefore));
  // Withheld cells only grow, so this ends; the bound is a guard against a rule that would not.
  for (let round = 0; round < 50; round++) {
    const shown = built.map((b) => ({ figures: b.figures, withheld: b.withheld }));
    const next = forced.map((f, i) => eitherWithheld(f, acrossPractices(k, i, shown, municipality)));
    const rebuilt = practices.map((p, i) => build(p, next[i] ?? p.forcedBefore));
    const grew = rebuilt.some((b, i) => countWithheld(b.withheld) !== countWithheld(built[i]?.withheld ?? new Map()));
    built = rebuilt;
    forced = next;
    if (!grew) {
      break;
    }
  }
  return built;
}

/** The most rounds by default: each withholds at least one more shown cell; a table that needs more fails closed. */
export const TABLE_ROUNDS = 1000;

/** Why a table's groups were withheld whole (no personal data: group codes and a reason). */
export interface FailedClosed {
  readonly groups: readonly GroupCode[];
  readonly reason: 'no cell to withhold' | 'sweeps' | 'rounds';
}

/** `jointTableMasks`' limits and choices; the defaults are the product's. */
export interface TableOptions extends AuditOptions {
  readonly rounds?: number;
  /** Told when the audit could not make the table safe and groups were withheld whole (to log a warning). */
  readonly onFailClosed?: (failed: FailedClosed) => void;
}

/** Every cell of `groups`, in `figures`' shape. */
function wholeGroups(figures: BuiltFigures['figures'], groups: readonly GroupCode[]): ForcedCells {
  return new Map(
    groups.flatMap((code) => {
      const cells = figures.get(code);
      return cells ? [[code, mapCells(cells, () => true)] as const] : [];
    }),
  );
}

/**
 * One period's reports, suppressed as one table (table-audit.ts): the municipality's report is the margin of its
 * practices' reports. Each round builds the municipality's report and its practices' (`jointPracticeMasks`), audits
 * the table's intervals, and withholds a shown cell beside each withheld cell that came out exactly (in whichever
 * report holds it, the municipality's too), until none does. Every report the caller can ask for of this period is
 * then one of these, all consistent with this one decision. Fails closed: when the audit cannot make a group safe
 * (no cell it may withhold, its sweeps or the rounds run out), that group is withheld whole in every report of the
 * table, and, should the audit still find anything, every group; never is an unaudited table returned.
 */
export function jointTableMasks<T extends { readonly forcedBefore: ForcedCells }, R extends BuiltFigures>(
  k: number,
  municipality: T,
  practices: readonly T[],
  build: (entry: T, forced: ForcedCells) => R,
  options: TableOptions = {},
): { readonly municipality: R; readonly practices: R[] } {
  let extra: ForcedCells[] = [municipality, ...practices].map(() => new Map());
  const withExtra = (e: T, i: number): T => ({
    ...e,
    forcedBefore: eitherWithheld(e.forcedBefore, extra[i] ?? new Map()),
  });
  const buildAll = () => {
    const margin = build(municipality, withExtra(municipality, 0).forcedBefore);
    const rows = jointPracticeMasks(
      k,
      practices.map((p, i) => withExtra(p, i + 1)),
      margin,
      build,
    );
    return { margin, rows };
  };
  const rounds = options.rounds ?? TABLE_ROUNDS;
  for (let round = 0; ; round++) {
    const { margin, rows } = buildAll();
    const audit = auditTable(k, margin, rows, options);
    if (audit.force.length === 0 && audit.failed.length === 0) {
      return { municipality: margin, practices: rows };
    }
    if (audit.failed.length > 0 || round >= rounds) {
      let failed: FailedClosed = {
        groups: audit.failed.length > 0 ? audit.failed : [...new Set(audit.force.map((c) => c.code))],
        reason: audit.reason ?? 'rounds',
      };
      extra = extra.map((e) => eitherWithheld(e, wholeGroups(margin.figures, failed.groups)));
      let table = buildAll();
      const again = auditTable(k, table.margin, table.rows, { sweeps: options.sweeps });
      if (again.force.length > 0 || again.failed.length > 0) {
        failed = { ...failed, groups: [...margin.figures.keys()] };
        extra = extra.map((e) => eitherWithheld(e, wholeGroups(margin.figures, failed.groups)));
        table = buildAll();
      }
      options.onFailClosed?.(failed);
      return { municipality: table.margin, practices: table.rows };
    }
    extra = extra.map((e, i) =>
      audit.force
        .filter((c) => (c.row === 'municipality' ? 0 : typeof c.row === 'number' ? c.row + 1 : -1) === i)
        .reduce((acc, c) => eitherWithheld(acc, forcedCell(margin.figures, c)), e),
    );
  }
}

function countWithheld(cells: ForcedCells): number {
  let n = 0;
  for (const g of cells.values()) {
    n += (g.total ? 1 : 0) + g.strata.flat().filter(Boolean).length;
  }
  return n;
}

/** Both sets of cells to withhold: a cell either withholds. */
export function eitherWithheld(a: ForcedCells, b: ForcedCells): ForcedCells {
  const merged = new Map(a);
  for (const [code, cells] of b) {
    const mine = merged.get(code);
    merged.set(
      code,
      mine
        ? {
            total: mine.total || cells.total,
            strata: cells.strata.map((row, i) => row.map((w, j) => w || mine.strata[i]?.[j] === true)),
          }
        : cells,
    );
  }
  return merged;
}
