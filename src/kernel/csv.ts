/**
 * A small RFC 4180 reader: quoted fields, doubled quotes inside them, line breaks inside quotes, CRLF, LF or CR
 * line ends. It never throws: a malformed record is returned with its error so the other rows still count.
 */

/** One record (line, or lines when a quoted field spans them) with its spreadsheet row number (header = 1). */
export interface CsvRecord {
  readonly row: number;
  readonly fields: string[];
  /** Set when the record is malformed: the 0-based field where it went wrong, and why. */
  readonly error?: { readonly field: number; readonly message: string } | undefined;
}

/** `;` when the header uses it and no `,` (the Dutch Excel default), else `,`. */
export function detectDelimiter(text: string): ',' | ';' {
  const end = text.search(/[\r\n]/);
  const header = end < 0 ? text : text.slice(0, end);
  return header.includes(';') && !header.includes(',') ? ';' : ',';
}

function lineEndAfter(text: string, from: number): number {
  const n = text.slice(from).search(/\r\n|\r|\n/);
  if (n < 0) {
    return text.length;
  }
  const at = from + n;
  return text.startsWith('\r\n', at) ? at + 2 : at + 1;
}

/** Every record of a CSV text. Blank lines count as rows (as in the spreadsheet) but yield no record. */
export function parseCsv(text: string, delimiter: ',' | ';'): CsvRecord[] {
  const out: CsvRecord[] = [];
  let row = 0;
  let i = 0;
  while (i < text.length) {
    row++;
    const fields: string[] = [];
    let field = '';
    let quoted = false;
    let inQuotes = false;
    let quoteStart = -1;
    let error: CsvRecord['error'];
    let ended = false;
    while (i < text.length && !ended) {
      const ch = text[i];
      if (inQuotes) {
        if (ch === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
          } else {
            inQuotes = false;
            i++;
          }
        } else {
          field += ch;
          i++;
        }
      } else if (ch === delimiter) {
        fields.push(field);
        field = '';
        quoted = false;
        i++;
      } else if (ch === '\r' || ch === '\n') {
        i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
        ended = true;
      } else if (quoted) {
        error = { field: fields.length, message: 'text after the closing quote of a quoted field' };
      } else if (ch === '"') {
        if (field.length > 0) {
          error = {
            field: fields.length,
            message: 'a quote inside an unquoted field (quote the field and double the quote)',
          };
        } else {
          quoted = true;
          inQuotes = true;
          quoteStart = i;
          i++;
        }
      } else {
        field += ch;
        i++;
      }
      if (error) {
        // Skip the rest of this line: the next line starts a fresh record.
        i = lineEndAfter(text, i);
        ended = true;
      }
    }
    if (inQuotes && !error) {
      error = { field: fields.length, message: 'a quoted field is never closed' };
      // The quote swallowed the rest of the file; resume on the line after it opened so later rows still count.
      i = lineEndAfter(text, quoteStart);
    }
    fields.push(field);
    if (!error && fields.length === 1 && fields[0] === '' && !quoted) {
      continue;
    }
    out.push({ row, fields, ...(error ? { error } : {}) });
  }
  return out;
}
