/**
 * The interval audit of one period's reports read together, pure. The municipality's report and each practice's
 * report of a period are the rows of one table per group (practice × category, the municipality's report as its
 * margin row, and the figures of no practice listed as one more row that is never shown). Its cells are tied by
 * sums: down each column the practices add up to the municipality, and along each row the strata add up to the
 * total as their kind says (suppression.ts `StrataKind`: a `partition`'s strata are the total, a `part`'s with a
 * rest that is not shown, an `overlapping` stratum with its complement; a waiting interval with the trajectories
 * without one; the children with the second trajectories of a child).
 *
 * The adversary knows every shown cell, that a withheld count (beside a shown total) is at least 1, and every sum.
 * `intervalsOf` narrows each unknown cell's interval by those sums until nothing changes (each sum bounds each of
 * its terms by the others' bounds: no linear programming, the row and column bounds iterated to a fixpoint, which
 * is what the tester's attack did). `exposedCells` names the withheld cells whose interval is a single value, and
 * the cells never shown (a rest, a complement) that are 1 to k − 1 and come out exactly; `cellsToForce` chooses a
 * shown cell beside each to withhold as well (complementary suppression on the whole table).
 *
 * Limit: propagating bounds can leave an interval wider than linear programming over all sums at once would; a
 * cell that only an LP (or an enumeration of every integer solution) pins down is not found by this audit.
 */
import type { BuiltFigures, ForcedCells, GroupCells } from './measure-report';
import { GROUPS, type GroupCode } from './measure';
import { isSmall } from './suppression';

/** A row of the table: the municipality, a practice (its index), or the figures of no practice listed. */
export type Row = 'municipality' | number | 'rest';

/** A cell of one report: its group and where in it (undefined: the total; else stratifier and stratum). */
export interface CellRef {
  readonly row: Row;
  readonly code: GroupCode;
  readonly where: readonly [number, number] | undefined;
}

interface Unknown {
  readonly value: number;
  /** Shown in its report (the rest row: see `tableSystem`). */
  readonly known: boolean;
  readonly lb: number;
  /** Must not come out as one value. */
  readonly protect: boolean;
  /** A cell a report shows or withholds (not a rest or complement nobody shows). */
  readonly cell?: CellRef | undefined;
}

interface Sum {
  readonly whole: string;
  readonly parts: readonly string[];
}

/** The unknowns (every cell and every implied count of every row) and the sums that tie them. */
export interface TableSystem {
  readonly unknowns: ReadonlyMap<string, Unknown>;
  readonly sums: readonly Sum[];
}

const keyOf = (row: Row, code: string, at: string): string => `${String(row)}|${code}|${at}`;
const whereKey = (where: readonly [number, number] | undefined): string => (where ? `${where[0]}.${where[1]}` : 't');

/** The waiting intervals are parts of these groups' totals, in the order of their stratum. */
const WAITING_OF: readonly GroupCode[] = ['inflow', 'referral-target'];

/**
 * The table of one period: `municipality` is the margin row, `practices` the practices' rows. The rest row (the
 * municipality less its practices) is known where it is 0.
 */
