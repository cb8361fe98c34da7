import type { ServiceRequest } from '@medplum/fhirtypes';
import { DIALECTS, tryGetDialect } from '../../../mappings/his/index';
import { readInput } from './run-dialect';

/** How a body finds its dialect: by media type, then `claims` where dialects share one. */
function dialectFor(mediaType: string, body: unknown): string | undefined {
  return DIALECTS.find((d) => d.contentTypes.includes(mediaType) && d.claims(body))?.name;
}

describe('the dialect registry', () => {
  it('holds the three HIS dialects under their URL-safe names', () => {
    expect(DIALECTS.map((d) => d.name)).toEqual(['generic-json', 'fhir-bundle', 'csv']);
  });

  it.each([
    ['application/json', readInput('generic-json', 'contact-17y-phone'), 'generic-json'],
    ['application/json', readInput('generic-json', 'array-one-good-one-bad'), 'generic-json'],
    ['application/json', readInput('fhir-bundle', 'contact-17y-phone'), 'fhir-bundle'],
    ['application/json', readInput('fhir-bundle', 'array-one-good-one-bad'), 'fhir-bundle'],
    ['application/fhir+json', readInput('fhir-bundle', 'contact-17y-phone'), 'fhir-bundle'],
    ['text/csv', readInput('csv', 'contact-17y-no-guardians'), 'csv'],
    ['application/json', { resourceType: 'Patient' }, undefined],
    ['application/json', [], 'generic-json'],
    ['application/fhir+json', [], 'fhir-bundle'],
  ])('sends a %s body to the right dialect (%#)', (mediaType, body, expected) => {
    expect(dialectFor(mediaType, body)).toBe(expected);
  });

  it.each(DIALECTS.map((d) => [d.name, d] as const))('serves a JSON Schema for %s', (_name, d) => {
    const schema = d.jsonSchema() as { type?: unknown; anyOf?: unknown; oneOf?: unknown };
    expect(schema.type ?? schema.anyOf ?? schema.oneOf).toBeDefined();
    expect(() => JSON.stringify(schema)).not.toThrow();
  });

  it("forwards a fhir-bundle HIS's own referral identifiers after the referral id, not jeugdbrug's systems nor a BSN", () => {
    const bundle = readInput('fhir-bundle', 'referral-created-ggz') as {
      entry: { resource: Record<string, unknown> }[];
    };
    const request = bundle.entry.find((e) => e.resource.resourceType === 'ServiceRequest')!.resource;
    const own = { system: 'https://his.example.nl/referral', value: 'REF-A-1' };
    request.identifier = [
      own,
      own,
      { system: 'urn:agb:01234567:referral', value: 'spoof' },
      { system: 'https://jeugdbrug.nl/fhir/NamingSystem/resource-id', value: 'spoof' },
      { system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: '123456782' },
      { value: 'no-system' },
    ];
    const event = tryGetDialect('fhir-bundle')!.map({ value: bundle, location: '' });
    const mapped = event.resources.find((r): r is ServiceRequest => r.resourceType === 'ServiceRequest')!;
    expect(mapped.identifier).toEqual([{ system: 'urn:agb:01234567:referral', value: request.id }, own]);
  });
});
