import fs from 'node:fs';
import path from 'node:path';
import type { Principal } from '../../src/access/principal';
import { findReferrals } from '../../src/event/feedback';
import { OTHER_PRACTICE_AGB, PRACTICE_AGB } from '../helpers/builders';
import { useTestApp } from '../helpers/test-runtime';

const FIXTURES = path.join(__dirname, '../fixtures');

interface Receipts {
  receipts: { status: string; location: string; outcome?: { issue: { expression?: string[] }[] } }[];
}

interface Receipt {
  status: string;
  id?: string;
  outcome?: { issue: { code: string; expression?: string[]; details?: { text?: string } }[] };
}

/** A fhir-bundle fixture as parsed JSON, with its own event id so this file's events do not meet each other. */
function bundleFixture(name: string, eventId: string): Record<string, unknown> & { entry: Record<string, unknown>[] } {
  const bundle = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'fhir-bundle', `${name}.input.json`), 'utf8')) as {
    identifier: { system: string; value: string };
    entry: Record<string, unknown>[];
  };
  return { ...bundle, identifier: { ...bundle.identifier, value: eventId } };
}

/** A Bundle entry with its ServiceRequest changed by `change` (any other entry as it was). */
function withServiceRequest(
  e: Record<string, unknown>,
  change: (r: Record<string, unknown>) => Record<string, unknown>,
): Record<string, unknown> {
  const resource = e.resource as { resourceType: string };
  return resource.resourceType === 'ServiceRequest' ? { ...e, resource: change(resource) } : e;
}

/** A Bundle entry with a note on its ServiceRequest: content the dialect reads. */
function withNote(e: Record<string, unknown>): Record<string, unknown> {
  return withServiceRequest(e, (r) => ({ ...r, note: [{ text: 'Other reason' }] }));
}

