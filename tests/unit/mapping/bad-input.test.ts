import { OperationOutcomeError } from '@medplum/core';
import { csvDialect } from '../../../mappings/his/csv';
import { fhirBundleDialect } from '../../../mappings/his/fhir-bundle';
import { genericJsonDialect } from '../../../mappings/his/generic-json';
import { httpStatusOf } from '../../../src/kernel/fhir/outcomes';
import type { HisDialect, RawRecord } from '../../../src/contracts/his-dialect';
import { readInput } from './run-dialect';
import { dateTimeFromNow, futureDate, withChange } from '../../helpers/json-change';

/** Bad input, table-driven: every rejection must be a 4xx whose issue.expression names the broken field. */

type Json = Record<string, unknown>;

/** A fixture input with one change: a value set, or deleted when the value is `undefined`. */
function changed(dialect: string, fixture: string, path: readonly (string | number)[], value: unknown): unknown {
  return withChange(readInput(dialect, fixture), path, value);
}

/** The outcome a call throws; fails the test when it does not throw an OperationOutcomeError. */
function rejectionOf(fn: () => unknown): { status: number; issues: { expression: string; code: string }[] } {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) {
      throw err;
    }
    return {
      status: httpStatusOf(err.outcome),
      issues: (err.outcome.issue ?? []).map((i) => ({ expression: i.expression?.[0] ?? '', code: i.code })),
    };
  }
  throw new Error('expected a rejection, but the record was mapped');
}

function mapOne(dialect: HisDialect, value: unknown, location = ''): unknown {
  return dialect.map({ value, location } satisfies RawRecord);
}

const G = 'generic-json';

