import Client from 'fhir-kit-client';
import type { KeyName, TestApp } from './test-runtime';

/** What tests read of a searchset; a type alias (not an interface) so the client's own types accept it back. */
export type SearchBundle = {
  resourceType: string;
  type: 'searchset';
  total?: number;
  entry?: {
    fullUrl: string;
    resource: { resourceType: string; id: string; recorded?: string; meta?: { tag?: { code: string }[] } };
  }[];
  link?: { relation: string; url: string }[];
};

/** The client types its answers loosely; this checks the one thing paging relies on. */
export function asSearchset(answer: unknown): SearchBundle {
  const b = answer as SearchBundle;
  expect(b).toEqual(expect.objectContaining({ resourceType: 'Bundle', type: 'searchset' }));
  return b;
}

/** fhir-kit-client, a FHIR client written by others, on the test app's `/fhir` with one of its keys. */
export function fhirClient(app: TestApp, key: KeyName): Client {
  return new Client({
    baseUrl: `${app.url}/fhir`,
    customHeaders: { Authorization: `Bearer ${app.testEnv.keys[key]}` },
  });
}
