/**
 * Keyset paging of a list shown newest first: a page starts after the last row of the one before (by the list's sort
 * key, whose last column is unique), so the hundredth page costs what the first does, and rows added meanwhile never
 * shift a page along (OFFSET would). The lists of the reports (`time-id-page.ts`: by time and id) and the audit
 * chains' integrity history (by its row id) page this way.
 */

/** Which way a page goes from its cursor: to older rows (the next page) or back to newer ones. */
export type PageDirection = 'older' | 'newer';

/** One page, newest first, with the cursors of its neighbours when there are any. */
export interface KeysetPage<T, C> {
  readonly rows: T[];
  readonly older?: C | undefined;
  readonly newer?: C | undefined;
}

/**
 * The condition and order that read one page from a cursor going `direction` (none: the first page): newest first,
 * or, going back to newer rows, oldest first (`keysetPage` turns those around). `columns`: the sort key, newest
 * first by all of them, the last unique; `values`: the cursor's values of them, as SQL (placeholders). Read
 * `size + 1` rows, to know whether there is more.
 */
export function keysetOrder(
  direction: PageDirection | undefined,
  columns: readonly string[],
  values: readonly string[] | undefined,
): { where: string; orderBy: string } {
  const newer = direction === 'newer';
  const dir = newer ? 'ASC' : 'DESC';
  const where =
    direction !== undefined && values !== undefined
      ? `(${columns.join(', ')}) ${newer ? '>' : '<'} (${values.join(', ')})`
      : 'TRUE';
  return { where, orderBy: columns.map((c) => `${c} ${dir}`).join(', ') };
}

/**
 * The `size + 1` rows `keysetOrder` read from `cursor` (none: the first page), as a page newest first with its
 * neighbours' cursors; `cursorAt`: the cursor of a row, going `direction` from it.
 */
export function keysetPage<T, C>(
  read: readonly T[],
  size: number,
  cursor: { readonly direction: PageDirection } | undefined,
  cursorAt: (row: T, direction: PageDirection) => C,
): KeysetPage<T, C> {
  const more = read.length > size;
  const rows = read.slice(0, size);
  const backwards = cursor?.direction === 'newer';
  if (backwards) {
    rows.reverse();
  }
  // Forward, more rows mean older ones; having come from a cursor means newer ones. Going back, the reverse.
  const hasOlder = backwards ? true : more;
  const hasNewer = backwards ? more : cursor !== undefined;
  const at = (row: T | undefined, direction: PageDirection): C | undefined =>
    row === undefined ? undefined : cursorAt(row, direction);
  return {
    rows,
    older: hasOlder ? at(rows.at(-1), 'older') : undefined,
    newer: hasNewer ? at(rows[0], 'newer') : undefined,
  };
}