export function tableSystem(k: number, municipality: BuiltFigures, practices: readonly BuiltFigures[]): TableSystem {
  const unknowns = new Map<string, Unknown>();
  const sums: Sum[] = [];
  const rows: Row[] = ['municipality', ...practices.map((_, i) => i), 'rest'];
  const reportOf = (row: Row): BuiltFigures | undefined =>
    row === 'municipality' ? municipality : row === 'rest' ? undefined : practices[row];
  /** A cell's count: the rest's is the municipality's less the practices'. */
  const valueAt = (row: Row, code: GroupCode, where: readonly [number, number] | undefined): number => {
    const of = (f: BuiltFigures | undefined) => {
      const cells = f?.figures.get(code);
      return (where ? cells?.strata[where[0]]?.[where[1]] : cells?.total) ?? 0;
    };
    return row === 'rest' ? of(municipality) - practices.reduce((a, p) => a + of(p), 0) : of(reportOf(row));
  };
  const isWithheld = (row: Row, code: GroupCode, where: readonly [number, number] | undefined): boolean => {
    const cells = reportOf(row)?.withheld.get(code);
    return (where ? cells?.strata[where[0]]?.[where[1]] : cells?.total) === true;
  };
  /** Adds the unknown at `at` of every row and its column's sum: a total, a stratum `cell`, else a count not shown. */
  const column = (code: GroupCode, at: string, valueOf: (row: Row) => number, cell?: readonly [number, number]) => {
    const where = at === 't' ? undefined : cell;
    for (const row of rows) {
      const value = valueOf(row);
      if (row === 'rest') {
        // At least 0, or what it is: the municipality's and practices' counts are separate reads, and one can see a
        // registration the other did not (then the rest is -1, and the sums still hold for the true values). Known
        // where it is 0: anyone who knows the practices assumes no figures of another.
        unknowns.set(keyOf(row, code, at), {
          value,
          known: value === 0,
          lb: Math.min(0, value),
          protect: isSmall(value, k),
        });
      } else if (cell !== undefined || at === 't') {
        const known = !isWithheld(row, code, where);
        unknowns.set(keyOf(row, code, at), {
          value,
          known,
          lb: known ? value : Math.min(1, value),
          protect: !known && value > 0,
          cell: { row, code, where },
        });
      } else {
        unknowns.set(keyOf(row, code, at), { value, known: false, lb: Math.min(0, value), protect: isSmall(value, k) });
      }
    }
    sums.push({
      whole: keyOf('municipality', code, at),
      parts: rows.filter((r) => r !== 'municipality').map((r) => keyOf(r, code, at)),
    });
  };
  const along = (whole: (row: Row) => string, parts: (row: Row) => string[]) =>
    rows.forEach((row) => sums.push({ whole: whole(row), parts: parts(row) }));
  for (const spec of GROUPS) {
    if (!municipality.figures.has(spec.code)) {
      continue;
    }
    const code = spec.code;
    const total = (row: Row) => valueAt(row, code, undefined);
    if (code !== 'waiting-days') {
      column(code, 't', total);
    }
    spec.stratifiers.forEach((s, i) => {
      const cells = s.codes.map((_, j) => [i, j] as const);
      for (const where of cells) {
        column(code, whereKey(where), (row) => valueAt(row, code, where), where);
      }
      if (code === 'waiting-days') {
        cells.forEach((where, j) => {
          const of = WAITING_OF[j] ?? 'inflow';
          const at = `w${j}`;
          column(code, at, (row) => valueAt(row, of, undefined) - valueAt(row, code, where));
          along(
            (row) => keyOf(row, of, 't'),
            (row) => [keyOf(row, code, whereKey(where)), keyOf(row, code, at)],
          );
        });
      } else if (s.strata === 'overlapping') {
        for (const where of cells) {
          const at = `c${whereKey(where)}`;
          column(code, at, (row) => total(row) - valueAt(row, code, where));
          along(
            (row) => keyOf(row, code, 't'),
            (row) => [keyOf(row, code, whereKey(where)), keyOf(row, code, at)],
          );
        }
      } else {
        const rest = `r${i}`;
        if (s.strata === 'part') {
          column(code, rest, (row) => total(row) - cells.reduce((a, w) => a + valueAt(row, code, w), 0));
        }
        along(
          (row) => keyOf(row, code, 't'),
          (row) => [
            ...cells.map((w) => keyOf(row, code, whereKey(w))),
            ...(s.strata === 'part' ? [keyOf(row, code, rest)] : []),
          ],
        );
      }
    });
  }
  // The open trajectories are the children plus the second (third, …) trajectories of a child; help questions and
  // interventions are counted over the same open trajectories.
  if (municipality.figures.has('children') && municipality.figures.has('help-question')) {
    column(
      'children',
      'repeated',
      (row) => valueAt(row, 'help-question', undefined) - valueAt(row, 'children', undefined),
    );
    along(
      (row) => keyOf(row, 'help-question', 't'),
      (row) => [keyOf(row, 'children', 't'), keyOf(row, 'children', 'repeated')],
    );
  }
  if (municipality.figures.has('intervention') && municipality.figures.has('help-question')) {
    along(
      (row) => keyOf(row, 'help-question', 't'),
      (row) => [keyOf(row, 'intervention', 't')],
    );
  }
  return { unknowns, sums };
}

/** How many sweeps over the sums at most, by default; a table that needs more is not audited (`narrowed`). */
export const SWEEPS = 500;

