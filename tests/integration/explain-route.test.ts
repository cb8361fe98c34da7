import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type express from 'express';
import { ApiKeyStore } from '../../src/access/api-keys';
import { createAuthenticator } from '../../src/access/authenticate';
import { createRateLimiter } from '../../src/access/rate-limit';
import { createApp } from '../../src/http/app';
import { EXPLAIN_ROUTE } from '../../src/http/consent-router';
import { buildConsentEvent, buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { useTestApp, type KeyName } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * `POST /policy/v1/$explain` is a route of the app itself, ahead of the `/policy/v1` mount (app.ts): fewer router
 * layers for the busiest read. These tests send the same requests to that app and to the same app without the route,
 * whose requests then take `/policy/v1` and the consent router as before, and require the same answers: status,
 * every header (in order) but those unique to one answer, the body but the time it was asked at.
 */
describe('POST /policy/v1/$explain answers as it did under the /policy/v1 router', () => {
  const app = useTestApp();
  const servers: http.Server[] = [];
  let direct: string;
  let viaRouter: string;
  let child: { bsn: string; birthDate: string };

  function appFor(withRoute: boolean): express.Express {
    const made = createApp(app.rt.ctx, {
      authenticate: createAuthenticator({
        apiKeys: ApiKeyStore.fromFile(app.testEnv.env.API_KEYS_FILE!),
        issuers: [],
        clockSkewSeconds: 60,
      }),
      rateLimit: createRateLimiter({ ratePerSecond: 1000, burst: 1000 }),
      publicBaseUrl: () => app.url,
    });
    const stack = (made as unknown as { router: { stack: { route?: { path: string } }[] } }).router.stack;
    const i = stack.findIndex((layer) => layer.route?.path === EXPLAIN_ROUTE);
    expect(i).toBeGreaterThan(-1);
    if (!withRoute) {
      stack.splice(i, 1);
    }
    return made;
  }

  async function serve(a: express.Express): Promise<string> {
    const server = http.createServer(a);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  beforeAll(async () => {
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

  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
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
  }): RequestInit {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...opts.headers };
    const key = opts.key === undefined ? 'practice' : opts.key;
    if (key) {
      headers.authorization = `Bearer ${app.testEnv.keys[key]}`;
    }
    return { method: opts.method ?? 'POST', headers, body: opts.body };
  }

  /** What must be the same: headers unique to one answer (its time, request id and trace) are left out. */
  async function answer(base: string, init: RequestInit): Promise<unknown> {
    const unique = new Set(['date', 'x-request-id', 'traceresponse']);
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(`${base}/policy/v1/$explain`, {
        method: init.method,
        headers: init.headers as Record<string, string>,
      });
      req.on('response', resolve).on('error', reject);
      req.end(init.body as string | undefined);
    });
    // In the order sent, as name and value.
    const headers: [string, string][] = [];
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      if (!unique.has(res.rawHeaders[i]!.toLowerCase())) {
        headers.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
      }
    }
    let text = '';
    for await (const chunk of res) {
      text += String(chunk);
    }
    // The time asked at (and the `at` of the request it echoes), when the body does not give one.
    const body = text.replace(/"at":"[^"]+"/g, '"at":"…"');
    return { status: res.statusCode, headers, body };
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

  it.each(cases)('%s: %i', async (_name, status, init) => {
    const [a, b] = [await answer(direct, init()), await answer(viaRouter, init())];
    expect(a).toEqual(b);
    expect(a).toMatchObject({ status });
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
