import { OperationOutcomeError } from '@medplum/core';
import {
  decodeCursor,
  encodeCursor,
  parseAuditSearch,
  parseDateFilter,
  MAX_COUNT,
} from '../../../src/reports/audit-search/search-params';

function parse(query: string): ReturnType<typeof parseAuditSearch> {
  return parseAuditSearch(new URLSearchParams(query));
}

/** The 400 a query gets: the parameter it names and its text. */
function rejection(query: string): { expression: string | undefined; text: string | undefined } {
  try {
    parse(query);
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      const issue = err.outcome.issue?.[0];
      return { expression: issue?.expression?.[0], text: issue?.details?.text };
    }
    throw err;
  }
  throw new Error(`${query} was accepted`);
}

describe('parseDateFilter', () => {
  it.each([
    [
      '2026-01-05',
      'eq',
      { kind: 'local', wall: '2026-01-05T00:00:00' },
      { kind: 'local', wall: '2026-01-06T00:00:00' },
    ],
    [
      'ge2026-01-31',
      'ge',
      { kind: 'local', wall: '2026-01-31T00:00:00' },
      { kind: 'local', wall: '2026-02-01T00:00:00' },
    ],
    ['lt2026-12', 'lt', { kind: 'local', wall: '2026-12-01T00:00:00' }, { kind: 'local', wall: '2027-01-01T00:00:00' }],
    ['le2025', 'le', { kind: 'local', wall: '2025-01-01T00:00:00' }, { kind: 'local', wall: '2026-01-01T00:00:00' }],
    [
      'gt2026-01-05T10:00:00Z',
      'gt',
      { kind: 'instant', iso: '2026-01-05T10:00:00.000Z' },
      { kind: 'instant', iso: '2026-01-05T10:00:01.000Z' },
    ],
    [
      'ge2026-01-05T10:00:00.250+01:00',
      'ge',
      { kind: 'instant', iso: '2026-01-05T09:00:00.250Z' },
      { kind: 'instant', iso: '2026-01-05T09:00:00.251Z' },
    ],
    // A '+' that was not percent-encoded arrives as a space.
    [
      'eq2026-01-05T10:00:00 01:00',
      'eq',
      { kind: 'instant', iso: '2026-01-05T09:00:00.000Z' },
      { kind: 'instant', iso: '2026-01-05T09:00:01.000Z' },
    ],
  ])('reads %s as a range at its own precision', (value, prefix, start, end) => {
    expect(parseDateFilter(value)).toEqual({ prefix, start, end });
  });

  it.each(['ne2026-01-05', 'sa2026-01-05', '2026-02-30', '2026-13', '2026-01-05T10:00:00', '05-01-2026', 'today'])(
    'refuses %s with a 400 naming date',
    (value) => {
      expect(rejection(`date=${encodeURIComponent(value)}`).expression).toBe('date');
    },
  );
});

describe('parseAuditSearch', () => {
  it('takes the defaults when nothing is given', () => {
    expect(parse('')).toEqual(
      expect.objectContaining({ count: 50, sort: 'asc', total: 'estimate', page: undefined, patients: [] }),
    );
  });

  it('accepts the patient as a BSN token or as a plain BSN', () => {
    expect(parse('patient:identifier=http://fhir.nl/fhir/NamingSystem/bsn|111222333').patients).toEqual([
      ['111222333'],
    ]);
    expect(parse('patient=111222333').patients).toEqual([['111222333']]);
    expect(parse('patient=|111222333,123456782').patients).toEqual([['111222333', '123456782']]);
  });

  it('refuses a patient in another identifier system or not of 9 digits', () => {
    expect(rejection('patient:identifier=urn:other|111222333').expression).toBe('patient:identifier');
    expect(rejection('patient=Patient/abc').expression).toBe('patient');
  });

  it('reads tokens with and without a system, commas as alternatives and repeats as AND', () => {
    const s = parse(
      'type=http://dicom.nema.org/resources/ontology/DCM|110106&subtype=disclose,AuthZ-Consent&outcome=0&outcome=4,8',
    );
    expect(s.types).toEqual([[{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110106' }]]);
    expect(s.subtypes).toEqual([[{ code: 'disclose' }, { code: 'AuthZ-Consent' }]]);
    expect(s.outcomes).toEqual([['0'], ['4', '8']]);
  });

  it('reads |code as a code without a system, not as a code in any system', () => {
    expect(parse('type=|110106').types).toEqual([[{ system: null, code: '110106' }]]);
    expect(parse('subtype=|disclose,read').subtypes).toEqual([[{ system: null, code: 'disclose' }, { code: 'read' }]]);
  });

  it('reads agent and entity as exact index tokens, or as a value in any system', () => {
    const s = parse(
      'agent=https://jeugdbrug.nl/fhir/NamingSystem/cbs-gemeentecode|GM0226&entity=Consent/abc&entity:identifier=GM0226',
    );
    expect(s.agents).toEqual([
      [{ kind: 'exact', token: 'https://jeugdbrug.nl/fhir/NamingSystem/cbs-gemeentecode|GM0226' }],
    ]);
    expect(s.entities).toEqual([[{ kind: 'exact', token: 'Consent/abc' }], [{ kind: 'value', value: 'GM0226' }]]);
  });

  it('serves at most the maximum page size and refuses a _count that is not a number', () => {
    expect(parse('_count=5').count).toBe(5);
    expect(parse('_count=100000').count).toBe(MAX_COUNT);
    expect(rejection('_count=ten').expression).toBe('_count');
    expect(rejection('_count=-1').expression).toBe('_count');
  });

  it.each(['name=Jansen', 'patient:missing=true', 'type:not=rest', '_summary=true', '_include=AuditEvent:agent'])(
    'answers 400 naming the unknown parameter in %s',
    (query) => {
      const name = query.split('=')[0]!;
      const r = rejection(query);
      expect(r.expression).toBe(name);
      expect(r.text).toContain(name);
    },
  );

  it('refuses an outcome that FHIR does not define and a second _count', () => {
    expect(rejection('outcome=1').expression).toBe('outcome');
    expect(rejection('_count=1&_count=2').expression).toBe('_count');
  });

  it('round-trips its page token and refuses one it did not make', () => {
    const cursor = {
      asOf: '2026-01-05T10:00:00.000Z',
      direction: 'previous' as const,
      // As the search writes it (exactTimeSql); it was PostgreSQL's text form of timestamptz until report-xpen 3.
      recorded: '2026-01-05T09:00:00.123000Z',
      tenant: '01234567',
      seq: 42,
    };
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
    expect(parse(`_page=${encodeCursor(cursor)}`).page).toEqual(cursor);
    expect(rejection('_page=bm90IGEgY3Vyc29y').expression).toBe('_page');
    // A moment PostgreSQL would refuse is no sort key of this server's (report-xpen 3: it was a 500).
    for (const recorded of ['x; select 1', '2026-02-30T09:00:00.123000Z', '2026-01-05 09:00:00.123+00']) {
      expect(rejection(`_page=${encodeCursor({ ...cursor, recorded })}`).expression).toBe('_page');
    }
    expect(rejection(`_page=${encodeCursor({ ...cursor, asOf: '0000-01-05T10:00:00.000Z' })}`).expression).toBe(
      '_page',
    );
  });
});
