import fs from 'node:fs';
import path from 'node:path';
import type { HisDialect } from '../../src/contracts/his-dialect';
import type * as HisDialects from '../../mappings/his/index';
import { useTestApp } from '../helpers/test-runtime';

/**
 * A dialect added as README "Extending jeugdbrug" says (a folder and a line in mappings/his/index.ts) with a media type
 * of its own: here the CSV dialect's rows with tabs, as `text/tab-separated-values`. Until 6 December the API read only
 * JSON and `text/csv` bodies, and answered this one 415 while naming its type among the supported ones.
 */
jest.mock('../../mappings/his/index', () => {
  const actual = jest.requireActual<typeof HisDialects>('../../mappings/his/index');
  const csv = actual.DIALECTS.find((d) => d.name === 'csv')!;
  const tsv: HisDialect = {
    ...csv,
    name: 'tsv',
    contentTypes: ['text/tab-separated-values'],
    split: (body) => csv.split(typeof body === 'string' ? body.replaceAll('\t', ',') : body),
  };
  const DIALECTS = [...actual.DIALECTS, tsv];
  return { ...actual, DIALECTS, tryGetDialect: (name: string) => DIALECTS.find((d) => d.name === name) };
});

describe('a HIS dialect with a media type of its own', () => {
  const app = useTestApp();

  it('is read by the API with no other change than the dialect', async () => {
    const csv = fs.readFileSync(path.join(__dirname, '../fixtures/csv/contact-closes-trajectory.input.csv'), 'utf8');
    expect(csv).not.toContain('\t');
    const body = csv.replaceAll(',', '\t');
    const res = await app.request('/his/v1/events', {
      method: 'POST',
      body,
      headers: { 'content-type': 'text/tab-separated-values' },
    });
    expect(res.status).toBe(202);
    const { receipts } = (await res.json()) as { receipts: { status: string }[] };
    expect(receipts.length).toBeGreaterThan(0);
    expect(receipts.every((r) => r.status === 'accepted')).toBe(true);
  });

  it('is in the OpenAPI document as a body of POST /his/v1/events', async () => {
    const doc = (await (await app.request('/openapi.json', { key: null })).json()) as {
      paths: Record<string, { post?: { requestBody?: { content: Record<string, unknown> } } }>;
    };
    const content = doc.paths['/his/v1/events']!.post!.requestBody!.content;
    expect(Object.keys(content).sort()).toEqual(
      ['application/fhir+json', 'application/json', 'text/csv', 'text/tab-separated-values'].sort(),
    );
  });
});
