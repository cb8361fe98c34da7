import Ajv2020 from 'ajv/dist/2020';
import type { ValidateFunction } from 'ajv/dist/2020';
import { caseNames, readInput } from '../unit/mapping/run-dialect';
import { useTestApp } from '../helpers/test-runtime';
import { futureDate, withChange } from '../helpers/json-change';

/**
 * The JSON Schema served at GET /his/v1/schema/{dialect} and POST /his/v1/events agree: every body the endpoint
 * accepts whole (202, every receipt accepted) is valid against the schema, and every body it rejects, wholly or in
 * part, is invalid, read by a validator of the schema's own draft (2020-12). The exceptions are the rules JSON
 * Schema cannot say, each listed below with why; the schema's descriptions name the same rules.
 */

type Json = Record<string, unknown>;

/** A case: a body, and for a rule JSON Schema cannot say, why the schema lets through what the endpoint refuses. */
interface Case {
  readonly name: string;
  readonly body: unknown;
  readonly notInSchema?: string;
}

const G = 'generic-json';
const B = 'fhir-bundle';
const goldenCases = (dialect: string): Case[] =>
  caseNames(dialect)
    .filter((name) => name !== 'array-one-good-one-bad')
    .map((name) => ({ name: `golden ${name}`, body: readInput(dialect, name) }));

const contact = readInput(G, 'contact-10y-two-guardians');
const referral = readInput(G, 'referral-created-ggz');
const ELEVEN_PROEF = 'the 11-proef of a BSN is arithmetic, which JSON Schema cannot say';
const genericCases: Case[] = [
  ...goldenCases(G),
  { name: 'an array of two events', body: [contact, referral] },
  { name: 'an empty array', body: [] },
  { name: 'an array with one bad event', body: [contact, withChange(referral, ['child', 'bsn'], 'abc')] },
  { name: 'a JSON string', body: 'an event' },
  { name: 'an empty object', body: {} },
  {
    name: 'a BSN failing the 11-proef',
    body: withChange(contact, ['child', 'bsn'], '123456789'),
    notInSchema: ELEVEN_PROEF,
  },
  { name: 'an empty BSN', body: withChange(contact, ['child', 'bsn'], '') },
  { name: 'a BSN of 8 digits', body: withChange(contact, ['child', 'bsn'], '12345678') },
  { name: 'a guardian BSN of letters', body: withChange(contact, ['guardians', 0, 'bsn'], 'abcdefghi') },
  { name: 'a BSN as a number', body: withChange(contact, ['child', 'bsn'], 123456782) },
  { name: 'an empty eventId', body: withChange(contact, ['eventId'], '') },
  { name: 'an eventId with a trailing space', body: withChange(contact, ['eventId'], 'evt-1 ') },
  { name: 'a blank child id', body: withChange(contact, ['child', 'id'], '   ') },
  { name: 'an AGB of letters', body: withChange(contact, ['practice', 'agb'], 'abc') },
  { name: 'a 7-digit AGB', body: withChange(contact, ['practice', 'agb'], '1234567') },
  { name: 'a URA of 2 digits', body: withChange(contact, ['practice', 'ura'], '12') },
  { name: 'occurredAt in words', body: withChange(contact, ['occurredAt'], 'yesterday') },
  { name: 'occurredAt without time zone', body: withChange(contact, ['occurredAt'], '2025-03-10T14:00:00') },
  { name: 'a birth date in Dutch words', body: withChange(contact, ['child', 'birthDate'], '4 maart 2012') },
  { name: 'a birth date that does not exist', body: withChange(contact, ['child', 'birthDate'], '2014-02-30') },
  {
    name: 'a birth date in the future',
    body: withChange(contact, ['child', 'birthDate'], futureDate()),
    notInSchema: 'whether a date lies in the future depends on the day it is checked',
  },
  {
    name: 'a birth date after occurredAt',
    body: withChange(contact, ['child', 'birthDate'], '2025-03-11'),
    notInSchema: 'JSON Schema cannot compare the values of two fields',
  },
  {
    name: 'a trajectory started before the birth date',
    body: withChange(contact, ['trajectory', 'startDate'], '2013-01-01'),
    notInSchema: 'JSON Schema cannot compare the values of two fields',
  },
  {
    name: 'a contact before its trajectory started',
    body: withChange(contact, ['contact', 'start'], '2025-02-23T10:00:00+01:00'),
    notInSchema: 'JSON Schema cannot compare the values of two fields',
  },
  { name: 'a municipality name', body: withChange(contact, ['child', 'municipality'], 'Overbetuwe') },
  { name: 'a municipality without GM', body: withChange(contact, ['child', 'municipality'], '0226') },
  {
    name: 'two guardians with one id',
    body: withChange(contact, ['guardians', 1, 'id'], 'rel-2001'),
    notInSchema: 'JSON Schema can require unique items, not items unique by one field',
  },
  { name: 'hasAuthority as text', body: withChange(contact, ['guardians', 1, 'hasAuthority'], 'true') },
  { name: 'a duration as text', body: withChange(contact, ['contact', 'durationMinutes'], '45') },
  { name: 'a duration of 481 minutes', body: withChange(contact, ['contact', 'durationMinutes'], 481) },
  { name: 'an unknown field', body: withChange(contact, ['child', 'email'], 'x@example.nl') },
  { name: 'a missing BSN', body: withChange(contact, ['child', 'bsn'], undefined) },
  { name: 'an unknown event type', body: withChange(contact, ['eventType'], 'contact.deleted') },
  { name: 'a name with a control character', body: withChange(contact, ['child', 'name', 'family'], 'Jan\u0000sen') },
  { name: 'a blank family name', body: withChange(contact, ['child', 'name', 'family'], '  ') },
  { name: 'an unknown product category', body: withChange(referral, ['referral', 'productCategory'], '99') },
  { name: 'a product category as a number', body: withChange(referral, ['referral', 'productCategory'], 45) },
  { name: 'a reason of 3000 characters', body: withChange(referral, ['referral', 'reasonText'], 'x'.repeat(3000)) },
  { name: 'a referral without professional', body: withChange(referral, ['professional'], undefined) },
];

