import { keysetOrder, keysetPage, type PageDirection } from '../../../src/kernel/keyset-page';

// The keyset paging the reports' lists (time-id-page.ts) and the audit chains' integrity history share: the audit layer
// may not import the reports', so it repeated it until it moved here.
describe('keyset paging of a list shown newest first', () => {
  const cursorAt = (row: number, direction: PageDirection) => ({ row, direction });
  // Rows 10 (newest) down to 1; a page of 3.
  const newestFirst = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1];

  it('reads the first page newest first, by every column of the key, without a condition', () => {
    expect(keysetOrder(undefined, ['t', 'id'], undefined)).toEqual({ where: 'TRUE', orderBy: 't DESC, id DESC' });
  });

  it('reads older rows below the cursor, newer ones above it oldest first', () => {
    expect(keysetOrder('older', ['t', 'id'], ['$1', '$2'])).toEqual({
      where: '(t, id) < ($1, $2)',
      orderBy: 't DESC, id DESC',
    });
    expect(keysetOrder('newer', ['id'], ['$3::bigint'])).toEqual({ where: '(id) > ($3::bigint)', orderBy: 'id ASC' });
  });

  it('makes the first page: an older neighbour when more was read, no newer one', () => {
    const page = keysetPage(newestFirst.slice(0, 4), 3, undefined, cursorAt);
    expect(page).toEqual({ rows: [10, 9, 8], older: { row: 8, direction: 'older' }, newer: undefined });
  });

  it('makes a page going older: a newer neighbour always, an older one only when more was read', () => {
    expect(keysetPage([7, 6, 5, 4], 3, { direction: 'older' }, cursorAt)).toEqual({
      rows: [7, 6, 5],
      older: { row: 5, direction: 'older' },
      newer: { row: 7, direction: 'newer' },
    });
    expect(keysetPage([1], 3, { direction: 'older' }, cursorAt)).toEqual({
      rows: [1],
      older: undefined,
      newer: { row: 1, direction: 'newer' },
    });
  });

  it('turns a page read going back (oldest first) around, newer neighbour only when more was read', () => {
    // Back from row 7: read 8, 9, 10 (oldest first), and nothing more.
    expect(keysetPage([8, 9, 10], 3, { direction: 'newer' }, cursorAt)).toEqual({
      rows: [10, 9, 8],
      older: { row: 8, direction: 'older' },
      newer: undefined,
    });
    expect(keysetPage([5, 6, 7, 8], 3, { direction: 'newer' }, cursorAt)).toEqual({
      rows: [7, 6, 5],
      older: { row: 5, direction: 'older' },
      newer: { row: 7, direction: 'newer' },
    });
  });

  it('makes an empty page without neighbours', () => {
    expect(keysetPage<number, unknown>([], 3, undefined, cursorAt)).toEqual({
      rows: [],
      older: undefined,
      newer: undefined,
    });
  });
});