describe('generic-json rejects bad input naming the field', () => {
  it.each([
    ['a wrong BSN check digit', 'contact-10y-two-guardians', ['child', 'bsn'], '123456783', 'child.bsn', 'invalid'],
    [
      'a guardian BSN with a wrong check digit',
      'contact-10y-two-guardians',
      ['guardians', 0, 'bsn'],
      '456789018',
      'guardians[0].bsn',
      'invalid',
    ],
    [
      'an unknown ICPC code',
      'contact-10y-two-guardians',
      ['trajectory', 'icpc'],
      'P70',
      'trajectory.icpc',
      'code-invalid',
    ],
    [
      'an unknown ICPC code on a referral',
      'referral-created-ggz',
      ['referral', 'icpc'],
      'X01',
      'referral.icpc',
      'code-invalid',
    ],
    [
      'an unknown product category',
      'referral-created-ggz',
      ['referral', 'productCategory'],
      '47',
      'referral.productCategory',
      'code-invalid',
    ],
    [
      'an unknown referrer type',
      'referral-created-ggz',
      ['referral', 'referrerType'],
      '07',
      'referral.referrerType',
      'code-invalid',
    ],
    ['an unknown contact mode', 'contact-10y-two-guardians', ['contact', 'mode'], '9', 'contact.mode', 'code-invalid'],
    [
      'an unknown intervention',
      'contact-10y-two-guardians',
      ['contact', 'interventions', 1],
      'yoga',
      'contact.interventions[1]',
      'code-invalid',
    ],
    [
      'an unknown outcome',
      'trajectory-closed-escalated',
      ['trajectory', 'outcome'],
      'cured',
      'trajectory.outcome',
      'code-invalid',
    ],
    [
      'a birth date in the future',
      'contact-10y-two-guardians',
      ['child', 'birthDate'],
      futureDate(),
      'child.birthDate',
      'invalid',
    ],
    [
      'a birth date that does not exist',
      'contact-10y-two-guardians',
      ['child', 'birthDate'],
      '2014-02-30',
      'child.birthDate',
      'invalid',
    ],
    ['a missing BSN', 'contact-10y-two-guardians', ['child', 'bsn'], undefined, 'child.bsn', 'required'],
    [
      'a missing authoredOn',
      'referral-created-ggz',
      ['referral', 'authoredOn'],
      undefined,
      'referral.authoredOn',
      'required',
    ],
    [
      'a missing hasAuthority',
      'contact-10y-two-guardians',
      ['guardians', 1, 'hasAuthority'],
      undefined,
      'guardians[1].hasAuthority',
      'required',
    ],
    ['an unknown field', 'contact-10y-two-guardians', ['child', 'email'], 'x@example.nl', 'child.email', 'structure'],
    [
      'an unknown event type',
      'contact-10y-two-guardians',
      ['eventType'],
      'contact.deleted',
      'eventType',
      'code-invalid',
    ],
    ['a missing event type', 'contact-10y-two-guardians', ['eventType'], undefined, 'eventType', 'required'],
    ['a 7-digit AGB', 'contact-10y-two-guardians', ['practice', 'agb'], '1234567', 'practice.agb', 'invalid'],
    [
      'a municipality without GM',
      'contact-10y-two-guardians',
      ['child', 'municipality'],
      '0226',
      'child.municipality',
      'invalid',
    ],
    [
      'a dateTime without time zone',
      'contact-10y-two-guardians',
      ['occurredAt'],
      '2025-03-10T14:00:00',
      'occurredAt',
      'invalid',
    ],
    [
      'a dateTime with an impossible offset',
      'contact-10y-two-guardians',
      ['contact', 'start'],
      '2025-03-10T14:00:00+15:00',
      'contact.start',
      'invalid',
    ],
    [
      'a consent naming an unknown guardian',
      'consent-10y-one-guardian-with-authority',
      ['consent', 'givenBy', 0, 'guardianId'],
      'rel-9999',
      'consent.givenBy[0].guardianId',
      'business-rule',
    ],
    [
      'a consent ending before it starts',
      'consent-10y-one-guardian-with-authority',
      ['consent', 'period', 'end'],
      '2025-01-01',
      'consent.period.end',
      'business-rule',
    ],
    [
      'a consent for an unknown purpose',
      'consent-10y-one-guardian-with-authority',
      ['consent', 'purposes', 0],
      'marketing',
      'consent.purposes[0]',
      'code-invalid',
    ],
    [
      'a consent for an unknown data class',
      'consent-10y-one-guardian-with-authority',
      ['consent', 'dataClasses', 0],
      'Observation',
      'consent.dataClasses[0]',
      'code-invalid',
    ],
    [
      'a closed trajectory without outcome',
      'contact-closes-trajectory',
      ['trajectory', 'outcome'],
      undefined,
      'trajectory.outcome',
      'required',
    ],
    [
      'a trajectory closed before it started',
      'trajectory-closed-escalated',
      ['trajectory', 'closedOn'],
      '2025-01-01',
      'trajectory.closedOn',
      'business-rule',
    ],
    [
      'a trajectory started before the birth date',
      'contact-10y-two-guardians',
      ['trajectory', 'startDate'],
      '2013-01-01',
      'trajectory.startDate',
      'business-rule',
    ],
    [
      'a closed trajectory started before the birth date',
      'trajectory-closed-escalated',
      ['trajectory', 'startDate'],
      '2001-01-01',
      'trajectory.startDate',
      'business-rule',
    ],
    [
      'a contact before its trajectory started',
      'contact-10y-two-guardians',
      ['contact', 'start'],
      '2025-02-23T23:30:00+01:00',
      'contact.start',
      'business-rule',
    ],
    [
      'a duplicate guardian id',
      'contact-10y-two-guardians',
      ['guardians', 1, 'id'],
      'rel-2001',
      'guardians[1].id',
      'business-rule',
    ],
    [
      'a name with a control character',
      'contact-10y-two-guardians',
      ['child', 'name', 'family'],
      'Jan\u0000sen',
      'child.name.family',
      'invalid',
    ],
    [
      'a reason text of 3000 characters',
      'referral-created-ggz',
      ['referral', 'reasonText'],
      'x'.repeat(3000),
      'referral.reasonText',
      'invalid',
    ],
  ] as const)('rejects %s', (_name, fixture, path, value, expression, code) => {
    const { status, issues } = rejectionOf(() => mapOne(genericJsonDialect, changed(G, fixture, path, value)));
    expect(status).toBe(422);
    expect(issues).toContainEqual({ expression, code });
  });

  // A value of the wrong JSON type makes the body malformed: 400, as a FHIR server answers it (these were 422).
  it.each([
    [
      'a duration as text',
      'contact-10y-two-guardians',
      ['contact', 'durationMinutes'],
      '45',
      'contact.durationMinutes',
    ],
    [
      'hasAuthority as text',
      'contact-10y-two-guardians',
      ['guardians', 1, 'hasAuthority'],
      'yes',
      'guardians[1].hasAuthority',
    ],
    ['a BSN as a number', 'contact-10y-two-guardians', ['child', 'bsn'], 123456782, 'child.bsn'],
    ['a birth date as null', 'contact-10y-two-guardians', ['child', 'birthDate'], null, 'child.birthDate'],
    [
      'a product category as a number',
      'referral-created-ggz',
      ['referral', 'productCategory'],
      45,
      'referral.productCategory',
    ],
  ] as const)('rejects %s with a 400 naming the field', (_name, fixture, path, value, expression) => {
    const { status, issues } = rejectionOf(() => mapOne(genericJsonDialect, changed(G, fixture, path, value)));
    expect(status).toBe(400);
    expect(issues).toContainEqual({ expression, code: 'structure' });
  });

  it('tells a product category sent as a number that it is a string code, not an unknown one', () => {
    const body = changed(G, 'referral-created-ggz', ['referral', 'productCategory'], 45);
    try {
      mapOne(genericJsonDialect, body);
    } catch (err) {
      const text = (err as OperationOutcomeError).outcome.issue?.[0]?.details?.text ?? '';
      expect(text).toMatch(/is a string code/);
      expect(text).not.toMatch(/unknown/);
      return;
    }
    throw new Error('expected a rejection');
  });

  it('prefixes the expression with the place of the event in an array', () => {
    const bad = changed(G, 'contact-10y-two-guardians', ['child', 'bsn'], '123456783');
    const records = genericJsonDialect.split([readInput(G, 'contact-17y-phone'), bad]);
    expect(rejectionOf(() => genericJsonDialect.map(records[1]!)).issues).toContainEqual({
      expression: '[1].child.bsn',
      code: 'invalid',
    });
  });

  it('rejects a body that is not an object or array with a 400', () => {
    expect(rejectionOf(() => genericJsonDialect.split('text')).status).toBe(400);
  });

  it('keeps accepting referral.created with only the fields it always had', () => {
    const legacy = readInput(G, 'referral-created-legacy-fields') as Json;
    delete legacy.guardians;
    expect(() => mapOne(genericJsonDialect, legacy)).not.toThrow();
  });
});

