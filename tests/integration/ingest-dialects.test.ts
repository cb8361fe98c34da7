import fs from 'node:fs';
import path from 'node:path';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';

const FIXTURES = path.join(__dirname, '../fixtures');

interface Receipts {
  receipts: { status: string; location: string; outcome?: { issue: { expression?: string[] }[] } }[];
}

describe('the same endpoint takes every HIS dialect', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({});
  });

  afterAll(async () => {
    await app.close();
    await cleanupTestEnv(app.testEnv);
  });

  it('accepts the good rows of a CSV upload and names row and column of the bad ones', async () => {
    const good = fs
      .readFileSync(path.join(FIXTURES, 'csv/contact-closes-trajectory.input.csv'), 'utf8')
      .trim()
      .split(/\r?\n/);
    const bad = fs.readFileSync(path.join(FIXTURES, 'csv/bad-values.input.csv'), 'utf8').trim().split(/\r?\n/);
    // The header, a good row, a row whose BSN fails the 11-proef, and the good row's file again.
    const body = [good[0], good[1], bad[1]].join('\r\n');
    const res = await app.request('/his/v1/events', { method: 'POST', body, headers: { 'content-type': 'text/csv' } });
    expect(res.status).toBe(202);
    const { receipts } = (await res.json()) as Receipts;
    expect(receipts.map((r) => [r.location, r.status])).toEqual([
      ['row 2', 'accepted'],
      ['row 3', 'rejected'],
    ]);
    expect(receipts[1]!.outcome!.issue.flatMap((i) => i.expression ?? [])).toEqual(['row 3.bsn']);
  });

  it('answers a POST of events with JSON receipts of the right length and no ETag, which no one asks again for', async () => {
    const body = fs.readFileSync(path.join(FIXTURES, 'csv/contact-closes-trajectory.input.csv'), 'utf8');
    const res = await app.request('/his/v1/events', { method: 'POST', body, headers: { 'content-type': 'text/csv' } });
    expect(res.status).toBe(202);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('etag')).toBeNull();
    const text = await res.text();
    expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(text));
    expect((JSON.parse(text) as Receipts).receipts.length).toBeGreaterThan(0);
  });

  it('answers a CSV file whose rows are all bad with 422 listing each row and column', async () => {
    const lines = fs.readFileSync(path.join(FIXTURES, 'csv/bad-values.input.csv'), 'utf8').trim().split(/\r?\n/);
    const body = lines.slice(0, 4).join('\n'); // the header and three bad rows
    const res = await app.request('/his/v1/events', { method: 'POST', body, headers: { 'content-type': 'text/csv' } });
    const outcome = (await res.json()) as { issue: { expression?: string[] }[] };
    expect(res.status).toBe(422);
    const expressions = outcome.issue.flatMap((i) => i.expression ?? []);
    expect(expressions).toEqual(expect.arrayContaining(['row 2.bsn', 'row 3.icpc', 'row 4.birth_date']));
  });

  it('takes a FHIR Bundle as application/fhir+json and as application/json', async () => {
    const bundle = JSON.parse(
      fs.readFileSync(path.join(FIXTURES, 'fhir-bundle/consent-10y-one-guardian-with-authority.input.json'), 'utf8'),
    ) as { identifier?: { value?: string } };
    for (const contentType of ['application/fhir+json', 'application/json']) {
      const copy = { ...bundle, identifier: { ...bundle.identifier, value: `bundle-${contentType}` } };
      const res = await app.request('/his/v1/events', {
        method: 'POST',
        body: JSON.stringify(copy),
        headers: { 'content-type': contentType },
      });
      expect(res.status).toBe(202);
      expect(((await res.json()) as Receipts).receipts[0]!.status).toBe('accepted');
    }
  });

  it('says an empty array of Bundles holds no events, naming body', async () => {
    const res = await app.request('/his/v1/events', {
      method: 'POST',
      body: '[]',
      headers: { 'content-type': 'application/fhir+json' },
    });
    expect(res.status).toBe(400);
    const outcome = (await res.json()) as { issue: { expression?: string[]; details?: { text?: string } }[] };
    expect(outcome.issue[0]).toMatchObject({ expression: ['body'], details: { text: 'The request holds no events' } });
  });

  it('names the Consent entry of a Bundle when the consent it withdraws is not recorded', async () => {
    const bundle = JSON.parse(
      fs.readFileSync(path.join(FIXTURES, 'fhir-bundle/consent-withdrawn.input.json'), 'utf8'),
    ) as { identifier: { value: string }; entry: { resource: { resourceType: string; id?: string } }[] };
    const consentAt = bundle.entry.findIndex((e) => e.resource.resourceType === 'Consent');
    // A consent id no other test records.
    bundle.entry[consentAt]!.resource.id = 'cons-never-recorded';
    const body = JSON.stringify({ ...bundle, identifier: { ...bundle.identifier, value: 'evt-unknown-withdrawal' } });
    const res = await app.request('/his/v1/events', {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/fhir+json' },
    });
    expect(res.status).toBe(202);
    const { receipts } = (await res.json()) as Receipts;
    expect(receipts[0]!.status).toBe('accepted');
    expect(receipts[0]!.outcome!.issue.map((i) => i.expression)).toEqual([[`Bundle.entry[${consentAt}].resource.id`]]);
  });
});