const bundle = readInput(B, 'referral-created-ggz') as { entry: { resource: Json }[] };
// Entries of the referral Bundle: 0 Organization, 1 Patient, 2-3 RelatedPerson, 4 ServiceRequest.
const entry = (i: number, ...rest: (string | number)[]): (string | number)[] => ['entry', i, 'resource', ...rest];
const withEntries = (entries: unknown[]): unknown => ({ ...bundle, entry: entries });
const bundleCases: Case[] = [
  ...goldenCases(B),
  { name: 'an array of two Bundles', body: [bundle, readInput(B, 'contact-17y-phone')] },
  {
    name: 'a BSN failing the 11-proef',
    body: withChange(bundle, entry(1, 'identifier', 0, 'value'), '123456789'),
    notInSchema: ELEVEN_PROEF,
  },
  { name: 'a BSN of letters', body: withChange(bundle, entry(1, 'identifier', 0, 'value'), 'abcdefghi') },
  { name: 'an Organization AGB of letters', body: withChange(bundle, entry(0, 'identifier', 0, 'value'), 'abc') },
  {
    name: 'a municipality without GM',
    body: withChange(bundle, entry(1, 'address', 0, 'extension', 0, 'valueIdentifier', 'value'), '0226'),
  },
  {
    name: 'a Patient without a BSN identifier',
    body: withChange(bundle, entry(1, 'identifier', 0, 'system'), 'urn:x'),
  },
  { name: 'no Organization', body: withEntries(bundle.entry.slice(1)) },
  { name: 'two Organizations', body: withEntries([bundle.entry[0], ...bundle.entry]) },
  { name: 'no Patient', body: withEntries(bundle.entry.filter((_, i) => i !== 1)) },
  {
    name: 'a reference to a Patient not in the Bundle',
    body: withChange(bundle, entry(4, 'subject'), { reference: 'Patient/nope' }),
    notInSchema: 'JSON Schema cannot follow a reference to another entry',
  },
  { name: 'a birth date written the Dutch way', body: withChange(bundle, entry(1, 'birthDate'), '20-11-2010') },
  { name: 'a birth date of year and month', body: withChange(bundle, entry(1, 'birthDate'), '2010-11') },
  { name: 'a timestamp without time zone', body: withChange(bundle, ['timestamp'], '2025-04-15T10:00:00') },
  { name: 'a batch Bundle', body: withChange(bundle, ['type'], 'batch') },
  { name: 'a Bundle without identifier', body: withChange(bundle, ['identifier'], undefined) },
  { name: 'a draft ServiceRequest', body: withChange(bundle, entry(4, 'status'), 'draft') },
  { name: 'an unknown JZ020 category', body: withChange(bundle, entry(4, 'category', 0, 'coding', 0, 'code'), '99') },
  { name: 'a referral without category', body: withChange(bundle, entry(4, 'category'), undefined) },
  {
    name: 'an Observation entry',
    body: withEntries([...bundle.entry, { resource: { resourceType: 'Observation', status: 'final' } }]),
  },
  { name: 'a guardian without the parental-authority extension', body: withChange(bundle, entry(2, 'extension'), []) },
  { name: 'a Patient without municipality', body: withChange(bundle, entry(1, 'address', 0, 'extension'), []) },
  { name: 'an entry without resource', body: withEntries([...bundle.entry, { resource: null }]) },
];