const B = 'fhir-bundle';
// Entries of the contact fixture: 0 Organization, 1 Patient, 2-3 RelatedPerson, 4 EpisodeOfCare, 5 Encounter.
const contact = 'contact-10y-two-guardians';
const referral = 'referral-created-ggz';
const entry = (i: number, ...rest: (string | number)[]): (string | number)[] => ['entry', i, 'resource', ...rest];

describe('fhir-bundle rejects bad input naming Bundle.entry[i].resource.<field>', () => {
  it.each([
    [
      'a wrong BSN check digit',
      contact,
      entry(1, 'identifier', 0, 'value'),
      '123456783',
      'Bundle.entry[1].resource.identifier[0].value',
      'invalid',
    ],
    [
      'a Patient without BSN',
      contact,
      entry(1, 'identifier', 0, 'system'),
      'urn:other',
      'Bundle.entry[1].resource.identifier',
      'required',
    ],
    [
      'an unknown ICPC code',
      contact,
      entry(5, 'reasonCode', 0, 'coding', 0, 'code'),
      'P70',
      'Bundle.entry[5].resource.reasonCode[0].coding[0].code',
      'code-invalid',
    ],
    [
      'an unknown product category',
      referral,
      entry(4, 'category', 0, 'coding', 0, 'code'),
      '47',
      'Bundle.entry[4].resource.category[0].coding[0].code',
      'code-invalid',
    ],
    [
      'an unknown referrer type',
      referral,
      entry(4, 'extension', 0, 'valueCoding', 'code'),
      '07',
      'Bundle.entry[4].resource.extension[0].valueCoding.code',
      'code-invalid',
    ],
    [
      'a referral without product category',
      referral,
      entry(4, 'category'),
      undefined,
      'Bundle.entry[4].resource.category',
      'required',
    ],
    [
      'an unknown contact mode',
      contact,
      entry(5, 'type', 0, 'coding', 0, 'code'),
      '9',
      'Bundle.entry[5].resource.type[0].coding[0].code',
      'code-invalid',
    ],
    [
      'a birth date in the future',
      contact,
      entry(1, 'birthDate'),
      futureDate(),
      'Bundle.entry[1].resource.birthDate',
      'invalid',
    ],
    [
      'a missing birth date',
      contact,
      entry(1, 'birthDate'),
      undefined,
      'Bundle.entry[1].resource.birthDate',
      'required',
    ],
    [
      'a trajectory started before the birth date',
      contact,
      entry(4, 'period', 'start'),
      '2013-01-01',
      'Bundle.entry[4].resource.period.start',
      'business-rule',
    ],
    [
      'a contact before its trajectory started',
      contact,
      entry(5, 'period', 'start'),
      '2025-02-23T23:30:00+01:00',
      'Bundle.entry[5].resource.period.start',
      'business-rule',
    ],
    [
      'a RelatedPerson without parental authority',
      contact,
      entry(3, 'extension'),
      undefined,
      'Bundle.entry[3].resource.extension',
      'required',
    ],
    [
      'a reference to nothing',
      contact,
      entry(5, 'subject', 'reference'),
      'Patient/unknown',
      'Bundle.entry[5].resource.subject.reference',
      'business-rule',
    ],
    [
      'a Patient without municipality',
      contact,
      entry(1, 'address', 0, 'extension'),
      undefined,
      'Bundle.entry[1].resource.address',
      'required',
    ],
    [
      'a resource type the dialect does not take',
      contact,
      entry(0, 'resourceType'),
      'Practitioner',
      'Bundle.entry[0].resource.resourceType',
      'code-invalid',
    ],
    ['a batch Bundle', contact, ['type'], 'batch', 'Bundle.type', 'code-invalid'],
    ['a Bundle without identifier', contact, ['identifier'], undefined, 'Bundle.identifier', 'required'],
    [
      'an Encounter that is not finished',
      contact,
      entry(5, 'status'),
      'in-progress',
      'Bundle.entry[5].resource.status',
      'code-invalid',
    ],
    [
      'a Consent for an unknown data class',
      'consent-17y-objection',
      entry(2, 'provision', 'class', 0, 'code'),
      'Observation',
      'Bundle.entry[2].resource.provision.class[0]',
      'code-invalid',
    ],
    [
      'a Consent without recipient',
      'consent-17y-objection',
      entry(2, 'provision', 'actor'),
      undefined,
      'Bundle.entry[2].resource.provision.actor',
      'required',
    ],
  ] as const)('rejects %s', (_name, fixture, path, value, expression, code) => {
    const { status, issues } = rejectionOf(() => mapOne(fhirBundleDialect, changed(B, fixture, path, value)));
    expect(status).toBe(422);
    expect(issues).toContainEqual({ expression, code });
  });

  it('rejects a length as text with a 400 naming it (was 422)', () => {
    const { status, issues } = rejectionOf(() =>
      mapOne(fhirBundleDialect, changed(B, contact, entry(5, 'length', 'value'), '45')),
    );
    expect(status).toBe(400);
    expect(issues).toContainEqual({ expression: 'Bundle.entry[5].resource.length.value', code: 'structure' });
  });

  it('rejects a Bundle holding two events', () => {
    const two = changed(
      B,
      contact,
      ['entry'],
      [
        ...(readInput(B, contact) as { entry: unknown[] }).entry,
        ...(readInput(B, 'referral-cancelled') as { entry: unknown[] }).entry.slice(4),
      ],
    );
    expect(rejectionOf(() => mapOne(fhirBundleDialect, two)).issues).toContainEqual({
      expression: 'Bundle.entry',
      code: 'business-rule',
    });
  });

  it('rejects a Bundle without the sending practice', () => {
    const noOrg = changed(B, contact, ['entry'], (readInput(B, contact) as { entry: unknown[] }).entry.slice(1));
    expect(rejectionOf(() => mapOne(fhirBundleDialect, noOrg)).issues).toContainEqual({
      expression: 'Bundle.entry',
      code: 'required',
    });
  });

  it('prefixes the expression with the place of the Bundle in an array', () => {
    const bad = changed(B, contact, entry(1, 'birthDate'), futureDate());
    expect(rejectionOf(() => mapOne(fhirBundleDialect, bad, '[2]')).issues).toContainEqual({
      expression: '[2].Bundle.entry[1].resource.birthDate',
      code: 'invalid',
    });
  });
});

