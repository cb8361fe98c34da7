import http from 'node:http';
import { gzipSync } from 'node:zlib';
import fs from 'node:fs';
import path from 'node:path';
import { buildReferralEvent, OTHER_PRACTICE_AGB } from '../helpers/builders';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { seededRandom } from '../helpers/synthetic-practice';

interface Outcome {
  resourceType: string;
  issue: { code: string; expression?: string[]; details?: { text?: string } }[];
}

describe('bad input gets a clear OperationOutcome naming the field', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ env: { BODY_LIMIT: '64kb' } });
  });

  afterAll(async () => {
    await app.close();
    await cleanupTestEnv(app.testEnv);
  });

  const post = (body: string, contentType = 'application/json') =>
    app.request('/his/v1/events', { method: 'POST', body, headers: { 'content-type': contentType } });

  function withChild(child: Record<string, unknown>): Record<string, unknown> {
    const e = buildReferralEvent();
    return { ...e, child: { ...(e.child as object), ...child } };
  }
  function withReferral(referral: Record<string, unknown>): Record<string, unknown> {
    const e = buildReferralEvent();
    return { ...e, referral: { ...(e.referral as object), ...referral } };
  }

  it.each([
    ['a wrong BSN check digit', 'child.bsn', withChild({ bsn: '111222334' })],
    ['a birth date in the future', 'child.birthDate', withChild({ birthDate: '2999-01-01' })],
    ['an unknown product category', 'referral.productCategory', withReferral({ productCategory: '99' })],
    ['an authoredOn in the future', 'referral.authoredOn', withReferral({ authoredOn: '2999-01-01T10:00:00+01:00' })],
    ['an occurredAt in the future', 'occurredAt', { ...buildReferralEvent(), occurredAt: '2999-01-01T10:00:00+01:00' }],
    ['an unknown referrer type', 'referral.referrerType', withReferral({ referrerType: '77' })],
    ['a missing field', 'referral.authoredOn', withReferral({ authoredOn: undefined })],
    ['a malformed municipality code', 'child.municipality', withChild({ municipality: '0226' })],
    // report-xpen 5: identifiers are passed on to municipalities verbatim; a line break or tab in one was accepted.
    ['a referral id with CR/LF', 'referral.id', withReferral({ id: 'r-x\r\nSet-Cookie: a=b' })],
    ['an eventId with a tab', 'eventId', { ...buildReferralEvent(), eventId: 'e-1\tx' }],
    ['a child id with DEL', 'child.id', withChild({ id: 'c-1\u007fx' })],
    ['a child id with a C1 control', 'child.id', withChild({ id: 'c-1\u0085x' })],
  ])('answers 422 for %s, naming %s', async (_what, expression, event) => {
    const res = await post(JSON.stringify(event));
    expect(res.status).toBe(422);
    const body = (await res.json()) as Outcome;
    expect(body.resourceType).toBe('OperationOutcome');
    expect(body.issue.flatMap((i) => i.expression ?? [])).toContain(expression);
  });

  // One fault, one issue: an id the text rule and the id rule both refuse was told twice (a C0 control), as was a
  // blank one (empty, and leading or trailing spaces).
  it.each([
    ['a C0 control', 'c-1\u0001x', /control characters/],
    ['only spaces', '   ', /must not be empty/],
  ])('names a child id with %s once', async (_what, id, message) => {
    const res = await post(JSON.stringify(withChild({ id })));
    expect(res.status).toBe(422);
    const issues = ((await res.json()) as Outcome).issue.filter((i) => i.expression?.includes('child.id'));
    expect(issues.map((i) => i.details?.text)).toEqual([expect.stringMatching(message)]);
  });

  // report-xhis F4: a rejected Bundle's receipt named no event id, where a rejected generic event's names its own, so
  // a FHIR HIS could match its record to the receipt only by its place in the array.
  it("names a rejected FHIR Bundle's event id (Bundle.identifier) in its receipt", async () => {
    const bundles = JSON.parse(
      fs.readFileSync(path.join(__dirname, '../fixtures/fhir-bundle/array-one-good-one-bad.input.json'), 'utf8'),
    ) as { identifier: { value: string } }[];
    const res = await post(JSON.stringify(bundles), 'application/fhir+json');
    const receipts = ((await res.json()) as { receipts: { status: string; location: string; eventId?: string }[] })
      .receipts;
    expect(receipts.map((r) => [r.location, r.status, r.eventId])).toEqual([
      ['[0]', 'accepted', bundles[0]!.identifier.value],
      ['[1]', 'rejected', bundles[1]!.identifier.value],
    ]);
  });

  // report-xhis F5: a record rejected inside a 202 said only `rejected`; its class showed only in an undocumented
  // outcome.id, so a HIS could not tell a wrong shape from a broken rule or a conflict without guessing.
  it('gives each rejected receipt of a batch the status the record alone would get', async () => {
    const first = buildReferralEvent();
    await post(JSON.stringify(first));
    const batch = [
      buildReferralEvent(),
      withChild({ bsn: '111222334' }),
      withChild({ birthDate: 20120304 }),
      { ...buildReferralEvent(), eventId: first.eventId },
      { ...buildReferralEvent(), practice: { agb: OTHER_PRACTICE_AGB } },
    ];
    const res = await post(JSON.stringify(batch));
    expect(res.status).toBe(202);
    const { receipts } = (await res.json()) as { receipts: { status: string; httpStatus?: number }[] };
    expect(receipts.map((r) => [r.status, r.httpStatus])).toEqual([
      ['accepted', undefined],
      ['rejected', 422],
      ['rejected', 400],
      ['rejected', 409],
      ['rejected', 403],
    ]);
  });

  // report-xhis F8: an array's dialect is chosen by its first element; a record of the other JSON dialect among them was
  // told every field of that dialect it lacked ([1].Bundle.resourceType is required, ...).
  it('names a record of the other JSON dialect in an array as such, once, and keeps the rest', async () => {
    const bundles = JSON.parse(
      fs.readFileSync(path.join(__dirname, '../fixtures/fhir-bundle/array-one-good-one-bad.input.json'), 'utf8'),
    ) as unknown[];
    const generic = buildReferralEvent();
    for (const [body, other] of [
      [[bundles[0], generic], 'generic-json'],
      [[generic, bundles[0]], 'fhir-bundle'],
    ] as const) {
      const res = await post(JSON.stringify(body));
      expect(res.status).toBe(202);
      const { receipts } = (await res.json()) as { receipts: { status: string; outcome?: Outcome }[] };
      expect(receipts[0]!.status).not.toBe('rejected');
      expect(receipts[1]!.outcome!.issue.map((i) => [i.expression, i.details?.text])).toEqual([
        [['[1]'], expect.stringMatching(new RegExp(`^Is a ${other} record in an array .*one dialect`))],
      ]);
    }
  });

  // Structurally invalid (a value of the wrong JSON type) is 400, as FHIR servers answer it; these were 422.
  it.each([
    ['a date as a number', 'child.birthDate', withChild({ birthDate: 20120304 })],
    ['a product category as a number', 'referral.productCategory', withReferral({ productCategory: 45 })],
  ])('answers 400 for %s, naming %s', async (_what, expression, event) => {
    const res = await post(JSON.stringify(event));
    expect(res.status).toBe(400);
    const body = (await res.json()) as Outcome;
    expect(body.issue.filter((i) => i.expression?.includes(expression)).map((i) => i.code)).toEqual(['structure']);
  });

  it('answers an empty object with 422 naming eventType, and an empty array with 400 naming the body', async () => {
    const empty = await post('{}');
    expect(empty.status).toBe(422);
    expect(((await empty.json()) as Outcome).issue.flatMap((i) => i.expression ?? [])).toContain('eventType');
    const none = await post('[]');
    expect(none.status).toBe(400);
    const outcome = (await none.json()) as Outcome;
    expect(outcome.issue.map((i) => [i.expression, i.details?.text])).toEqual([
      [['body'], expect.stringMatching(/no events/)],
    ]);
  });

  // report-xhis F3: an empty body was a 415 naming Content-Type ("Unsupported content type application/json; use one
  // of application/json, ..."), which a client reads as permanent and reconfigures its content type for.
  it.each(['application/json', 'application/fhir+json', 'text/csv'])(
    'answers an empty %s body with 400 naming the body',
    async (contentType) => {
      const res = await post('', contentType);
      expect(res.status).toBe(400);
      const outcome = (await res.json()) as Outcome;
      expect(outcome.issue.map((i) => [i.expression, i.details?.text])).toEqual([
        [['body'], expect.stringMatching(/no events/)],
      ]);
    },
  );

  // report-xregress5 L1, L2: a gzip of nothing was parsed as {} (422 "eventType is required"); a request without a
  // Content-Type was told "Unsupported content type ; use one of ...".
  it('answers a gzip of nothing as an empty body, and names a missing Content-Type as missing', async () => {
    const gzipped = await app.request('/his/v1/events', {
      method: 'POST',
      body: gzipSync(Buffer.alloc(0)),
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
    expect(gzipped.status).toBe(400);
    expect(((await gzipped.json()) as Outcome).issue.map((i) => [i.expression, i.details?.text])).toEqual([
      [['body'], expect.stringMatching(/no events/)],
    ]);
    const untyped = await app.request('/his/v1/events', { method: 'POST' });
    expect(untyped.status).toBe(415);
    expect(((await untyped.json()) as Outcome).issue[0]!.details?.text).toMatch(/^No Content-Type given; use one of /);
  });

  it('answers a body that is not the gzip its Content-Encoding says with 400 naming Content-Encoding, in words', async () => {
    const res = await app.request('/his/v1/events', {
      method: 'POST',
      body: 'this is not gzip',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
    expect(res.status).toBe(400);
    const outcome = (await res.json()) as Outcome;
    expect(outcome.issue[0]!.expression).toEqual(['Content-Encoding']);
    expect(outcome.issue[0]!.details?.text).toMatch(/cannot be decompressed as gzip/);
    expect(outcome.issue[0]!.details?.text).not.toMatch(/header check/);
  });

  it('answers 422 for an unknown ICPC code when the event carries one', async () => {
    const e = buildReferralEvent();
    const res = await post(JSON.stringify({ ...e, referral: { ...(e.referral as object), icpc: 'X99' } }));
    expect(res.status).toBe(422);
    const body = (await res.json()) as Outcome;
    expect(body.issue.flatMap((i) => i.expression ?? []).some((x) => x.startsWith('referral.icpc'))).toBe(true);
  });

  it('answers an unknown ?dialect= with the dialects the media type takes, not the name sent', async () => {
    const res = await app.request('/his/v1/events?dialect=111222333', { json: buildReferralEvent() });
    expect(res.status).toBe(400);
    const body = (await res.json()) as Outcome;
    expect(body.issue[0]).toMatchObject({
      expression: ['dialect'],
      details: { text: 'Unknown dialect for application/json; use one of generic-json, fhir-bundle' },
    });
    expect(JSON.stringify(body)).not.toContain('111222333');
    // Every 400 carries the id of its status, as the others do: a client that switches on it sees one kind.
    expect(body).toMatchObject({ id: 'bad-request' });
  });

  it('answers 400 for malformed JSON without echoing the body', async () => {
    const res = await post('{"eventId": "x", "child": {"bsn": "111222333"');
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).toContain('OperationOutcome');
    expect(text).not.toContain('111222333');
    expect(JSON.parse(text)).toMatchObject({ id: 'bad-request' });
  });

  it('refuses a query parameter a POST route does not take, naming it, as the GET routes do', async () => {
    // A typo of ?dialect= sent a FHIR Bundle to the generic JSON dialect, whose errors pointed elsewhere.
    const cases: [string, 'practice' | 'municipality' | 'auditor', string][] = [
      ['/his/v1/events?dialet=fhir-bundle', 'practice', 'dialet'],
      ['/his/v1/events?dialect=generic-json&x=1', 'practice', 'x'],
      ['/municipality/v1/trajectories/events?x=1', 'municipality', 'x'],
      ['/policy/v1/$explain?x=1', 'auditor', 'x'],
      ['/municipality/v1/referrals/r-1/status?x=1', 'municipality', 'x'],
    ];
    for (const [path, key, name] of cases) {
      const res = await app.request(path, { key, json: buildReferralEvent() });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ expression: [name] }] });
    }
    const named = await app.request('/his/v1/events?dialect=generic-json', { json: buildReferralEvent() });
    expect(named.status).toBe(202);
  });

  it('gives each refusal of a whole request the id of its status', async () => {
    for (const body of ['null', '"x"', '1', '[]']) {
      const res = await post(body);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ resourceType: 'OperationOutcome', id: 'bad-request' });
    }
    const paging = await app.request('/audit/v1/integrity-history?_count=0', { key: 'auditor' });
    expect(paging.status).toBe(400);
    expect(await paging.json()).toMatchObject({ id: 'bad-request', issue: [{ expression: ['_count'] }] });
  });

  it('answers 413 for a body over the size limit', async () => {
    const res = await post(JSON.stringify([buildReferralEvent(), { padding: 'x'.repeat(70 * 1024) }]));
    expect(res.status).toBe(413);
    const outcome = (await res.json()) as Outcome;
    expect(outcome.issue[0]!.code).toBe('too-long');
    expect(outcome.issue[0]!.expression).toEqual(['body']);
  });

  it('answers a body too large without credentials with no-store too, as every other answer of the API', async () => {
    const res = await app.request('/his/v1/events', {
      key: null,
      method: 'POST',
      body: JSON.stringify({ padding: 'x'.repeat(20 * 1024) }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(413);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  // report-xhis X8: a 57 kB gzip body refused "larger than 1mb" made a sender shrink the wrong thing.
  it('says that the size limit counts the body after decompression', async () => {
    const res = await post(JSON.stringify([buildReferralEvent(), { padding: 'x'.repeat(70 * 1024) }]));
    expect(((await res.json()) as Outcome).issue[0]!.details?.text).toBe(
      'Request body is larger than the limit of 64kb (counted after decompression)',
    );
  });

  it('answers a schema of an unknown dialect with 404 naming the dialects there are', async () => {
    const res = await app.request('/his/v1/schema/nope');
    expect(res.status).toBe(404);
    const issue = ((await res.json()) as Outcome).issue[0]!;
    expect(issue.expression).toEqual(['dialect']);
    expect(issue.details?.text).toBe('No dialect of that name; the dialects are: generic-json, fhir-bundle, csv');
  });

  it('answers 415 for an unsupported content type, naming the header', async () => {
    const res = await post('<event/>', 'application/xml');
    expect(res.status).toBe(415);
    expect(((await res.json()) as Outcome).issue[0]!.expression).toEqual(['Content-Type']);
  });

  // A body the JSON-only routes cannot read is refused, not read as none: a text/plain filter of "replay all
  // matching" was dropped, and every dead letter replayed.
  it.each<[string, string, 'operator' | 'municipality' | 'practice']>([
    ['/admin/v1/dead-letters/replay', 'text/plain', 'operator'],
    ['/admin/v1/dead-letters/replay', 'application/x-www-form-urlencoded', 'operator'],
    ['/municipality/v1/referrals/r-1/status', 'text/plain', 'municipality'],
    ['/municipality/v1/trajectories/events', 'text/csv', 'municipality'],
    ['/fhir/Task', 'text/plain', 'municipality'],
    ['/policy/v1/$explain', 'application/x-www-form-urlencoded', 'practice'],
  ])('answers 415 naming Content-Type for a body that is not JSON: POST %s as %s', async (path, type, key) => {
    const res = await app.request(path, {
      method: 'POST',
      key,
      body: '{"destination":"nowhere"}',
      headers: { 'content-type': type },
    });
    expect(res.status).toBe(415);
    expect(((await res.json()) as Outcome).issue[0]!.expression).toEqual(['Content-Type']);
  });

  it('answers a URL over the header limit with a 431 OperationOutcome, not a bare status line', async () => {
    const res = await fetch(`${app.url}/his/v1/events/${'x'.repeat(20_000)}`);
    expect(res.status).toBe(431);
    expect(res.headers.get('content-type')).toBe('application/fhir+json');
    expect(((await res.json()) as Outcome).issue[0]!.code).toBe('too-long');
  });

  it('answers an Expect it cannot meet with a 417 OperationOutcome naming Expect, not a bare status line', async () => {
    const { status, headers, body } = await new Promise<{
      status: number | undefined;
      headers: http.IncomingHttpHeaders;
      body: string;
    }>((resolve, reject) => {
      const req = http.request(`${app.url}/his/v1/events`, {
        method: 'POST',
        headers: { expect: 'something', 'content-type': 'application/json', 'content-length': '2' },
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.end('{}');
    });
    expect(status).toBe(417);
    expect(headers['content-type']).toBe('application/fhir+json');
    expect(headers['cache-control']).toBe('no-store');
    expect(JSON.parse(body)).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ expression: ['Expect'] }] });
  });

  it.each([
    ['a charset other than UTF-8', { 'content-type': 'application/json; charset=ebcdic' }, 'Content-Type'],
    [
      'a Content-Encoding it does not read',
      { 'content-type': 'application/json', 'content-encoding': 'foo' },
      'Content-Encoding',
    ],
  ])('answers 415 for %s, naming the header', async (_what, headers, header) => {
    const res = await app.request('/his/v1/events', { method: 'POST', body: '{}', headers });
    expect(res.status).toBe(415);
    expect(((await res.json()) as Outcome).issue[0]!.expression).toEqual([header]);
  });

  // A FHIR bundle of another version would be read as R4 and mean something else (as POST /fhir/Task answers it).
  it.each(['application/fhir+json; fhirVersion=3.0', 'application/json; fhirVersion=5.0'])(
    'answers 415 naming Content-Type for a body of another FHIR version: %s',
    async (type) => {
      const res = await post(JSON.stringify(buildReferralEvent()), type);
      expect(res.status).toBe(415);
      const outcome = (await res.json()) as Outcome;
      expect(outcome.issue[0]!.expression).toEqual(['Content-Type']);
      expect(outcome.issue[0]!.details?.text).toContain('fhirVersion=4.0');
    },
  );

  it('takes a body that names R4 as its FHIR version', async () => {
    const res = await post(JSON.stringify(buildReferralEvent()), 'application/json; fhirVersion=4.0');
    expect(res.status).toBe(202);
  });

  it('still takes a JSON-only route without a body', async () => {
    const res = await app.request('/admin/v1/dead-letters/replay', { method: 'POST', key: 'operator' });
    expect(res.status).toBe(202);
  });

  it('accepts the valid events of a batch with their own receipts and rejects the rest', async () => {
    const res = await post(
      JSON.stringify([buildReferralEvent(), withChild({ bsn: '123' }), 'not an event', buildReferralEvent()]),
    );
    expect(res.status).toBe(202);
    const body = (await res.json()) as { receipts: { status: string; location: string; outcome?: Outcome }[] };
    expect(body.receipts.map((r) => [r.location, r.status])).toEqual([
      ['[0]', 'accepted'],
      ['[1]', 'rejected'],
      ['[2]', 'rejected'],
      ['[3]', 'accepted'],
    ]);
    expect(body.receipts[1]!.outcome!.issue.flatMap((i) => i.expression ?? [])).toContain('[1].child.bsn');
  });

  it('gives the receipt of a single event no location, never an empty one: its id finds its state', async () => {
    const res = await post(JSON.stringify(buildReferralEvent()));
    expect(res.status).toBe(202);
    const [receipt] = ((await res.json()) as { receipts: Record<string, unknown>[] }).receipts;
    expect(receipt).not.toHaveProperty('location');
    expect((await app.request(`/his/v1/events/${String(receipt!.id)}`)).status).toBe(200);
  });

  it('answers 400 for an empty batch', async () => {
    expect((await post('[]')).status).toBe(400);
  });

  it('serves the JSON Schema of a dialect and 404 for an unknown one', async () => {
    const res = await app.request('/his/v1/schema/generic-json');
    expect(res.status).toBe(200);
    expect(JSON.stringify(await res.json())).toContain('eventType');
    expect((await app.request('/his/v1/schema/nope')).status).toBe(404);
  });
});

const ODD_VALUES: unknown[] = [
  null,
  true,
  0,
  -1,
  1e308,
  '',
  ' ',
  'é\u0000\u202e😀',
  'x'.repeat(5000),
  [],
  {},
  [[]],
  '2026-02-30',
  'GM99999',
];

function mutate(value: unknown, rnd: () => number, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > 6) {
    return rnd() < 0.5 ? ODD_VALUES[Math.floor(rnd() * ODD_VALUES.length)] : value;
  }
  if (Array.isArray(value)) {
    const copy = (value as unknown[]).map((v) => (rnd() < 0.3 ? mutate(v, rnd, depth + 1) : v));
    return rnd() < 0.1 ? [...copy, ODD_VALUES[Math.floor(rnd() * ODD_VALUES.length)]] : copy;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const r = rnd();
    if (r < 0.08) {
      continue; // drop the field
    }
    out[k] = r < 0.35 ? mutate(v, rnd, depth + 1) : v;
  }
  if (rnd() < 0.05) {
    out[`extra${Math.floor(rnd() * 100)}`] = 'unexpected';
  }
  return out;
}

