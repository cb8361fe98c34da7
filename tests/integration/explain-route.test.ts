import { EXPLAIN_ROUTE } from '../../src/http/consent-router';
import { requestListener } from '../../src/http/lean-route';
import { buildConsentEvent, buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { auditRowsOf, useComparedApps } from '../helpers/compared-apps';
import { rawAnswer, type RawRequest } from '../helpers/raw-answer';
import { useTestApp, type KeyName } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * `POST /policy/v1/$explain` is a route of the app itself, ahead of the `/policy/v1` mount (app.ts): fewer router
 * layers for the busiest read; and the server takes the requests it can ahead of the router altogether (its lean
 * route, lean-route.ts). These tests send the same requests to the app as served (lean route first), to the app alone
 * and to the same app without the route, whose requests then take `/policy/v1` and the consent router as before, and
 * require the same answers: status, every header (in order) but those unique to one answer, the body but the time it
 * was asked at.
 */
describe('POST /policy/v1/$explain answers as it did under the /policy/v1 router', () => {
  const app = useTestApp();
  const { appFor, serve, served } = useComparedApps(app, EXPLAIN_ROUTE);
  let lean: string;
  let direct: string;
  let viaRouter: string;
  /** Requests the app as served by `lean` passed to Express's router. */
  let routedFromLean = 0;
  let child: { bsn: string; birthDate: string };

  beforeAll(async () => {
    lean = await serve(served(appFor(true), () => routedFromLean++));
    direct = await serve(appFor(true));
    viaRouter = await serve(appFor(false));
    const referral = buildReferralEvent();
    const { bsn, birthDate } = referral.child as typeof child;
    child = { bsn, birthDate };
    const stored = await app.request('/his/v1/events', {
      json: buildConsentEvent(referral, { givenBy: [{ kind: 'child' }] }),
    });
    expect(stored.status).toBe(202);
    await waitFor('the consent to be stored', async () => {
      const res = await fetch(`${direct}/policy/v1/$explain`, request({ body: goodBody() }));
      const body = (await res.json()) as { considered?: { consents?: unknown[] } };
      return body.considered?.consents?.length === 1 ? true : undefined;
    });
  });

  function goodBody(more: Record<string, unknown> = {}): string {
    return JSON.stringify({
      practice: PRACTICE_AGB,
      municipality: 'GM0226',
      purpose: 'referral',
      dataClasses: ['Patient', 'ServiceRequest'],
      child,
      guardians: [{ relatedPersonId: 'g1', hasAuthority: true }],
      ...more,
    });
  }

  function request(opts: {
    body?: string;
    key?: KeyName | null;
    method?: string;
    headers?: Record<string, string>;
    path?: string;
  }): RequestInit & { path?: string } {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
    const key = opts.key === undefined ? 'practice' : opts.key;
    if (key) {
      headers.authorization = `Bearer ${app.testEnv.keys[key]}`;
    }
    return { method: opts.method ?? 'POST', headers, body: opts.body, path: opts.path };
  }

  /** What must be the same: headers unique to one answer (its time, request id and trace) are left out. */
  async function answer(base: string, init: RawRequest): Promise<unknown> {
    const { status, headers, text } = await rawAnswer(base, '/policy/v1/$explain', init);
    // The time asked at (and the `at` of the request it echoes), when the body does not give one.
    const body = text.replace(/"at":"[^"]+"/g, '"at":"…"');
    return { status, headers, body };
  }

  // Each with the status both must answer (so that a case cannot quietly test something else).
  const cases: [string, number, () => RequestInit][] = [
    ['a described child with a consent on record', 200, () => request({ body: goodBody() })],
    ['at a given time', 200, () => request({ body: goodBody({ at: '2026-01-01T00:00:00Z' }) })],
    ['by the auditor', 200, () => request({ body: goodBody(), key: 'auditor' })],
    [
      'an unknown event',
      404,
      () => request({ body: JSON.stringify({ eventId: '0b5e0e55-2f4e-4d8e-9d34-2c1c3b1f0a11' }) }),
    ],
    ['an invalid BSN, named', 422, () => request({ body: goodBody({ child: { bsn: '123456789' } }) })],
    ['an unknown field', 422, () => request({ body: goodBody({ extra: true }) })],
    ['a body that is not JSON', 400, () => request({ body: '{"practice":' })],
    ['no credential', 401, () => request({ body: goodBody(), key: null })],
    ['a municipality', 403, () => request({ body: goodBody(), key: 'municipality' })],
    ['another practice, naming practice', 403, () => request({ body: goodBody(), key: 'otherPractice' })],
    ['text that cannot be stored', 400, () => request({ body: goodBody({ purpose: 'refer\u0000ral' }) })],
    ['a body of another media type', 415, () => request({ body: 'x', headers: { 'content-type': 'image/png' } })],
    ['a body over the limit', 413, () => request({ body: goodBody({ pad: 'x'.repeat(2_000_000) }) })],
    ['GET', 405, () => request({ method: 'GET' })],
    ['OPTIONS (Express answers with Allow)', 200, () => request({ method: 'OPTIONS' })],
  ];

  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  // Each taken by the lean route (the app's router never sees it), or (`routed`) passed to the app as it came.
  const leanCases: [string, number, 'lean' | 'routed', () => RequestInit & { slowBody?: boolean }][] = [
    ['a described child', 200, 'lean', () => request({ body: goodBody() })],
    ['by the auditor', 200, 'lean', () => request({ body: goodBody(), key: 'auditor' })],
    ['a body sent after its headers', 200, 'lean', () => ({ ...request({ body: goodBody() }), slowBody: true })],
    [
      'a body not JSON, sent after its headers',
      400,
      'lean',
      () => ({ ...request({ body: '{"practice":' }), slowBody: true }),
    ],
    [
      'with X-API-Key',
      200,
      'lean',
      () => request({ body: goodBody(), key: null, headers: { 'x-api-key': app.testEnv.keys.practice } }),
    ],
    [
      'a Content-Type naming UTF-8',
      200,
      'lean',
      () => request({ body: goodBody(), headers: { 'content-type': 'application/json; charset=utf-8' } }),
    ],
    [
      'a body after a byte-order mark',
      200,
      'lean',
      () => request({ body: Buffer.concat([bom, Buffer.from(goodBody())]) as unknown as string }),
    ],
    [
      'an unknown event',
      404,
      'lean',
      () => request({ body: JSON.stringify({ eventId: '0b5e0e55-2f4e-4d8e-9d34-2c1c3b1f0a11' }) }),
    ],
    ['an empty object', 422, 'lean', () => request({ body: '{}' })],
    ['a byte-order mark alone', 422, 'lean', () => request({ body: bom as unknown as string })],
    ['a JSON array', 400, 'lean', () => request({ body: '[1]' })],
    ['JSON null', 422, 'lean', () => request({ body: 'null' })],
    ['an invalid BSN, named', 422, 'lean', () => request({ body: goodBody({ child: { bsn: '123456789' } }) })],
    ['a body that is not JSON', 400, 'lean', () => request({ body: '{"practice":' })],
    [
      'a body not valid UTF-8',
      400,
      'lean',
      () =>
        request({
          body: Buffer.concat([
            Buffer.from(goodBody().slice(0, -2)),
            Buffer.from([0xff, 0x22, 0x7d]),
          ]) as unknown as string,
        }),
    ],
    ['text that cannot be stored', 400, 'lean', () => request({ body: goodBody({ purpose: 'refer\u0000ral' }) })],
    [
      'a key not on file',
      401,
      'lean',
      () => request({ body: goodBody(), key: null, headers: { 'x-api-key': 'jb_nope_x' } }),
    ],
    [
      'two credentials',
      401,
      'lean',
      () => request({ body: goodBody(), headers: { 'x-api-key': app.testEnv.keys.practice } }),
    ],
    ['a municipality', 403, 'lean', () => request({ body: goodBody(), key: 'municipality' })],
    ['another practice, naming practice', 403, 'lean', () => request({ body: goodBody(), key: 'otherPractice' })],
    ['no credential', 401, 'routed', () => request({ body: goodBody(), key: null })],
    [
      'a Content-Type in capitals',
      200,
      'routed',
      () => request({ body: goodBody(), headers: { 'content-type': 'Application/JSON' } }),
    ],
    [
      'a body sent in chunks',
      200,
      'routed',
      () => request({ body: goodBody(), headers: { 'transfer-encoding': 'chunked' } }),
    ],
    ['with an Origin', 200, 'routed', () => request({ body: goodBody(), headers: { origin: 'https://x.example' } })],
    // Refused as the GET routes refuse a parameter they do not take (report-xregress6 L5), by the app's route.
    ['a query string', 400, 'routed', () => request({ body: goodBody(), path: '/policy/v1/$explain?x=1' })],
    ['a body over the limit', 413, 'routed', () => request({ body: goodBody({ pad: 'x'.repeat(2_000_000) }) })],
    ['GET', 405, 'routed', () => request({ method: 'GET' })],
  ];

  it.each(cases)('%s: %i', async (_name, status, init) => {
    const [a, b] = [await answer(direct, init()), await answer(viaRouter, init())];
    expect(a).toEqual(b);
    expect(a).toMatchObject({ status });
  });

  it.each(leanCases)('as served, %s: %i (%s)', async (_name, status, way, init) => {
    const routedBefore = routedFromLean;
    const served = await answer(lean, init());
    expect(routedFromLean - routedBefore).toBe(way === 'routed' ? 1 : 0);
    expect(served).toEqual(await answer(direct, init()));
    expect(served).toMatchObject({ status });
  });

  /** The AuditEvents a request recorded, in any chain: all but what is unique to one (ids, times, the chain links). */
  async function auditedBy(base: string, init: RequestInit): Promise<unknown[]> {
    return (await auditRowsOf(app, () => answer(base, init))).map((r) => ({
      tenant: r.tenant,
      resource: r.resource
        .replace(/"id": ?"[^"]+"/, '"id":"…"')
        .replace(/\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)/g, '…'),
    }));
  }

  it.each([
    ['a described child', 1, () => request({ body: goodBody() })],
    ['by the auditor', 1, () => request({ body: goodBody(), key: 'auditor' })],
    ['another practice', 1, () => request({ body: goodBody(), key: 'otherPractice' })],
    ['a municipality', 1, () => request({ body: goodBody(), key: 'municipality' })],
    ['a key not on file', 0, () => request({ body: goodBody(), key: null, headers: { 'x-api-key': 'jb_nope_x' } })],
  ] as const)('as served, records the AuditEvents the app records: %s', async (_name, count, init) => {
    const served = await auditedBy(lean, init());
    expect(served).toEqual(await auditedBy(direct, init()));
    expect(served).toHaveLength(count);
  });

  it('as served, answers 429 past the rate limit as the app does', async () => {
    const limited = [await serve(requestListener(appFor(true, { burst: 1 }))), await serve(appFor(true, { burst: 1 }))];
    const answers = [];
    for (const base of limited) {
      expect(await answer(base, request({ body: goodBody() }))).toMatchObject({ status: 200 });
      answers.push(await answer(base, request({ body: goodBody() })));
    }
    expect(answers[0]).toEqual(answers[1]);
    expect(answers[0]).toMatchObject({ status: 429 });
  });

  // The consent router's own POST route looks like a leftover beside the app's, which app.ts mounts first, but the
  // deployed app needs it: without it OPTIONS is refused (405) instead of answered with `Allow: POST`.
  it("keeps the consent router's route: POST answers, GET 405, OPTIONS 200 with Allow: POST", async () => {
    const post = await app.request('/policy/v1/$explain', { method: 'POST', json: {} });
    expect(post.status).toBe(422);
    expect((await app.request('/policy/v1/$explain', { method: 'GET' })).status).toBe(405);
    const options = await app.request('/policy/v1/$explain', { method: 'OPTIONS' });
    expect(options.status).toBe(200);
    expect(options.headers.get('allow')).toContain('POST');
  });

  it('answers with one Content-Security-Policy, no-store, and its route pattern in the metrics', async () => {
    const res = await fetch(`${direct}/policy/v1/$explain`, request({ body: goodBody() }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(
      "default-src 'none';frame-ancestors 'none';base-uri 'none'",
    );
    expect(res.headers.get('cache-control')).toBe('no-store');
    const metrics = await app.rt.ctx.metrics.registry.getSingleMetricAsString(
      'jeugdbrug_http_request_duration_seconds',
    );
    expect(metrics).toContain('route="/policy/v1/\\\\$explain",status="200"');
  });
});