const HEADER =
  'practice_agb,child_id,bsn,birth_date,municipality,trajectory_id,trajectory_start,icpc,contact_id,contact_start,contact_mode,duration_min';
const GOOD = '01234567,pat-1,123456782,2014-09-01,GM0226,traj-1,2025-02-01,P22,con-1,2025-03-10T10:00:00+01:00,1,45';

function csvRow(changes: Record<string, string>): string {
  const cols = HEADER.split(',');
  const cells = GOOD.split(',');
  return cols.map((c, i) => changes[c] ?? cells[i]).join(',');
}

function mapCsv(text: string): { expression: string; code: string }[] {
  const records = csvDialect.split(text);
  expect(records).toHaveLength(1);
  return rejectionOf(() => csvDialect.map(records[0]!)).issues;
}

describe('csv rejects bad rows naming row N.column', () => {
  it('maps the good row the table starts from', () => {
    expect(() => csvDialect.map(csvDialect.split(`${HEADER}\n${GOOD}\n`)[0]!)).not.toThrow();
  });

  it.each([
    ['a wrong BSN check digit', { bsn: '123456783' }, 'row 2.bsn', 'invalid'],
    ['an unknown ICPC code', { icpc: 'P70' }, 'row 2.icpc', 'code-invalid'],
    ['a birth date in the future', { birth_date: futureDate() }, 'row 2.birth_date', 'invalid'],
    ['a birth date that is no date', { birth_date: '31-02-2014' }, 'row 2.birth_date', 'invalid'],
    ['a duration that is no number', { duration_min: 'abc' }, 'row 2.duration_min', 'invalid'],
    ['a missing contact mode', { contact_mode: '' }, 'row 2.contact_mode', 'required'],
    ['a missing BSN', { bsn: '' }, 'row 2.bsn', 'required'],
    ['an unknown contact mode', { contact_mode: '9' }, 'row 2.contact_mode', 'code-invalid'],
    [
      'a trajectory started before the birth date',
      { trajectory_start: '2010-01-01' },
      'row 2.trajectory_start',
      'business-rule',
    ],
    [
      'a contact before its trajectory started',
      { contact_start: '31-01-2025 10:00' },
      'row 2.contact_start',
      'business-rule',
    ],
    ['a start at an hour that does not exist', { contact_start: '10-03-2025 25:00' }, 'row 2.contact_start', 'invalid'],
  ])('rejects %s', (_name, changes, expression, code) => {
    expect(mapCsv(`${HEADER}\n${csvRow(changes)}\n`)).toContainEqual({ expression, code });
  });

  it.each([
    ['a short row', `${GOOD.split(',').slice(0, 9).join(',')}`, 'row 2.contact_start'],
    ['a long row', `${GOOD},extra`, 'row 2.column 13'],
    ['a quote inside an unquoted field', GOOD.replace('pat-1', 'pat"1'), 'row 2.child_id'],
    ['text after a closing quote', GOOD.replace('pat-1', '"pat-1"x'), 'row 2.child_id'],
    ['a quoted field that never closes', GOOD.replace('traj-1', '"traj-1'), 'row 2.trajectory_id'],
  ])('rejects a malformed row: %s', (_name, line, expression) => {
    expect(mapCsv(`${HEADER}\n${line}\n`)).toContainEqual({ expression, code: 'structure' });
  });

  it('maps the good rows of a file with a malformed one, and rejects only that one', () => {
    const records = csvDialect.split(
      `${HEADER}\n${GOOD}\n${GOOD.replace('pat-1', 'pat"1')}\n${csvRow({ contact_id: 'con-2' })}\n`,
    );
    expect(records.map((r) => r.location)).toEqual(['row 2', 'row 3', 'row 4']);
    expect(() => csvDialect.map(records[0]!)).not.toThrow();
    expect(rejectionOf(() => csvDialect.map(records[1]!)).issues).toContainEqual({
      expression: 'row 3.child_id',
      code: 'structure',
    });
    expect(() => csvDialect.map(records[2]!)).not.toThrow();
  });

  it.each([
    ['an empty body', '', 'row 1'],
    ['a header without a required column', `${HEADER.replace('bsn,', '')}\n`, 'row 1.bsn'],
    ['an unknown column', `${HEADER},notes\n`, 'row 1.notes'],
    ['a column twice', `${HEADER},bsn\n`, 'row 1.bsn'],
  ])('rejects %s as a whole with a 400', (_name, text, expression) => {
    const { status, issues } = rejectionOf(() => csvDialect.split(text));
    expect(status).toBe(400);
    expect(issues.map((i) => i.expression)).toContain(expression);
  });

  it('rejects a body that is not text with a 400', () => {
    expect(rejectionOf(() => csvDialect.split({ rows: [] })).status).toBe(400);
  });
});