describe('fuzzing POST /his/v1/events', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({});
  });

  afterAll(async () => {
    await app.close();
    await cleanupTestEnv(app.testEnv);
  });

  it('never answers 5xx and stays up over a few thousand random mutations of valid events', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 20261122);
    const rnd = seededRandom(seed);
    const statuses = new Map<number, number>();
    // Half the batches post one event, half post ten: about 3,000 mutated events in all.
    const batches = 550;
    for (let b = 0; b < batches; b++) {
      const events = Array.from({ length: 10 }, () => mutate(buildReferralEvent(), rnd));
      let body = JSON.stringify(rnd() < 0.5 ? events : events[0]);
      if (rnd() < 0.1) {
        // Byte-level damage: cut or corrupt the JSON text itself.
        const at = Math.floor(rnd() * body.length);
        body = rnd() < 0.5 ? body.slice(0, at) : `${body.slice(0, at)}\u0000}${body.slice(at)}`;
      }
      const res = await app.request('/his/v1/events', {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
      });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const text = await res.text();
      if (res.status >= 500) {
        throw new Error(`seed ${seed}, batch ${b}: HTTP ${res.status} ${text.slice(0, 300)}`);
      }
    }
    expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
    // The mutations really exercised both paths: some events were accepted, some rejected.
    expect(statuses.get(202) ?? 0).toBeGreaterThan(0);
    expect((statuses.get(422) ?? 0) + (statuses.get(400) ?? 0)).toBeGreaterThan(0);
    expect((await app.request('/health/ready', { key: null })).status).toBe(200);
  }, 180_000);
});
