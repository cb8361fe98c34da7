import { parseCsv } from '../../../src/kernel/csv';
import type { AuditEvent } from '@medplum/fhirtypes';
import { consentDecision, disclosure, SYSTEM_WORKER } from '../../../src/audit/audit-events';
import { chainHash, GENESIS_HASH } from '../../../src/audit/chain';
import { chainColumnsOf, columnsLine } from '../../../src/audit/chain-columns';
import {
  csvHeader,
  csvRow,
  csvTrailer,
  EXPORT_FORMAT,
  EXPORT_VERSION,
  ndjsonHeader,
  ndjsonRow,
  verifyExportText,
  type ExportMeta,
  type ExportRow,
} from '../../../src/reports/audit-export/export';

/**
 * Rows 1..n of a chain; the export covers `fromSeq..n`. Chain format 1 rows by default; with `lineOf`, format 2 rows
 * whose hashes cover the line it gives for each AuditEvent.
 */
function exportOf(
  n: number,
  fromSeq = 1,
  lineOf?: (event: AuditEvent) => string,
): { meta: ExportMeta; rows: ExportRow[] } {
  const all: ExportRow[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const event: AuditEvent =
      seq % 2 === 0
        ? disclosure({
            actor: SYSTEM_WORKER,
            outcome: '0',
            patientBsn: '111222333',
            inboxId: `i-${seq}`,
            municipality: 'GM0226',
            destination: 'gm0226',
            purpose: 'referral',
            resources: ['Patient/p1', 'ServiceRequest/s1'],
          })
        : consentDecision({
            actor: SYSTEM_WORKER,
            permit: false,
            // Commas, quotes and a newline: the CSV must carry them through a quoted cell.
            reasons: 'consent-missing-guardian, "quoted"\nsecond line',
            patientBsn: '111222333',
            inboxId: `i-${seq}`,
            consentIds: [],
            municipality: 'GM0226',
            purpose: 'referral',
            stage: 'map',
          });
    const resource = JSON.parse(JSON.stringify(event)) as unknown;
    const line = lineOf?.(event);
    const hash = chainHash(prev, seq, resource, line);
    all.push({ seq, recorded: event.recorded, prevHash: prev, hash, columnsLine: line, resource });
    prev = hash;
  }
  const rows = all.slice(fromSeq - 1);
  const meta: ExportMeta = {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    tenant: '01234567',
    from: null,
    to: null,
    fromSeq,
    toSeq: n,
    prevHash: rows[0]!.prevHash,
    headHash: rows.at(-1)!.hash,
    rows: rows.length,
    chainHead: { seq: n, hash: rows.at(-1)!.hash },
    exportedAt: new Date().toISOString(),
  };
  return { meta, rows };
}

const ndjson = ({ meta, rows }: ReturnType<typeof exportOf>): string =>
  ndjsonHeader(meta) + rows.map(ndjsonRow).join('');
const csv = ({ meta, rows }: ReturnType<typeof exportOf>): string =>
  csvHeader() + rows.map((r) => csvRow(r)).join('') + csvTrailer(meta);

describe('NDJSON export verification', () => {
  it('passes an untouched export that starts in the middle of a chain', () => {
    const e = exportOf(6, 3);
    expect(verifyExportText(ndjson(e))).toEqual(
      expect.objectContaining({ ok: true, rows: 4, fromSeq: 3, headSeq: 6, headHash: e.meta.headHash }),
    );
  });

  it('finds an edited line at its seq', () => {
    const lines = ndjson(exportOf(5)).split('\n');
    const edited = lines[2]!.replace('"outcome":"0"', '"outcome":"4"');
    expect(edited).not.toBe(lines[2]);
    lines[2] = edited;
    expect(verifyExportText(lines.join('\n'))).toEqual(
      expect.objectContaining({ ok: false, brokenAtSeq: 2, line: 3, problem: 'content does not match its hash' }),
    );
  });

  it('fails when the last rows were cut off or a row was taken out', () => {
    const lines = ndjson(exportOf(5)).trimEnd().split('\n');
    expect(verifyExportText(lines.slice(0, -1).join('\n'))).toEqual(expect.objectContaining({ ok: false }));
    expect(verifyExportText([...lines.slice(0, 2), ...lines.slice(3)].join('\n'))).toEqual(
      expect.objectContaining({ ok: false, brokenAtSeq: 3, problem: 'gap: expected seq 2' }),
    );
  });

  it('fails when the first row does not link to the stated prevHash', () => {
    const e = exportOf(4, 2);
    expect(verifyExportText(ndjson({ ...e, meta: { ...e.meta, prevHash: GENESIS_HASH } }))).toEqual(
      expect.objectContaining({ ok: false, problem: 'the first row does not link to the stated prevHash' }),
    );
  });

  it('compares the end with a head hash known from elsewhere', () => {
    const e = exportOf(3);
    expect(verifyExportText(ndjson(e), e.meta.headHash!).ok).toBe(true);
    expect(verifyExportText(ndjson(e), 'a'.repeat(64))).toEqual(
      expect.objectContaining({ ok: false, problem: 'the export does not end in the expected head hash' }),
    );
  });

  it('accepts an empty period', () => {
    const meta: ExportMeta = {
      ...exportOf(1).meta,
      fromSeq: null,
      toSeq: null,
      prevHash: null,
      headHash: null,
      rows: 0,
    };
    expect(verifyExportText(ndjsonHeader(meta)).ok).toBe(true);
  });
});