/** The texts of the issues a call throws, by expression. */
function issueTextsOf(fn: () => unknown): Record<string, string> {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) {
      throw err;
    }
    return Object.fromEntries((err.outcome.issue ?? []).map((i) => [i.expression?.[0] ?? '', i.details?.text ?? '']));
  }
  throw new Error('expected a rejection, but the record was mapped');
}

// What a HIS put in the wrong column may be a name or a BSN: the answer (and any trace of it) must not repeat it.
describe('an unknown code is answered with the codes the field takes, never with the value sent', () => {
  const JZ020 = 'one of 40, 41, 43, 44, 45, 46, 50, 51, 52, 54, 55';
  it.each([
    [
      'a relationship (generic-json)',
      () =>
        mapOne(
          genericJsonDialect,
          changed(G, 'contact-10y-two-guardians', ['guardians', 0, 'relationship'], 'Geheimsma-mother'),
        ),
      'Geheimsma-mother',
      'guardians[0].relationship',
      'unknown relationship: one of mother, father, guardian, foster-parent, other',
    ],
    [
      'a product category (generic-json)',
      () => mapOne(genericJsonDialect, changed(G, referral, ['referral', 'productCategory'], '123456794')),
      '123456794',
      'referral.productCategory',
      `unknown JZ020 product category: ${JZ020}`,
    ],
    [
      'a product category (fhir-bundle)',
      () => mapOne(fhirBundleDialect, changed(B, referral, entry(4, 'category', 0, 'coding', 0, 'code'), '123456794')),
      '123456794',
      'Bundle.entry[4].resource.category[0].coding[0].code',
      `unknown JZ020 product category: ${JZ020}`,
    ],
    [
      'an ICPC code, of a list too long to quote (csv)',
      () => csvDialect.map(csvDialect.split(`${HEADER}\n${csvRow({ icpc: 'P70' })}\n`)[0]!),
      'P70',
      'row 2.icpc',
      'unknown ICPC-1NL code: see mappings/terminology for the codes',
    ],
  ])('%s', (_name, map, sent, expression, text) => {
    const texts = issueTextsOf(map);
    expect(texts[expression]).toBe(text);
    expect(JSON.stringify(texts)).not.toContain(sent);
  });
});

