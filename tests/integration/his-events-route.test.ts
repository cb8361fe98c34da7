import type { PipelineContext } from '../../src/event/context';
import { HIS_EVENTS_ROUTE } from '../../src/http/his-router';
import { requestListener } from '../../src/http/lean-route';
import { buildConsentEvent, buildReferralEvent, randomBsn } from '../helpers/builders';
import { auditRowsOf, useComparedApps } from '../helpers/compared-apps';
import { rawAnswer, type RawAnswer, type RawRequest } from '../helpers/raw-answer';
import { useTestApp, type KeyName } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * `POST /his/v1/events` is a route of the app itself, ahead of the `/his/v1` mount (app.ts), and the server takes
 * the requests it can ahead of the router altogether (the events' lean route, lean-route.ts). These tests send the
 * same requests to the app as served (lean route first), to the app alone and to the same app without its own route,
 * whose requests then take `/his/v1` and the his router as before, and require the same answers: status, every
 * header (in order) but those unique to one answer, and the body. Events are stored, so each server is sent events
 * of its own, alike but for their ids (`Tags`): those, and the ids jeugdbrug gives, are the same in the answers
 * compared.
 */
describe('POST /his/v1/events answers as it did under the /his/v1 router', () => {
  // No workers: the events stay in the map queue, which the queue-depth guard counts.
  const app = useTestApp({ env: { ROLE: 'api' } });
  const { appFor, serve, served } = useComparedApps(app, HIS_EVENTS_ROUTE);
  let lean: string;
  let direct: string;
  let viaRouter: string;
  /** Requests the app as served by `lean` passed to Express's router. */
  let routedFromLean = 0;

  beforeAll(async () => {
    lean = await serve(served(appFor(true), () => routedFromLean++));
    direct = await serve(appFor(true));
    viaRouter = await serve(appFor(false));
  });

  let tagged = 0;
  /** A tag no other event has, of the same length as every other: in an event's ids, the same in the answers. */
  const nextTag = (): string => `t${String(++tagged).padStart(7, '0')}`;
  const TAG = /t\d{7}/g;
  const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

  /** Events of one case sent to one server: every one new (ids of its own), or one sent before. */
  class Tags {
    /** A referral of the test practice for a child of its own. */
    event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
      const tag = nextTag();
      const e = buildReferralEvent(overrides);
      return {
        ...e,
        eventId: `evt-${tag}`,
        child: { ...(e.child as object), id: `child-${tag}`, bsn: randomBsn() },
        referral: { ...(e.referral as object), id: `ref-${tag}` },
        ...overrides,
      };
    }

    /** The consent of a referral's child, recorded by the practice. */
    consent(referral: Record<string, unknown>): Record<string, unknown> {
      const tag = nextTag();
      return {
        ...buildConsentEvent(referral, { id: `consent-${tag}`, givenBy: [{ kind: 'child' }] }),
        eventId: `evt-${tag}`,
      };
    }
  }

  function request(opts: {
    body?: string | Buffer;
    key?: KeyName | null;
    method?: string;
    headers?: Record<string, string>;
    path?: string;
  }): RawRequest {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
    const key = opts.key === undefined ? 'practice' : opts.key;
    if (key) {
      headers.authorization = `Bearer ${app.testEnv.keys[key]}`;
    }
    return { method: opts.method ?? 'POST', headers, body: opts.body as string | undefined, path: opts.path };
  }

  const json = (body: unknown, more: Parameters<typeof request>[0] = {}): RawRequest =>
    request({ ...more, body: JSON.stringify(body) });

  /** The answer to the last of a case's requests (sent in order, each answered before the next), comparable. */
  async function answer(base: string, requests: readonly RawRequest[]): Promise<RawAnswer> {
    let last: RawAnswer | undefined;
    for (const r of requests) {
      last = await rawAnswer(base, HIS_EVENTS_ROUTE, r);
    }
    const { status, headers, text } = last!;
    return { status, headers, text: text.replace(TAG, 'tag').replace(UUID, 'uuid') };
  }

  type Case = (t: Tags) => RawRequest[];
  const bom = Buffer.from([0xef, 0xbb, 0xbf]);
  const oneEvent: Case = (t) => [json(t.event())];
  const twoEvents: Case = (t) => [json([t.event(), t.event()])];
  const withConsent: Case = (t) => {
    const referral = t.event();
    return [json([referral, t.consent(referral)])];
  };
  const duplicate: Case = (t) => {
    const e = t.event();
    return [json(e), json(e)];
  };
  const oneOfTwoInvalid: Case = (t) => [json([t.event(), t.event({ eventType: undefined })])];
  const withoutType: Case = (t) => [json(t.event({ eventType: undefined }))];
  const invalidBsn: Case = (t) => {
    const e = t.event();
    return [json({ ...e, child: { ...(e.child as object), bsn: '123456789' } })];
  };
  const otherPractice: Case = (t) => [json(t.event(), { key: 'otherPractice' })];
  const municipality: Case = (t) => [json(t.event(), { key: 'municipality' })];
  const unstorable: Case = (t) => {
    const e = t.event();
    return [json({ ...e, referral: { ...(e.referral as object), reasonText: 'zorgen\u0000' } })];
  };
  const overLimit: Case = (t) => [json(t.event({ pad: 'x'.repeat(2_000_000) }))];

  // Each with the status both must answer (so that a case cannot quietly test something else).
  const cases: [string, number, Case][] = [
    ['one event', 202, oneEvent],
    ['two events', 202, twoEvents],
    ['a referral with its consent', 202, withConsent],
    ['an event sent again', 202, duplicate],
    ['two events, one without its type', 202, oneOfTwoInvalid],
    ['an event without its type', 422, withoutType],
    ['an invalid BSN', 422, invalidBsn],
    ['events of a practice the caller does not act for', 403, otherPractice],
    ['a municipality', 403, municipality],
    ['no credential', 401, (t) => [json(t.event(), { key: null })]],
    ['a body that is not JSON', 400, () => [request({ body: '{"eventId":' })]],
    ['no events', 400, () => [request({ body: '[]' })]],
    ['JSON that is no event', 400, () => [request({ body: '1' })]],
    ['text that cannot be stored', 400, unstorable],
    ['a body of another media type', 415, () => [request({ body: 'x', headers: { 'content-type': 'image/png' } })]],
    [
      'FHIR JSON of another version',
      415,
      (t) => [json(t.event(), { headers: { 'content-type': 'application/fhir+json; fhirVersion=3.0' } })],
    ],
    ['a body over the limit', 413, overLimit],
    ['a dialect named', 202, (t) => [json(t.event(), { path: `${HIS_EVENTS_ROUTE}?dialect=generic-json` })]],
    ['an unknown dialect', 400, (t) => [json(t.event(), { path: `${HIS_EVENTS_ROUTE}?dialect=nope` })]],
    ['a trailing slash', 404, (t) => [json(t.event(), { path: `${HIS_EVENTS_ROUTE}/` })]],
    ['PUT', 405, (t) => [json(t.event(), { method: 'PUT' })]],
    ['OPTIONS (Express answers with Allow)', 200, () => [request({ method: 'OPTIONS' })]],
  ];

  // Each taken by the lean route (the app's router never sees it), or (`routed`) passed to the app as it came.
  const leanCases: [string, number, 'lean' | 'routed', Case][] = [
    ['one event', 202, 'lean', oneEvent],
    ['two events', 202, 'lean', twoEvents],
    ['a referral with its consent', 202, 'lean', withConsent],
    ['an event sent again', 202, 'lean', duplicate],
    ['two events, one without its type', 202, 'lean', oneOfTwoInvalid],
    ['an event sent after its headers', 202, 'lean', (t) => [{ ...json(t.event()), slowBody: true }]],
    ['with X-API-Key', 202, 'lean', (t) => [json(t.event(), { key: null, headers: { 'x-api-key': key('practice') } })]],
    [
      'a Content-Type naming UTF-8',
      202,
      'lean',
      (t) => [json(t.event(), { headers: { 'content-type': 'application/json; charset=utf-8' } })],
    ],
    [
      'an event after a byte-order mark',
      202,
      'lean',
      (t) => [request({ body: Buffer.concat([bom, Buffer.from(JSON.stringify(t.event()))]) })],
    ],
    ['an event without its type', 422, 'lean', withoutType],
    ['an invalid BSN', 422, 'lean', invalidBsn],
    ['events of a practice the caller does not act for', 403, 'lean', otherPractice],
    ['a municipality', 403, 'lean', municipality],
    ['a key not on file', 401, 'lean', (t) => [json(t.event(), { key: null, headers: { 'x-api-key': 'jb_nope_x' } })]],
    ['two credentials', 401, 'lean', (t) => [json(t.event(), { headers: { 'x-api-key': key('practice') } })]],
    ['a body that is not JSON', 400, 'lean', () => [request({ body: '{"eventId":' })]],
    [
      'a body not JSON, sent after its headers',
      400,
      'lean',
      () => [{ ...request({ body: '{"eventId":' }), slowBody: true }],
    ],
    [
      'a body not valid UTF-8',
      400,
      'lean',
      (t) => [
        request({
          body: Buffer.concat([Buffer.from(JSON.stringify(t.event()).slice(0, -1)), Buffer.from([0xff, 0x7d])]),
        }),
      ],
    ],
    ['no events', 400, 'lean', () => [request({ body: '[]' })]],
    ['JSON that is no event', 400, 'lean', () => [request({ body: '1' })]],
    ['JSON null', 400, 'lean', () => [request({ body: 'null' })]],
    ['a byte-order mark alone', 422, 'lean', () => [request({ body: bom })]],
    ['text that cannot be stored', 400, 'lean', unstorable],
    ['no credential', 401, 'routed', (t) => [json(t.event(), { key: null })]],
    [
      'a Content-Type in capitals',
      202,
      'routed',
      (t) => [json(t.event(), { headers: { 'content-type': 'Application/JSON' } })],
    ],
    ['a body sent in chunks', 202, 'routed', (t) => [json(t.event(), { headers: { 'transfer-encoding': 'chunked' } })]],
    ['with an Origin', 202, 'routed', (t) => [json(t.event(), { headers: { origin: 'https://x.example' } })]],
    ['a dialect named', 202, 'routed', (t) => [json(t.event(), { path: `${HIS_EVENTS_ROUTE}?dialect=generic-json` })]],
    ['a batch over the lean route’s 16 kB', 202, 'routed', (t) => [json(Array.from({ length: 25 }, () => t.event()))]],
    ['a body over the limit', 413, 'routed', overLimit],
    [
      'a body of another media type',
      415,
      'routed',
      () => [request({ body: 'x', headers: { 'content-type': 'image/png' } })],
    ],
    ['a trailing slash', 404, 'routed', (t) => [json(t.event(), { path: `${HIS_EVENTS_ROUTE}/` })]],
    ['PUT', 405, 'routed', (t) => [json(t.event(), { method: 'PUT' })]],
  ];

  function key(name: KeyName): string {
    return app.testEnv.keys[name];
  }

  it.each(cases)('%s: %i', async (_name, status, send) => {
    const [a, b] = [await answer(direct, send(new Tags())), await answer(viaRouter, send(new Tags()))];
    expect(a).toEqual(b);
    expect(a).toMatchObject({ status });
  });

  it.each(leanCases)('as served, %s: %i (%s)', async (_name, status, way, send) => {
    const requests = send(new Tags());
    const routedBefore = routedFromLean;
    const served = await answer(lean, requests);
    expect(routedFromLean - routedBefore).toBe(way === 'routed' ? requests.length : 0);
    expect(served).toEqual(await answer(direct, send(new Tags())));
    expect(served).toMatchObject({ status });
  });

  /**
   * The AuditEvents a case recorded, in any chain: all but what is unique to one (ids, times, the chain links, the
   * child's identity).
   */
  async function auditedBy(base: string, requests: readonly RawRequest[]): Promise<unknown[]> {
    return (await auditRowsOf(app, () => answer(base, requests))).map((r) => ({
      tenant: r.tenant,
      resource: r.resource
        .replace(/"id": ?"[^"]+"/, '"id":"…"')
        .replace(/\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)/g, '…')
        .replace(TAG, 'tag')
        .replace(UUID, 'uuid')
        .replace(/\b\d{9}\b/g, 'bsn'),
    }));
  }

  it.each([
    ['one event', 1, oneEvent],
    ['a referral with its consent', 3, withConsent],
    ['an event sent again', 1, duplicate],
    ['events of a practice the caller does not act for', 1, otherPractice],
    ['a municipality', 1, municipality],
    ['a key not on file', 0, (t: Tags) => [json(t.event(), { key: null, headers: { 'x-api-key': 'jb_nope_x' } })]],
  ] as const)('as served, records the AuditEvents the app records: %s', async (_name, count, send) => {
    const served = await auditedBy(lean, send(new Tags()));
    expect(served).toEqual(await auditedBy(direct, send(new Tags())));
    expect(served).toHaveLength(count);
  });

  it('as served, answers 429 past the rate limit as the app does', async () => {
    const limited = [await serve(requestListener(appFor(true, { burst: 1 }))), await serve(appFor(true, { burst: 1 }))];
    const answers = [];
    for (const base of limited) {
      expect(await answer(base, oneEvent(new Tags()))).toMatchObject({ status: 202 });
      answers.push(await answer(base, oneEvent(new Tags())));
    }
    expect(answers[0]).toEqual(answers[1]);
    expect(answers[0]).toMatchObject({ status: 429 });
  });

  it('as served, answers 429 with Retry-After while the map queue is full, as the app does', async () => {
    const full = (ctx: PipelineContext): PipelineContext => ({
      ...ctx,
      config: { ...ctx.config, MAX_QUEUE_DEPTH: 1, QUEUE_FULL_RETRY_AFTER_S: 17 },
    });
    const bases = [await serve(requestListener(appFor(true, { ctx: full }))), await serve(appFor(true, { ctx: full }))];
    const answers = [];
    for (const base of bases) {
      // The guard counts the queue after a first request, and refuses from then on (the queue is never emptied).
      await waitFor('the queue to be counted full', async () =>
        (await answer(base, oneEvent(new Tags()))).status === 429 ? true : undefined,
      );
      answers.push(await answer(base, oneEvent(new Tags())));
    }
    // The number of jobs the refusal names is the queue's at the time: each server's requests added to it (and the
    // ETag hashes the body).
    const [a, b] = answers.map((x) => ({
      ...x,
      headers: x.headers.map(([name, value]) => [name, name === 'ETag' ? '…' : value]),
      text: x.text.replace(/holds \d+ unfinished/, 'holds … unfinished'),
    }));
    expect(a).toEqual(b);
    expect(a).toMatchObject({ status: 429 });
    expect(a!.headers).toContainEqual(['Retry-After', '17']);
  });

  it('as served, answers 503 with Retry-After while PostgreSQL is away, as the app does', async () => {
    const away = (ctx: PipelineContext): PipelineContext => {
      const refused = (): Promise<never> =>
        Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
      const db = new Proxy(ctx.db, {
        get: (target, name, receiver) =>
          name === 'query' || name === 'transaction' ? refused : (Reflect.get(target, name, receiver) as unknown),
      });
      return { ...ctx, db };
    };
    const bases = [await serve(requestListener(appFor(true, { ctx: away }))), await serve(appFor(true, { ctx: away }))];
    const [a, b] = [await answer(bases[0]!, oneEvent(new Tags())), await answer(bases[1]!, oneEvent(new Tags()))];
    expect(a).toEqual(b);
    expect(a).toMatchObject({ status: 503 });
    expect(a.headers.some(([name]) => name.toLowerCase() === 'retry-after')).toBe(true);
  });

  it('answers with one Content-Security-Policy, no-store, and its route pattern in the metrics, as served', async () => {
    const res = await rawAnswer(lean, HIS_EVENTS_ROUTE, oneEvent(new Tags())[0]!);
    expect(res.status).toBe(202);
    expect(res.headers).toContainEqual([
      'Content-Security-Policy',
      "default-src 'none';frame-ancestors 'none';base-uri 'none'",
    ]);
    expect(res.headers).toContainEqual(['Cache-Control', 'no-store']);
    const metrics = await app.rt.ctx.metrics.registry.getSingleMetricAsString(
      'jeugdbrug_http_request_duration_seconds',
    );
    expect(metrics).toContain('route="/his/v1/events",status="202"');
  });
});
