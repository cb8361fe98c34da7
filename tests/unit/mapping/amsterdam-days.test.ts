import { OperationOutcomeError } from '@medplum/core';
import { fhirBundleDialect } from '../../../mappings/his/fhir-bundle';
import { genericJsonDialect } from '../../../mappings/his/generic-json';
import { readInput } from './run-dialect';
import { withChange } from '../../helpers/json-change';

/**
 * A HIS's dates and moments are compared by their Europe/Amsterdam calendar day, whatever offset a moment is written
 * in, as the monitoring figures count them (report-xpolicy L2: a contact sent in UTC at 00:30 Amsterdam on the
 * trajectory's first day was refused as lying before it).
 */

type Json = Record<string, unknown>;

/** The fixture contact with its trajectory starting on `startDate` and the contact (and event) at `start`. */
function contactAt(start: string, startDate: string, birthDate = '2014-09-01'): unknown {
  let value = readInput('generic-json', 'contact-10y-two-guardians') as Json;
  value = withChange(value, ['trajectory', 'startDate'], startDate) as Json;
  value = withChange(value, ['contact', 'start'], start) as Json;
  value = withChange(value, ['occurredAt'], start) as Json;
  return withChange(value, ['child', 'birthDate'], birthDate);
}

/** The fields the mapping refused the record for; none when it was mapped. */
function refusedFields(value: unknown): string[] {
  try {
    genericJsonDialect.map({ value, location: '' });
    return [];
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) {
      throw err;
    }
    return (err.outcome.issue ?? []).map((i) => `${i.expression?.[0] ?? ''}: ${i.details?.text ?? ''}`);
  }
}

describe('a contact on the first day of its trajectory', () => {
  it.each([
    ['00:30 Amsterdam written in UTC', '2026-07-01T22:30:00Z', []],
    ['00:30 Amsterdam written with its own offset', '2026-07-02T00:30:00+02:00', []],
    ['03:30 Amsterdam written with an offset west of UTC', '2026-07-01T23:30:00-02:00', []],
    ['23:30 Amsterdam the day before, written in UTC', '2026-07-01T21:30:00Z', ['contact.start: lies before']],
    ['23:30 Amsterdam the day before, with its offset', '2026-07-01T23:30:00+02:00', ['contact.start: lies before']],
  ])('%s', (_name, start, refused) => {
    const fields = refusedFields(contactAt(start, '2026-07-02'));
    expect(fields.map((f) => f.replace(/ trajectory\.startDate$/, ''))).toEqual(refused);
  });
});

describe("a child's birth on the day of the event", () => {
  it('takes an event at 00:30 Amsterdam on the birth day written in UTC', () => {
    expect(refusedFields(contactAt('2026-07-01T22:30:00Z', '2026-07-02', '2026-07-02'))).toEqual([]);
  });

  it('refuses an event at 23:30 Amsterdam the day before the birth day', () => {
    expect(refusedFields(contactAt('2026-07-01T21:30:00Z', '2026-07-02', '2026-07-02'))).toContain(
      'child.birthDate: lies after occurredAt',
    );
  });
});

describe("a FHIR bundle's trajectory start", () => {
  /** The fixture bundle's contact with its EpisodeOfCare starting at `start`, mapped: the day the trajectory starts. */
  function startDayOf(start: string): unknown {
    const bundle = readInput('fhir-bundle', 'contact-10y-two-guardians') as {
      entry: { resource: { resourceType: string; period?: { start: string } } }[];
    };
    for (const e of bundle.entry) {
      if (e.resource.resourceType === 'EpisodeOfCare') {
        e.resource.period = { ...e.resource.period, start };
      }
    }
    const { resources } = fhirBundleDialect.map({ value: bundle, location: '' });
    const episode = resources.find((r) => r.resourceType === 'EpisodeOfCare');
    return episode?.resourceType === 'EpisodeOfCare' ? episode.period?.start : undefined;
  }

  it.each([
    ['23:30 UTC is the next Amsterdam day', '2025-02-23T23:30:00Z', '2025-02-24'],
    ['a date alone stays as it is', '2025-02-24', '2025-02-24'],
    ['a leap second falls on the day of the second before it', '2025-02-23T22:59:60Z', '2025-02-23'],
  ])('%s', (_name, start, day) => {
    expect(startDayOf(start)).toBe(day);
  });
});
