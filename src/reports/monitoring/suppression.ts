/**
 * Small-cell suppression with complementary suppression, pure. A count from 1 to k − 1 is withheld (primary), and
 * further cells are withheld until no withheld count, and no count the report leaves implied, can be worked out
 * from the total and the shown cells of its stratifier. Zero is shown beside a shown total: it says nothing about a
 * person. Beside a withheld total it is withheld too (it would tell what everyone in that total has in common).
 *
 * What can be worked out depends on how the strata relate to the total (`StrataKind`):
 * - `partition` (each unit in exactly one stratum): the withheld cells add up to S = total − (shown cells). Every
 *   withheld cell is at least 1, so a single withheld cell equals S, and n withheld cells with S = n are all 1.
 *   With at least two withheld cells and S > n, each can take at least two values, so none is determined.
 * - `part` (each unit in at most one stratum; the rest, in none, is not shown): S = total − (shown cells) is the
 *   withheld cells plus the rest. With no cell withheld S is the rest itself, so it must be 0 or at least k. With n
 *   withheld cells the rest (at least 0) is one more unknown: a withheld cell is determined only when S = n.
 * - `overlapping` (a unit may be in several strata: several help questions per trajectory): the strata need not add
 *   up, so total − (shown cells) counts no one in particular and nothing follows from the strata together. Each
 *   stratum has a complement of its own, though: total − (the stratum) is the number without that category (9
 *   trajectories, 8 with psycho-education: 1 without). A stratum whose complement is 1 to k − 1 is withheld, and
 *   then its count could be small or near the total, which does not tell which.
 */

/** Whether a count is withheld on its own: 1 to k − 1. */
export function isSmall(count: number, k: number): boolean {
  return count >= 1 && count < k;
}

/** How a stratifier's strata relate to its group's total; see the file's comment for what each lets one derive. */
export type StrataKind = 'partition' | 'part' | 'overlapping';

/** Which cells to withhold, and whether the total must be withheld as well. */
export interface Suppression {
  readonly cells: boolean[];
  /**
   * True when even withholding every non-zero cell leaves them derivable from the total (all of them 1): the total
   * has to go too, and with it the other stratifiers of the same total are suppressed as if it were small.
   */
  readonly totalWithheld: boolean;
}

/**
 * How the cells relate to the total, and the total. A `partition`'s total is its cells' sum unless given; given, a
 * count outside the code list (which the sum would miss) is protected as the rest of a `part` is.
 */
export type StrataOf =
  | { readonly strata: 'partition'; readonly total?: number | undefined }
  | { readonly strata: 'part' | 'overlapping'; readonly total: number };

/**
 * Which cells to withhold, given whether the total is shown and how the strata relate to it. A withheld total
 * withholds every cell, zeros too: each non-zero cell is at most the total, so small too, and the zeros beside it
 * would say what everyone in it has in common (closed: withheld, escalated 0, unknown 0 says every closure was
 * positive). `forced` cells are withheld whatever their count, as a small one is (another period's or practice's
 * report withholds them), and the cells around them are withheld as around a small one.
 */
export function withheldCells(
  counts: readonly number[],
  k: number,
  opts: { readonly totalShown: boolean; readonly forced?: readonly boolean[] | undefined } & StrataOf,
): Suppression {
  const withheld = counts.map((c, i) => isSmall(c, k) || (opts.forced?.[i] === true && c > 0));
  if (!opts.totalShown) {
    return { cells: counts.map(() => true), totalWithheld: true };
  }
  if (opts.strata === 'overlapping') {
    const total = opts.total;
    return { cells: counts.map((c, i) => withheld[i] === true || isSmall(total - c, k)), totalWithheld: false };
  }
  const total = opts.total ?? counts.reduce((a, b) => a + b, 0);
  // The unknowns besides the withheld cells: none for a partition, the rest (at least 0) for a part.
  const others = opts.strata === 'part' ? 1 : 0;
  for (;;) {
    const n = withheld.filter(Boolean).length;
    const rest = total - counts.reduce((acc, c, i) => (withheld[i] ? acc : acc + c), 0);
    const safe = n === 0 ? rest === 0 || rest >= k : n + others >= 2 && rest > n;
    if (safe) {
      return { cells: withheld, totalWithheld: false };
    }
    // Withhold the smallest shown non-zero cell as well: it hides the most for the least information lost.
    let pick = -1;
    counts.forEach((c, i) => {
      if (!withheld[i] && c > 0 && (pick < 0 || c < (counts[pick] ?? 0))) {
        pick = i;
      }
    });
    if (pick < 0) {
      return { cells: counts.map((c, i) => withheld[i] === true || c > 0), totalWithheld: true };
    }
    withheld[pick] = true;
  }
}

/**
 * What an adversary can conclude about each withheld cell of a `partition` or `part` stratifier from the shown
 * total and cells: the smallest and largest value it can have (each withheld cell is at least 1; the rest of a
 * `part`, at least 0, shares the difference with them). Used by the tests to try to derive every withheld cell;
 * exported so the rule and its check read side by side.
 */
export function boundsOfWithheld(
  shownTotal: number,
  shownCells: readonly number[],
  withheldCount: number,
  strata: 'partition' | 'part' = 'partition',
): { readonly min: number; readonly max: number } {
  const sum = shownTotal - shownCells.reduce((a, b) => a + b, 0);
  return withheldCount === 1 && strata === 'partition'
    ? { min: sum, max: sum }
    : { min: 1, max: sum - (withheldCount - 1) };
}
