import { randomBytes } from 'node:crypto';
import { sealAnswer, summariseAnswer } from '../../../src/event/receiver-answer';
import { loadPayloadCipher } from '../../../src/kernel/payload-crypto';

const outcome = (issue: unknown): string => JSON.stringify({ resourceType: 'OperationOutcome', issue });
const FHIR = 'application/fhir+json';

describe("what operators see of a receiver's answer", () => {
  it.each([
    [
      'an HTML error page: its type and size, no text',
      { body: '<h1>BSN 123456782</h1>', contentType: 'text/html; charset=utf-8' },
      { contentType: 'text/html', size: 22 },
    ],
    [
      'JSON that is not an OperationOutcome: its type and size',
      { body: '{"echo":{"bsn":"123456782"}}', contentType: 'Application/JSON' },
      { contentType: 'application/json', size: 28 },
    ],
    [
      'the size in bytes, not characters',
      { body: 'één', contentType: 'text/plain' },
      { contentType: 'text/plain', size: 5 },
    ],
    [
      'no content type',
      { body: outcome([{ severity: 'error', code: 'invalid' }]) },
      { contentType: null, size: expect.any(Number) },
    ],
    ['an unreadable content type', { body: '', contentType: '123456782' }, { contentType: null, size: 0 }],
    [
      'an OperationOutcome: severity, code and plain paths of its issues, never diagnostics or details',
      {
        body: outcome([
          {
            severity: 'error',
            code: 'required',
            diagnostics: 'BSN 123456782',
            details: { text: 'Jansen' },
            expression: ['Bundle.entry[2].resource.identifier[0]', 'Patient.birthDate'],
          },
        ]),
        contentType: `${FHIR}; fhirVersion=4.0`,
      },
      {
        contentType: FHIR,
        size: expect.any(Number),
        issues: [
          {
            severity: 'error',
            code: 'required',
            expression: ['Bundle.entry[2].resource.identifier[0]', 'Patient.birthDate'],
          },
        ],
      },
    ],
    [
      'an OperationOutcome: codes outside FHIR’s lists and paths that carry a value left out',
      {
        body: outcome([
          { severity: 'Jansen', code: '123456782', expression: ["Patient.identifier.where(value='123456782')"] },
          { severity: 'warning', code: 'business-rule', expression: ['Patient.identifier 123456782', 42] },
          'not an issue',
        ]),
        contentType: FHIR,
      },
      { contentType: FHIR, size: expect.any(Number), issues: [{}, { severity: 'warning', code: 'business-rule' }, {}] },
    ],
    [
      'an OperationOutcome that is not valid JSON: its type and size',
      { body: '{"resourceType":"OperationOutcome",', contentType: FHIR },
      { contentType: FHIR, size: 35 },
    ],
  ])('%s', (_, answer, summary) => {
    expect(summariseAnswer(answer)).toEqual(summary);
  });

  it.each([
    [
      'an absolute URL: without query, fragment or credentials',
      'https://u:p@gw.example.nl/isam2/aanmeldingen?token=x#y',
      'https://gw.example.nl',
    ],
    // A path of plain words may be a surname (`/zoek/jansen`): no path is kept, however it looks (opsfix 3).
    [
      'a path of words with a version: its origin',
      'https://gw.example.nl:8443/api/v2/jeugd-hulp/$process',
      'https://gw.example.nl:8443',
    ],
    [
      'a path of words that could be a surname: its origin',
      'https://gw.example.nl/clienten/jansen',
      'https://gw.example.nl',
    ],
    ['a path of one word: its origin', 'http://gw.example.nl:8080/devries', 'http://gw.example.nl:8080'],
    // A path may name a client or a resource by id: only scheme, host and port are kept (opsalerts 3).
    [
      'a path with a BSN in it: its origin',
      'https://gw.example.nl:8443/isam2/clients/123456782/aanmeldingen',
      'https://gw.example.nl:8443',
    ],
    [
      'a path with a resource id: its origin',
      'http://fhir.example.nl/fhir/Patient/3f2a6c1e-9b7d-4e2a-8c1f-0a9b8c7d6e5f',
      'http://fhir.example.nl',
    ],
    [
      'a path with a client number: its origin',
      'https://gw.example.nl/clienten/c-20231118/dossier',
      'https://gw.example.nl',
    ],
    ['a path with an encoded value: its origin', 'https://gw.example.nl/zoek/jan%20jansen', 'https://gw.example.nl'],
  ])("keeps a redirect's Location, %s (report-xmuni 5)", (_, location, kept) => {
    expect(summariseAnswer({ body: '', contentType: 'text/html', location })).toEqual({
      contentType: 'text/html',
      size: 0,
      location: kept,
    });
  });

  it.each([
    ['a relative one whose path holds an id', '/isam2/clients/123456782'],
    ['a relative one whose path holds a token', '/callback/eyJhbGciOiJIUzI1NiJ9'],
    // It names no scheme, host or port, and its path of words may be a surname (opsfix 3).
    ['a relative one whose path is words', '/isam2/aanmeldingen?bsn=123456782'],
    ['a relative one whose path could be a surname', '/clienten/jansen'],
    ['one without a host', 'mailto:gw@example.nl'],
  ])("keeps nothing of a redirect's Location, %s", (_, location) => {
    expect(summariseAnswer({ body: '', contentType: 'text/html', location })).toEqual({
      contentType: 'text/html',
      size: 0,
    });
  });

  it('shows at most 20 issues', () => {
    const summary = summariseAnswer({
      body: outcome(Array.from({ length: 50 }, () => ({ severity: 'error', code: 'invalid' }))),
      contentType: FHIR,
    });
    expect(summary.issues).toHaveLength(20);
  });
});

describe("a receiver's answer as it is kept", () => {
  const cipher = loadPayloadCipher(`k1:${randomBytes(32).toString('base64')}`, '/nonexistent');

  it('is encrypted, its first 4,000 characters, with the size of the whole in its summary', () => {
    const body = `{"echo":"123456782${'x'.repeat(5000)}"}`;
    const sealed = sealAnswer(cipher, { body, contentType: 'application/json' })!;
    expect(sealed.data.includes('123456782')).toBe(false);
    expect(cipher.decrypt(sealed.keyId, sealed.data)).toBe(body.slice(0, 4000));
    expect(sealed.summary).toEqual({ contentType: 'application/json', size: body.length });
  });

  it('is nothing when there was no answer', () => {
    expect(sealAnswer(cipher, undefined)).toBeUndefined();
  });
});