/** Each unknown's interval after narrowing by every sum until nothing changes (see `narrowed`). */
export function intervalsOf(system: TableSystem, sweeps = SWEEPS): Map<string, { lo: number; hi: number }> {
  return narrowed(system, sweeps).bounds;
}

/**
 * Each unknown's interval after narrowing by every sum, and whether nothing changed any more within `sweeps`
 * sweeps: when not, the bounds are sound but perhaps wider than the adversary's fixpoint, and a cell the fixpoint
 * pins down may look safe, so the table counts as not audited.
 */
export function narrowed(
  system: TableSystem,
  sweeps = SWEEPS,
): { readonly bounds: Map<string, { lo: number; hi: number }>; readonly converged: boolean } {
  const keys = [...system.unknowns.keys()];
  const index = new Map(keys.map((key, i) => [key, i]));
  const lo = new Float64Array(keys.length);
  const hi = new Float64Array(keys.length);
  keys.forEach((key, i) => {
    const u = system.unknowns.get(key);
    lo[i] = u?.known ? u.value : (u?.lb ?? 0);
    hi[i] = u?.known ? u.value : Number.POSITIVE_INFINITY;
  });
  const sums = system.sums.map((s) => ({
    whole: index.get(s.whole) ?? -1,
    parts: s.parts.map((p) => index.get(p) ?? -1),
  }));
  const narrow = (i: number, low: number, high: number): boolean => {
    const [l, h] = [lo[i] ?? 0, hi[i] ?? 0];
    if (low <= l && high >= h) {
      return false;
    }
    lo[i] = Math.max(l, low);
    hi[i] = Math.min(h, high);
    return true;
  };
  let converged = false;
  for (let sweep = 0; sweep < sweeps; sweep++) {
    let changed = false;
    for (const { whole, parts } of sums) {
      let partsLo = 0;
      let partsHi = 0;
      let unbounded = 0;
      for (const p of parts) {
        partsLo += lo[p] ?? 0;
        const h = hi[p] ?? 0;
        if (h === Number.POSITIVE_INFINITY) {
          unbounded++;
        } else {
          partsHi += h;
        }
      }
      changed = narrow(whole, partsLo, unbounded > 0 ? Number.POSITIVE_INFINITY : partsHi) || changed;
      const [wLo, wHi] = [lo[whole] ?? 0, hi[whole] ?? 0];
      for (const p of parts) {
        // The others' bounds: the parts' sums less this part's own (an unbounded part leaves the others unbounded).
        const h = hi[p] ?? 0;
        const own = h === Number.POSITIVE_INFINITY;
        const othersHi = unbounded - (own ? 1 : 0) > 0 ? Number.POSITIVE_INFINITY : partsHi - (own ? 0 : h);
        changed = narrow(p, wLo - othersHi, wHi - (partsLo - (lo[p] ?? 0))) || changed;
      }
    }
    if (!changed) {
      converged = true;
      break;
    }
  }
  return { bounds: new Map(keys.map((key, i) => [key, { lo: lo[i] ?? 0, hi: hi[i] ?? 0 }])), converged };
}

/** The unknowns that must not come out as one value and do. */
export function exposedCells(system: TableSystem, bounds = intervalsOf(system)): string[] {
  return [...system.unknowns].flatMap(([key, u]) => {
    const b = bounds.get(key);
    return u.protect && !u.known && b && b.lo === b.hi ? [key] : [];
  });
}

/** What the audit of one table asks for: cells to withhold next, or groups it could not make safe. */
export interface TableAudit {
  /** The shown cells to withhold next (none: nothing comes out, or `failed` names what does). */
  readonly force: CellRef[];
  /**
   * The groups the audit could not make safe: a withheld cell comes out and no cell it may withhold covers it, or
   * the narrowing did not end within its sweeps (then every group: a cell may come out unseen). The caller withholds
   * these groups whole; never publishes the table as it is.
   */
  readonly failed: GroupCode[];
  readonly reason?: 'no cell to withhold' | 'sweeps';
}

/** The limits and choices of one audit; the defaults are the product's. */
export interface AuditOptions {
  readonly sweeps?: number;
  /** Whether the audit may withhold this shown cell (a longer period's: not one its quarters show, rev-late1 1). */
  readonly mayForce?: (cell: CellRef) => boolean;
}

