/**
 * Small-cell suppression with complementary suppression, pure. A count from 1 to k − 1 is withheld (primary), and
 * further cells are withheld until no withheld count can be worked out from the total and the shown cells of its
 * stratifier. Zero is shown: it says nothing about a person.
 *
 * Why the rule suffices: when the cells of a stratifier add up to a shown total, the withheld cells add up to
 * S = total − (shown cells). Every withheld cell is at least 1, so a single withheld cell equals S, and n withheld
 * cells with S = n are all 1. With at least two withheld cells and S > n, each withheld cell can take at least two
 * values, so none is determined. Stratifiers whose cells need not add up to the total (several help questions per
 * trajectory) give no such equation, and primary suppression alone is enough there.
 */

/** Whether a count is withheld on its own: 1 to k − 1. */
export function isSmall(count: number, k: number): boolean {
  return count >= 1 && count < k;
}

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
 * Which cells to withhold, given whether the total is shown and whether the cells add up to it. A total that is
 * itself small withholds every non-zero cell (each is at most the total, so each is small too).
 */
export function withheldCells(
  counts: readonly number[],
  k: number,
  opts: { readonly totalShown: boolean; readonly additive: boolean },
): Suppression {
  const withheld = counts.map((c) => isSmall(c, k));
  if (!opts.totalShown) {
    return { cells: counts.map((c, i) => withheld[i] === true || c > 0), totalWithheld: true };
  }
  if (!opts.additive) {
    return { cells: withheld, totalWithheld: false };
  }
  for (;;) {
    const n = withheld.filter(Boolean).length;
    const sum = counts.reduce((acc, c, i) => (withheld[i] ? acc + c : acc), 0);
    if (n === 0 || (n >= 2 && sum > n)) {
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
 * What an adversary can conclude about each withheld cell of an additive stratifier from the shown total and
 * cells: the smallest and largest value it can have (each withheld cell is at least 1). Used by the tests to try
 * to derive every withheld cell; exported so the rule and its check read side by side.
 */
export function boundsOfWithheld(
  shownTotal: number,
  shownCells: readonly number[],
  withheldCount: number,
): { readonly min: number; readonly max: number } {
  const sum = shownTotal - shownCells.reduce((a, b) => a + b, 0);
  return withheldCount === 1 ? { min: sum, max: sum } : { min: 1, max: sum - (withheldCount - 1) };
}