/** Unique event ids per request, so that no case is a duplicate or a conflict of an earlier one. */
let sent = 0;
function withFreshIds(dialect: string, body: unknown): unknown {
  const fresh = (one: unknown): unknown => {
    if (typeof one !== 'object' || one === null || Array.isArray(one)) {
      return one;
    }
    const record = one as Json;
    sent += 1;
    if (dialect === B) {
      const identifier = record.identifier as Json | undefined;
      return identifier && typeof identifier.value === 'string'
        ? { ...record, identifier: { ...identifier, value: `schema-${sent}` } }
        : record;
    }
    return typeof record.eventId === 'string' && record.eventId.trim() === record.eventId && record.eventId
      ? { ...record, eventId: `schema-${sent}` }
      : record;
  };
  return Array.isArray(body) ? body.map(fresh) : fresh(body);
}

describe('the JSON Schema of a dialect says what POST /his/v1/events accepts', () => {
  const app = useTestApp();
  const validators = new Map<string, ValidateFunction>();

  beforeAll(async () => {
    for (const dialect of [G, B]) {
      const res = await app.request(`/his/v1/schema/${dialect}`);
      expect(res.status).toBe(200);
      const schema = (await res.json()) as Json;
      expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      // `format` is an annotation in 2020-12 (the patterns beside it assert); strict mode refuses unknown keywords.
      validators.set(dialect, new Ajv2020({ strict: true, allErrors: true, validateFormats: false }).compile(schema));
    }
  });

  /** Whether the endpoint accepted the whole body: 202, every receipt `accepted`. */
  async function endpointAccepts(dialect: string, body: unknown): Promise<boolean> {
    const res = await app.request(`/his/v1/events?dialect=${dialect}`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    const answer = (await res.json()) as { receipts?: { status: string }[] };
    expect(res.status).toBeLessThan(500);
    return res.status === 202 && (answer.receipts ?? []).every((r) => r.status === 'accepted');
  }

  it.each([...genericCases.map((c) => [G, c.name, c] as const), ...bundleCases.map((c) => [B, c.name, c] as const)])(
    '%s: %s',
    async (dialect, _name, c) => {
      const body = withFreshIds(dialect, c.body);
      const validate = validators.get(dialect)!;
      const schemaAccepts = validate(body);
      const accepts = await endpointAccepts(dialect, body);
      if (c.notInSchema) {
        // A rule the schema cannot say: the endpoint refuses what the schema lets through.
        expect({ schemaAccepts, endpointAccepts: accepts }).toEqual({ schemaAccepts: true, endpointAccepts: false });
      } else {
        expect({
          schemaAccepts,
          endpointAccepts: accepts,
          errors: schemaAccepts === accepts ? null : validate.errors,
        }).toEqual({ schemaAccepts: accepts, endpointAccepts: accepts, errors: null });
      }
    },
  );

  it.each([G, B])('names in its description the rules of %s it cannot say', async (dialect) => {
    const schema = (await (await app.request(`/his/v1/schema/${dialect}`)).json()) as { description?: string };
    expect(schema.description).toMatch(/11-proef/);
  });
});
