import { redactQuery, redactUrl } from '../../../src/kernel/span-scrub';

describe('span scrubbing', () => {
  it.each([
    ['patient=111222333', 'patient=REDACTED'],
    [
      'patient:identifier=http://fhir.nl/fhir/NamingSystem/bsn|111222333&_count=5',
      'patient%3Aidentifier=REDACTED&_count=REDACTED',
    ],
    ['patient=1&patient=2', 'patient=REDACTED&patient=REDACTED'],
    ['111222333', 'REDACTED=REDACTED'],
    ['', ''],
  ])('keeps the names of %j and replaces every value', (query, redacted) => {
    expect(redactQuery(query)).toBe(redacted);
  });

  it.each([
    ['http://host:8080/fhir/Consent?patient=111222333#x', 'http://host:8080/fhir/Consent?patient=REDACTED'],
    ['/audit/v1/overview?patient=111222333', '/audit/v1/overview?patient=REDACTED'],
    ['/his/v1/events', '/his/v1/events'],
  ])('redacts the query of the URL %s', (url, redacted) => {
    expect(redactUrl(url)).toBe(redacted);
  });
});
