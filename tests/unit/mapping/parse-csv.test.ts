import { detectDelimiter, parseCsv } from '../../../src/kernel/csv';

describe('the RFC 4180 reader', () => {
  it('reads plain fields, CRLF, LF and CR line ends', () => {
    expect(parseCsv('a,b\r\nc,d\ne,f\rg,h', ',')).toEqual([
      { row: 1, fields: ['a', 'b'] },
      { row: 2, fields: ['c', 'd'] },
      { row: 3, fields: ['e', 'f'] },
      { row: 4, fields: ['g', 'h'] },
    ]);
  });

  it('reads quoted fields with delimiters, doubled quotes and line breaks inside', () => {
    expect(parseCsv('"a,1","say ""hi""","two\r\nlines",""\r\nx,y,z,w\r\n', ',')).toEqual([
      { row: 1, fields: ['a,1', 'say "hi"', 'two\r\nlines', ''] },
      { row: 2, fields: ['x', 'y', 'z', 'w'] },
    ]);
  });

  it('keeps empty fields, and counts blank lines as rows without returning them', () => {
    expect(parseCsv('a,,c\n\n,,\n', ',')).toEqual([
      { row: 1, fields: ['a', '', 'c'] },
      { row: 3, fields: ['', '', ''] },
    ]);
  });

  it('reports a quote inside an unquoted field and goes on with the next line', () => {
    const out = parseCsv('a,b"c,d\ne,f,g\n', ',');
    expect(out[0]).toMatchObject({ row: 1, error: { field: 1 } });
    expect(out[1]).toEqual({ row: 2, fields: ['e', 'f', 'g'] });
  });

  it('reports text after a closing quote', () => {
    expect(parseCsv('"a"b,c\n', ',')[0]).toMatchObject({ row: 1, error: { field: 0 } });
  });

  it('reports a quote that never closes and resumes on the line after it opened', () => {
    const out = parseCsv('a,b\n"c,d\ne,f\n', ',');
    expect(out).toHaveLength(3);
    expect(out[1]).toMatchObject({ row: 2, error: { field: 0, message: 'a quoted field is never closed' } });
    expect(out[2]).toEqual({ row: 3, fields: ['e', 'f'] });
  });

  it('takes ; as delimiter when the header uses it and has no comma', () => {
    expect(detectDelimiter('a;b;c\n1,5;2;3')).toBe(';');
    expect(detectDelimiter('a,b;c\n')).toBe(',');
    expect(parseCsv('a;b\n"1;5";2', ';')[1]?.fields).toEqual(['1;5', '2']);
  });
});

describe('the RFC 4180 reader, as the audit export verifier uses it', () => {
  it('reads quoted cells with commas, doubled quotes and line breaks', () => {
    expect(parseCsv('a,"b,c","d ""e""\nf"\r\n1,2,3', ',').map((r) => r.fields)).toEqual([
      ['a', 'b,c', 'd "e"\nf'],
      ['1', '2', '3'],
    ]);
  });
});