describe('CSV export verification', () => {
  it('passes an untouched export whose cells hold commas, quotes and newlines', () => {
    const e = exportOf(4);
    expect(verifyExportText(csv(e))).toEqual(expect.objectContaining({ ok: true, rows: 4, headHash: e.meta.headHash }));
  });

  it('finds a changed resource and a filter column that no longer says what the resource says', () => {
    const text = csv(exportOf(4));
    expect(verifyExportText(text.replace('"action"":""R""', '"action"":""C""'))).toEqual(
      expect.objectContaining({ ok: false, brokenAtSeq: 2 }),
    );
    const records = parseCsv(text, ',').map((r) => r.fields);
    const row = records[2]!;
    row[5] = '4'; // outcome column of seq 2 (a successful disclosure)
    const edited = records
      .map((r) => r.map((c) => (/[",\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(','))
      .join('\r\n');
    expect(verifyExportText(edited)).toEqual(
      expect.objectContaining({ ok: false, brokenAtSeq: 2, problem: 'column outcome does not match the resource' }),
    );
  });

  it('fails without its #chain trailer', () => {
    const text = csv(exportOf(2));
    expect(verifyExportText(text.slice(0, text.lastIndexOf('#chain')))).toEqual(
      expect.objectContaining({ ok: false, problem: expect.stringContaining('no export metadata') }),
    );
  });
});

describe('chain format 2 rows in an export', () => {
  const format2 = (event: AuditEvent): string => columnsLine(chainColumnsOf(event));

  it('verifies NDJSON and CSV rows by their columns line, which the files carry as it was hashed', () => {
    const e = exportOf(6, 2, format2);
    expect(ndjson(e)).toContain('"columnsLine":"[');
    expect(csvHeader()).toContain(',hash,columns_line,resource');
    expect(verifyExportText(ndjson(e))).toEqual(
      expect.objectContaining({ ok: true, rows: 5, headHash: e.meta.headHash }),
    );
    expect(verifyExportText(csv(e))).toEqual(expect.objectContaining({ ok: true, rows: 5, headHash: e.meta.headHash }));
  });

  it('finds a columns line edited, or one that hashes right but does not say what the AuditEvent says', () => {
    const lines = ndjson(exportOf(4, 1, format2)).split('\n');
    lines[3] = lines[3]!.replace('"111222333"', '"999999990"');
    expect(verifyExportText(lines.join('\n'))).toEqual(
      expect.objectContaining({ ok: false, brokenAtSeq: 3, line: 4, problem: 'content does not match its hash' }),
    );
    const lying = exportOf(4, 1, (event) => format2(event).replace('"111222333"', '"999999990"'));
    expect(verifyExportText(ndjson(lying))).toEqual(
      expect.objectContaining({ ok: false, brokenAtSeq: 1, problem: 'the columns line does not match the resource' }),
    );
    expect(verifyExportText(csv(lying))).toEqual(
      expect.objectContaining({ ok: false, brokenAtSeq: 1, problem: 'the columns line does not match the resource' }),
    );
  });

  it('still verifies a version 1 export, made before chain format 2', () => {
    const e = exportOf(3);
    const v1Meta = JSON.stringify({ ...e.meta, version: 1 });
    const v1Csv = [
      'seq,recorded,type,subtype,action,outcome,patient_bsn,agents,entities,prev_hash,hash,resource',
      ...parseCsv(csv(e), ',')
        .slice(1, -1)
        .map((r) =>
          r.fields
            .filter((_c, i) => i !== 11)
            .map((c) => (/[",\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c))
            .join(','),
        ),
      `#chain,"${v1Meta.replace(/"/g, '""')}"`,
    ].join('\r\n');
    expect(verifyExportText(v1Csv)).toEqual(expect.objectContaining({ ok: true, rows: 3 }));
    expect(verifyExportText(`${v1Meta}\n${e.rows.map(ndjsonRow).join('')}`)).toEqual(
      expect.objectContaining({ ok: true, rows: 3 }),
    );
  });
});