describe('the same endpoint takes every HIS dialect', () => {
  const app = useTestApp();

  async function post(body: string, contentType: string): Promise<{ status: number; receipt: Receipt }> {
    const res = await app.request('/his/v1/events', { method: 'POST', body, headers: { 'content-type': contentType } });
    const json = (await res.json()) as { receipts?: Receipt[] } & Receipt['outcome'];
    return { status: res.status, receipt: json.receipts?.[0] ?? { status: 'rejected', outcome: json } };
  }

  const postBundle = (bundle: unknown) => post(JSON.stringify(bundle), 'application/fhir+json');

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
    const { status, receipt } = await post('[]', 'application/fhir+json');
    expect(status).toBe(400);
    expect(receipt.outcome!.issue[0]).toMatchObject({
      expression: ['body'],
      details: { text: 'The request holds no events' },
    });
  });

  it('names the Consent entry of a Bundle when the consent it withdraws is not recorded', async () => {
    const bundle = JSON.parse(
      fs.readFileSync(path.join(FIXTURES, 'fhir-bundle/consent-withdrawn.input.json'), 'utf8'),
    ) as { identifier: { value: string }; entry: { resource: { resourceType: string; id?: string } }[] };
    const consentAt = bundle.entry.findIndex((e) => e.resource.resourceType === 'Consent');
    // A consent id no other test records.
    bundle.entry[consentAt]!.resource.id = 'cons-never-recorded';
    const { status, receipt } = await postBundle({
      ...bundle,
      identifier: { ...bundle.identifier, value: 'evt-unknown-withdrawal' },
    });
    expect(status).toBe(202);
    expect(receipt.status).toBe('accepted');
    expect(receipt.outcome!.issue.map((i) => i.expression)).toEqual([[`Bundle.entry[${consentAt}].resource.id`]]);
  });

  it("matches a HIS's own identifier by its bare value within the caller's practices only, not under others' numbers", async () => {
    const own = { system: 'https://his.example.nl/fhir/NamingSystem/verwijzing', value: 'V-shared-1001' };
    const bundle = bundleFixture('referral-created-ggz', 'evt-his-scope-1');
    const request = bundle.entry.find(
      (e) => (e.resource as { resourceType: string }).resourceType === 'ServiceRequest',
    )!;
    request.resource = { ...(request.resource as object), identifier: [own] };
    const { receipt } = await postBundle(bundle);
    expect(receipt.status).toBe('accepted');
    // Another practice's HIS numbers its referrals alike: 50 newer referrals carry the same value.
    await app.rt.ctx.db.query(
      `WITH clones AS (
         INSERT INTO inbox SELECT (jsonb_populate_record(NULL::inbox, to_jsonb(i) || jsonb_build_object(
           'id', gen_random_uuid(), 'tenant', $2::text, 'source_event_id', 'evt-his-scope-clone-' || g,
           'received_at', now() + g * interval '1 second', 'received_seq', nextval('inbox_received_seq')))).*
         FROM inbox i, generate_series(1, 50) g WHERE i.id = $1
         RETURNING id, source_event_id)
       INSERT INTO referral_identifier SELECT (jsonb_populate_record(NULL::referral_identifier, to_jsonb(r) ||
         jsonb_build_object('inbox_id', c.id, 'tenant', $2::text, 'value', c.source_event_id,
           'service_request_id', gen_random_uuid()))).*
       FROM referral_identifier r, clones c WHERE r.inbox_id = $1`,
      [receipt.id, OTHER_PRACTICE_AGB],
    );
    const practice: Principal = {
      id: 'api-key:his-scope',
      role: 'practice',
      practices: [PRACTICE_AGB],
      municipalities: [],
      via: 'api-key',
    };
    const found = await findReferrals(app.rt.ctx, own.value, practice);
    expect(found.map((r) => r.row.id)).toEqual([receipt.id]);
  });

  describe('a re-send is decided on what the dialect reads, not on the bytes sent', () => {
    it('takes a Bundle built again with only ignored elements changed as a duplicate of the first', async () => {
      const bundle = bundleFixture('referral-created-ggz', 'evt-rebuilt-1');
      const first = await postBundle(bundle);
      expect(first.receipt).toEqual(expect.objectContaining({ status: 'accepted' }));
      // A HIS that builds the Bundle again for its retry: a new meta.lastUpdated, entry.request from its FHIR layer.
      const rebuilt = {
        ...bundle,
        meta: { lastUpdated: '2026-11-20T10:16:00+01:00' },
        entry: bundle.entry.map((e, i) => (i === 0 ? { ...e, request: { method: 'PUT', url: 'Organization/x' } } : e)),
      };
      const again = await postBundle(rebuilt);
      expect(again.status).toBe(202);
      expect(again.receipt).toEqual(expect.objectContaining({ status: 'duplicate', id: first.receipt.id }));
    });

    it('still refuses other content under the same event id (409 naming eventId)', async () => {
      const bundle = bundleFixture('referral-created-ggz', 'evt-rebuilt-2');
      const first = await postBundle(bundle);
      expect(first.receipt.status).toBe('accepted');
      const refused = await postBundle({ ...bundle, entry: bundle.entry.map(withNote) });
      expect(refused.status).toBe(409);
      expect(refused.receipt.outcome!.issue[0]).toEqual(
        expect.objectContaining({ code: 'conflict', expression: ['eventId'] }),
      );
      expect(refused.receipt.outcome!.issue[0]!.details!.text).toContain(first.receipt.id);
    });

    it('refuses a re-send that changes only an identifier the canonical event drops (the HIS addresses it so)', async () => {
      const bundle = bundleFixture('referral-created-ggz', 'evt-rebuilt-4');
      const first = await postBundle(bundle);
      expect(first.receipt.status).toBe('accepted');
      // An AGB-based identifier is not kept in the canonical event, but is part of how the HIS addresses its referral.
      const changed = {
        ...bundle,
        entry: bundle.entry.map((e) =>
          withServiceRequest(e, (r) => ({
            ...r,
            identifier: [
              ...((r.identifier as unknown[] | undefined) ?? []),
              { system: 'urn:agb:ref', value: 'other-4' },
            ],
          })),
        ),
      };
      const refused = await postBundle(changed);
      expect(refused.receipt.outcome?.issue[0]).toEqual(
        expect.objectContaining({ code: 'conflict', expression: ['eventId'] }),
      );
      expect(refused.status).toBe(409);
    });

    it('compares each Bundle of a rebuilt batch with its own stored event: duplicates, and a 409 for the changed one', async () => {
      const bundles = ['evt-rebuilt-5', 'evt-rebuilt-6', 'evt-rebuilt-7'].map((id) =>
        bundleFixture('referral-created-ggz', id),
      );
      const first = await app.request('/his/v1/events', {
        method: 'POST',
        body: JSON.stringify(bundles),
        headers: { 'content-type': 'application/fhir+json' },
      });
      const ids = ((await first.json()) as { receipts: Receipt[] }).receipts.map((r) => [r.status, r.id]);
      expect(ids.map(([status]) => status)).toEqual(['accepted', 'accepted', 'accepted']);
      const rebuilt = bundles.map((b, n) => ({
        ...b,
        meta: { lastUpdated: '2026-11-20T10:18:00+01:00' },
        ...(n === 1 ? { entry: b.entry.map((e) => withNote(e)) } : {}),
      }));
      const again = await app.request('/his/v1/events', {
        method: 'POST',
        body: JSON.stringify(rebuilt),
        headers: { 'content-type': 'application/fhir+json' },
      });
      const receipts = ((await again.json()) as { receipts: Receipt[] }).receipts;
      expect(receipts.map((r) => [r.status, r.status === 'rejected' ? ids[1]![1] : r.id])).toEqual([
        ['duplicate', ids[0]![1]],
        ['rejected', ids[1]![1]],
        ['duplicate', ids[2]![1]],
      ]);
      expect(receipts[1]!.outcome!.issue[0]).toEqual(expect.objectContaining({ code: 'conflict' }));
    });

    it('recognises a rebuilt re-send of an event stored before its canonical event was kept', async () => {
      const bundle = bundleFixture('referral-created-ggz', 'evt-rebuilt-3');
      const first = await postBundle(bundle);
      expect(first.receipt.status).toBe('accepted');
      // As an older build stored it: the digest of the record as sent, no canonical event beside the record.
      await app.rt.ctx.db.query('UPDATE inbox SET canonical = NULL, canonical_key_id = NULL WHERE id = $1', [
        first.receipt.id,
      ]);
      // The byte-for-byte (JCS) re-send still matches the digest stored at receipt.
      expect((await postBundle(bundle)).receipt.status).toBe('duplicate');
      const rebuilt = { ...bundle, meta: { lastUpdated: '2026-11-20T10:17:00+01:00' } };
      expect((await postBundle(rebuilt)).receipt).toEqual(
        expect.objectContaining({ status: 'duplicate', id: first.receipt.id }),
      );
    });

    it('takes a CSV row written again with a date the other Dutch way as a duplicate', async () => {
      const lines = fs
        .readFileSync(path.join(FIXTURES, 'csv/contact-closes-trajectory.input.csv'), 'utf8')
        .trim()
        .split(/\r?\n/);
      const [header, row] = [lines[0]!, lines[1]!.replace('con-5004', 'con-rebuilt-1')];
      const first = await post(`${header}\r\n${row}`, 'text/csv');
      expect(first.receipt.status).toBe('accepted');
      const dutch = row.replace(',2025-02-24,', ',24-02-2025,');
      expect(dutch).not.toBe(row);
      expect((await post(`${header}\r\n${dutch}`, 'text/csv')).receipt).toEqual(
        expect.objectContaining({ status: 'duplicate', id: first.receipt.id }),
      );
    });
  });
});
