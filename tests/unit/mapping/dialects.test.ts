import { DIALECTS } from '../../../mappings/his/index';
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
  ])('sends a %s body to the right dialect (%#)', (mediaType, body, expected) => {
    expect(dialectFor(mediaType, body)).toBe(expected);
  });

  it.each(DIALECTS.map((d) => [d.name, d] as const))('serves a JSON Schema for %s', (_name, d) => {
    const schema = d.jsonSchema() as { type?: unknown; anyOf?: unknown; oneOf?: unknown };
    expect(schema.type ?? schema.anyOf ?? schema.oneOf).toBeDefined();
    expect(() => JSON.stringify(schema)).not.toThrow();
  });
});