// An instant in the future was accepted and delivered (report-xhis X1): the municipality then refused every status
// of a referral "authored" in 2029. A few minutes ahead are a fast clock, not an error.
describe('every dialect rejects an instant in the future, naming it, and allows a few minutes of clock skew', () => {
  const nextYear = dateTimeFromNow(400 * 24 * 60);
  it.each([
    ['occurredAt', 'referral-created-ggz', ['occurredAt'], 'occurredAt'],
    ['referral.authoredOn', 'referral-created-ggz', ['referral', 'authoredOn'], 'referral.authoredOn'],
    ['contact.start', 'contact-10y-two-guardians', ['contact', 'start'], 'contact.start'],
    ['consent.recordedAt', 'consent-14y-child-and-parents', ['consent', 'recordedAt'], 'consent.recordedAt'],
  ] as const)('generic-json: %s', (_name, fixture, path, expression) => {
    const { status, issues } = rejectionOf(() => mapOne(genericJsonDialect, changed(G, fixture, path, nextYear)));
    expect(status).toBe(422);
    expect(issues).toContainEqual({ expression, code: 'invalid' });
  });

  it('generic-json: an occurredAt two minutes ahead is clock skew and accepted', () => {
    expect(() =>
      mapOne(genericJsonDialect, changed(G, 'referral-created-ggz', ['occurredAt'], dateTimeFromNow(2))),
    ).not.toThrow();
  });

  it.each([
    ['Bundle.timestamp', referral, ['timestamp'], 'Bundle.timestamp'],
    ['ServiceRequest.authoredOn', referral, entry(4, 'authoredOn'), 'Bundle.entry[4].resource.authoredOn'],
    ['Encounter.period.start', contact, entry(5, 'period', 'start'), 'Bundle.entry[5].resource.period.start'],
  ] as const)('fhir-bundle: %s', (_name, fixture, path, expression) => {
    const { status, issues } = rejectionOf(() => mapOne(fhirBundleDialect, changed(B, fixture, path, nextYear)));
    expect(status).toBe(422);
    expect(issues).toContainEqual({ expression, code: 'invalid' });
  });

  it('csv: contact_start, in the Dutch form and as ISO', () => {
    const dutch = new Date(Date.now() + 400 * 86_400_000).toISOString().slice(0, 10).split('-').reverse().join('-');
    for (const start of [`${dutch} 10:00`, nextYear]) {
      expect(mapCsv(`${HEADER}\n${csvRow({ contact_start: start })}\n`)).toContainEqual({
        expression: 'row 2.contact_start',
        code: 'invalid',
      });
    }
    expect(() =>
      csvDialect.map(csvDialect.split(`${HEADER}\n${csvRow({ contact_start: dateTimeFromNow(2) })}\n`)[0]!),
    ).not.toThrow();
  });
});
