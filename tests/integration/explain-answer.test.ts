import http from 'node:http';
import { buildConsentEvent, buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { useTestApp, type KeyName } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * The whole answer of `POST /policy/v1/$explain` as the server sends it (runtime.ts: the lean route first): status,
 * every header in order with its value, and the body. explain-route.test.ts holds the lean route, the app's route and
 * the router to the same answers; this pins what that answer is, so a change to how headers are set or the body is
 * made cannot change it unnoticed. Values unique to one answer (its time, request id, trace, the rate limit left)
 * are pinned by their form; the ids the registry derives, by theirs.
 */
describe('POST /policy/v1/$explain sends exactly this answer', () => {
  const app = useTestApp();
  let child: { bsn: string; birthDate: string };

  beforeAll(async () => {
    const referral = buildReferralEvent();
    const { bsn, birthDate } = referral.child as typeof child;
    child = { bsn, birthDate };
    const stored = await app.request('/his/v1/events', {
      json: buildConsentEvent(referral, { givenBy: [{ kind: 'child' }] }),
    });
    expect(stored.status).toBe(202);
    await waitFor('the consent to be stored', async () => {
      const res = await app.request('/policy/v1/$explain', { json: JSON.parse(goodBody()) as unknown });
      const body = (await res.json()) as { considered?: { consents?: unknown[] } };
      return body.considered?.consents?.length === 1 ? true : undefined;
    });
  });

  function goodBody(): string {
    return JSON.stringify({
      practice: PRACTICE_AGB,
      municipality: 'GM0226',
      purpose: 'referral',
      dataClasses: ['Patient', 'ServiceRequest'],
      child,
      guardians: [{ relatedPersonId: 'g1', hasAuthority: true }],
      at: '2026-12-01T12:00:00+01:00',
    });
  }

  /** The answer as sent: status, headers in order as [name, value], body. */
  async function sent(body: string, key: KeyName | null, more: Record<string, string> = {}) {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...more };
    if (key) {
      headers.authorization = `Bearer ${app.testEnv.keys[key]}`;
    }
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(`${app.url}/policy/v1/$explain`, { method: 'POST', headers });
      req.on('response', resolve).on('error', reject);
      req.end(body);
    });
    const pairs: [string, string][] = [];
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      pairs.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
    }
    let text = '';
    for await (const chunk of res) {
      text += String(chunk);
    }
    return { status: res.statusCode, headers: pairs, body: text };
  }

  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  const httpDate =
    /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/;
  const count = /^\d+$/;

  /** Every answer's first headers: the trace, the request id, helmet's, and no-store. */
  const first: [string, string | RegExp][] = [
    ['traceresponse', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/],
    ['x-request-id', uuid],
    ['Content-Security-Policy', "default-src 'none';frame-ancestors 'none';base-uri 'none'"],
    ['Cross-Origin-Opener-Policy', 'same-origin'],
    ['Cross-Origin-Resource-Policy', 'same-origin'],
    ['Origin-Agent-Cluster', '?1'],
    ['Referrer-Policy', 'no-referrer'],
    ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'],
    ['X-Content-Type-Options', 'nosniff'],
    ['X-DNS-Prefetch-Control', 'off'],
    ['X-Download-Options', 'noopen'],
    ['X-Frame-Options', 'DENY'],
    ['X-Permitted-Cross-Domain-Policies', 'none'],
    ['X-XSS-Protection', '0'],
    ['Cache-Control', 'no-store'],
  ];
  const rateLimit: [string, string | RegExp][] = [
    ['RateLimit-Limit', '500'],
    ['RateLimit-Remaining', count],
    ['RateLimit-Reset', '1'],
    ['RateLimit-Policy', '50;w=1, 500;w=10'],
  ];
  const keptAlive: [string, string | RegExp][] = [
    ['Date', httpDate],
    ['Connection', 'keep-alive'],
    ['Keep-Alive', 'timeout=65'],
  ];
  const answer200: [string, string | RegExp][] = [
    ...first,
    ...rateLimit,
    ['Content-Type', 'application/json; charset=utf-8'],
    ...keptAlive,
    ['Content-Length', '920'],
  ];
  /** An error's answer (error-handler.ts): Express's `res.send`, with its ETag. */
  const error = (length: string, etag: string): [string, string | RegExp][] => [
    ['Content-Type', 'application/fhir+json; charset=utf-8'],
    ['Content-Length', length],
    ['ETag', etag],
    ...keptAlive,
  ];

  const body200 =
    '{"at":"2026-12-01T11:00:00.000Z","request":{"practiceAgb":"01234567","municipalityCode":"GM0226",' +
    '"purpose":"referral","dataClasses":["Patient","ServiceRequest"],"at":"2026-12-01T11:00:00.000Z"},' +
    '"decision":{"effect":"permit","reasons":[{"code":"permitted-by-legal-basis","detail":"Agreement ' +
    'test-agreement v1 rests on public-task; no objection blocks it"}],"agreement":{"id":"test-agreement",' +
    '"version":1},"legalBasis":"public-task","consentIds":[],"obligations":{"allowedFields":{"Patient":' +
    '["identifier","birthDate"],"ServiceRequest":["identifier","status","intent","code","subject","authoredOn",' +
    '"requester"]}}},"considered":{"agreements":[{"id":"test-agreement","version":1,"status":"active",' +
    '"legalBasis":"public-task"}],"consents":[{"id":"<uuid>","status":"active","dateTime":' +
    '"2026-11-19T09:00:00+01:00","provision":"permit","performer":["Patient/<uuid>"]}]}}';

  /** The answer with each header value that matches its pattern replaced by the pattern, and the ids in the body. */
  function pinned(
    got: Awaited<ReturnType<typeof sent>>,
    expected: [string, string | RegExp][],
  ): { status: number | undefined; headers: [string, string | RegExp][]; body: string } {
    const headers = got.headers.map(([name, value], i): [string, string | RegExp] => {
      const want = expected[i]?.[1];
      return [name, want instanceof RegExp && want.test(value) ? want : value];
    });
    const ids = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
    return { status: got.status, headers, body: got.body.replace(ids, '<uuid>') };
  }

  it.each([
    ['the lean route', {}],
    ["the app's router (a request with an Origin)", { origin: 'https://x.example' }],
  ])('answers a described child by %s with these headers and this body', async (_way, more) => {
    const got = await sent(goodBody(), 'practice', more);
    expect(pinned(got, answer200)).toEqual({ status: 200, headers: answer200, body: body200 });
    // The length Node sets is the body's.
    expect(Buffer.byteLength(got.body)).toBe(920);
  });

  it('answers a body missing its fields with 422 and these headers', async () => {
    const expected = [...first, ...rateLimit, ...error('458', 'W/"1ca-OvHiXKcK08JgjDUXUav97e4Hq9s"')];
    const got = await sent('{}', 'practice');
    expect(pinned(got, expected)).toEqual({
      status: 422,
      headers: expected,
      body:
        '{"resourceType":"OperationOutcome","id":"unprocessable","issue":[' +
        ['practice', 'municipality', 'purpose', 'child']
          .map((f) => `{"severity":"error","code":"required","details":{"text":"is required"},"expression":["${f}"]}`)
          .join(',') +
        ']}',
    });
  });

  it('answers a municipality with 403 and these headers', async () => {
    const expected = [...first, ...rateLimit, ...error('242', 'W/"f2-YU1dgxwbY3hXast7milYKLQ8y+0"')];
    const got = await sent(goodBody(), 'municipality');
    expect(pinned(got, expected)).toEqual({
      status: 403,
      headers: expected,
      body:
        '{"resourceType":"OperationOutcome","id":"forbidden","issue":[{"severity":"error","code":"forbidden",' +
        '"details":{"text":"This is for the roles practice, auditor, operator; the caller has the role ' +
        'municipality"},"expression":["Authorization"]}]}',
    });
  });

  it('answers a request without a credential with 401 and these headers', async () => {
    const expected: [string, string | RegExp][] = [
      ...first,
      ['WWW-Authenticate', 'Bearer realm="jeugdbrug"'],
      ...error('327', 'W/"147-rSy98srjVoMjZOyyuvAnoLz29g4"'),
    ];
    const got = await sent(goodBody(), null);
    expect(pinned(got, expected)).toEqual({
      status: 401,
      headers: expected,
      body:
        '{"resourceType":"OperationOutcome","id":"unauthorized","issue":[{"severity":"error","code":"login",' +
        '"details":{"text":"Unauthorized"},"expression":["Authorization"]},{"severity":"error","code":"login",' +
        '"details":{"text":"Authentication required: send Authorization: Bearer <token> or X-API-Key"},' +
        '"expression":["Authorization"]}]}',
    });
  });
});