/**
 * The shown cell to withhold next so that fewer cells come out (none: nothing comes out). For the first exposed
 * unknown, a shown non-zero stratum of a sum it is in; failing that, one of a sum that another unknown of those sums
 * is in (the column of its row's other withheld cell); only then a total, or a stratum that is all of its total,
 * which withhold the whole row of the group (one report's rule finds nothing else to withhold beside it). Among
 * those the smallest, a practice's before the municipality's (whose figures are the ones most read); failing all,
 * the smallest shown cell of its group in any row. One cell per round: withholding it often covers the other
 * exposed cells too, and the audit is run again. An exposed cell with none of those (`mayForce` allowing) fails its
 * group; a narrowing that did not end fails every group.
 */
export function auditTable(
  k: number,
  municipality: BuiltFigures,
  practices: readonly BuiltFigures[],
  options: AuditOptions = {},
): TableAudit {
  const system = tableSystem(k, municipality, practices);
  const { bounds, converged } = narrowed(system, options.sweeps);
  if (!converged) {
    return { force: [], failed: [...municipality.figures.keys()], reason: 'sweeps' };
  }
  const mayForce = options.mayForce ?? (() => true);
  const sumsOf = new Map<string, Sum[]>();
  for (const s of system.sums) {
    for (const key of [s.whole, ...s.parts]) {
      const known = sumsOf.get(key);
      if (known) {
        known.push(s);
      } else {
        sumsOf.set(key, [s]);
      }
    }
  }
  const membersOf = (keys: readonly string[]) => [
    ...new Set(keys.flatMap((key) => (sumsOf.get(key) ?? []).flatMap((s) => [s.whole, ...s.parts]))),
  ];
  /** A stratum that is all of its row's total withholds the total with it (nothing else to withhold beside it). */
  const wholeRow = (u: Unknown) =>
    u.cell?.where === undefined || u.value === system.unknowns.get(keyOf(u.cell.row, u.cell.code, 't'))?.value;
  const candidates = (keys: readonly string[], strata: boolean) =>
    keys.flatMap((key) => {
      const u = system.unknowns.get(key);
      return u?.cell && u.known && u.value > 0 && wholeRow(u) !== strata && mayForce(u.cell)
        ? [{ key, cell: u.cell, value: u.value }]
        : [];
    });
  const smallest = (found: { key: string; cell: CellRef; value: number }[]) =>
    found.sort(
      (a, b) => a.value - b.value || Number(a.cell.row === 'municipality') - Number(b.cell.row === 'municipality'),
    )[0];
  const failed = new Set<GroupCode>();
  for (const key of exposedCells(system, bounds)) {
    const near = membersOf([key]);
    const further = membersOf(near.filter((n) => system.unknowns.get(n)?.known === false));
    const group = key.split('|')[1] ?? '';
    const ofGroup = () => [...system.unknowns.keys()].filter((n) => n.split('|')[1] === group);
    const pick =
      smallest(candidates(near, true)) ??
      smallest(candidates(further, true)) ??
      smallest(candidates(near, false)) ??
      smallest(candidates(further, false)) ??
      smallest(candidates(ofGroup(), true)) ??
      smallest(candidates(ofGroup(), false));
    if (pick) {
      return { force: [pick.cell], failed: [] };
    }
    failed.add(group as GroupCode);
  }
  return failed.size > 0
    ? { force: [], failed: [...failed], reason: 'no cell to withhold' }
    : { force: [], failed: [] };
}

/** `auditTable`'s cells to withhold next. */
export function cellsToForce(k: number, municipality: BuiltFigures, practices: readonly BuiltFigures[]): CellRef[] {
  return auditTable(k, municipality, practices).force;
}

/** The cells of `figures`' shape with only `cell` withheld, to merge into a report's forced cells. */
export function forcedCell(figures: BuiltFigures['figures'], cell: CellRef): ForcedCells {
  const cells = figures.get(cell.code);
  const one: GroupCells<boolean> = {
    total: cell.where === undefined,
    strata: (cells?.strata ?? []).map((row, i) =>
      row.map((_, j) => cell.where !== undefined && cell.where[0] === i && cell.where[1] === j),
    ),
  };
  return new Map([[cell.code, one]]);
}
