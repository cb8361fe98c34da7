import { buildConsentEvent, buildReferralEvent } from '../helpers/builders';
import { type KeyName, useTestApp } from '../helpers/test-runtime';

/** One route and the parameters it takes: `{p}` in the path is a route parameter, `query` and `body` the others. */
interface RouteCase {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly key: KeyName;
  readonly query?: readonly string[];
  /** A valid body and the dotted paths of its text fields (in `body.a.b[0]` form). */
  readonly body?: () => Record<string, unknown>;
  readonly bodyFields?: readonly string[];
  /** Parameters sent as a form body (FHIR POST _search). */
  readonly form?: readonly string[];
}

const UUID = '0b7c4a3e-5d4f-4b1a-9c2e-1f0a2b3c4d5e';

const ROUTES: readonly RouteCase[] = [
  {
    method: 'GET',
    path: '/fhir/AuditEvent',
    key: 'auditor',
    query: ['entity', 'agent', 'type', 'subtype', 'patient', 'patient:identifier', 'date', 'outcome', '_count', '_id'],
  },
  { method: 'GET', path: `/fhir/AuditEvent/{id}`, key: 'auditor' },
  { method: 'GET', path: `/fhir/Consent/{id}`, key: 'auditor' },
  { method: 'POST', path: '/fhir/AuditEvent/_search', key: 'auditor', form: ['entity', 'patient', '_count'] },
  { method: 'POST', path: '/fhir/Consent/_search', key: 'practice', form: ['patient', 'patient:identifier'] },
  { method: 'GET', path: '/audit/v1/verify', key: 'auditor', query: ['tenant'] },
  { method: 'GET', path: '/audit/v1/export', key: 'auditor', query: ['tenant', 'from', 'to', 'format'] },
  { method: 'GET', path: '/audit/v1/overview', key: 'auditor', query: ['patient', 'patient:identifier'] },
  { method: 'GET', path: '/fhir/Consent', key: 'practice', query: ['patient:identifier'] },
  {
    method: 'POST',
    path: '/policy/v1/$explain',
    key: 'practice',
    body: () => ({ eventId: UUID }),
    bodyFields: ['eventId'],
  },
  {
    method: 'POST',
    path: '/his/v1/events',
    key: 'practice',
    query: ['dialect'],
    body: () => buildReferralEvent(),
    bodyFields: ['eventId', 'child.id', 'child.bsn', 'guardians[0].id', 'referral.reasonText', 'practice.name'],
  },
  {
    method: 'POST',
    path: '/his/v1/events',
    key: 'practice',
    body: () => buildConsentEvent(buildReferralEvent(), { givenBy: [{ kind: 'guardian', guardianId: 'g1' }] }),
    bodyFields: ['consent.id', 'consent.recipient.name', 'consent.purposes[0]'],
  },
  { method: 'GET', path: '/his/v1/events/{id}', key: 'practice' },
  { method: 'GET', path: '/his/v1/schema/{dialect}', key: 'practice' },
  {
    method: 'POST',
    path: '/municipality/v1/referrals/{id}/status',
    key: 'municipality',
    body: () => ({ status: 'accepted', note: 'ok' }),
    bodyFields: ['status', 'note'],
  },
  { method: 'GET', path: '/municipality/v1/referrals/{id}/status', key: 'municipality' },
  {
    method: 'GET',
    path: '/admin/v1/dead-letters',
    key: 'operator',
    query: ['destination', 'status', 'since', 'limit'],
  },
  { method: 'POST', path: '/admin/v1/dead-letters/{id}/replay', key: 'operator' },
  {
    method: 'POST',
    path: '/admin/v1/dead-letters/replay',
    key: 'operator',
    body: () => ({ destination: 'gm0226' }),
    bodyFields: ['destination'],
  },
  { method: 'GET', path: '/admin/v1/destinations/{id}/status', key: 'operator' },
  {
    method: 'POST',
    path: '/admin/v1/destinations/{id}/pause',
    key: 'operator',
    body: () => ({ reason: 'maintenance' }),
    bodyFields: ['reason'],
  },
  { method: 'POST', path: '/admin/v1/destinations/{id}/resume', key: 'operator' },
  { method: 'GET', path: '/admin/v1/feedback', key: 'operator', query: ['state', 'limit'] },
  { method: 'POST', path: '/admin/v1/feedback/{id}/replay', key: 'operator' },
  { method: 'GET', path: '/admin/v1/dashboard', key: 'operator', query: ['format'] },
];

/** Sets the text at a dotted path (`a.b[0].c`) of a JSON value. */
function setAt(target: Record<string, unknown>, path: string, value: string): void {
  const parts = path.split(/\.|\[(\d+)\]/).filter((p) => p !== undefined && p !== '');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

interface BadRequest {
  readonly name: string;
  readonly route: RouteCase;
  readonly url: string;
  readonly body?: string;
  readonly contentType?: string;
  /** What the 400's expression must name. */
  readonly names: string;
}

/** Every parameter of every route, once with a NUL and once with bytes that are not UTF-8. */
function badRequests(): BadRequest[] {
  const out: BadRequest[] = [];
  for (const route of ROUTES) {
    const fill = (p: string) =>
      p.replace(/\{(\w+)\}/g, (_m, name: string) => (name === 'dialect' ? 'generic-json' : UUID));
    for (const [label, bytes] of [
      ['NUL', '%00'],
      ['invalid UTF-8', '%C3%28'],
    ] as const) {
      for (const [, name] of route.path.matchAll(/\{(\w+)\}/g)) {
        const url = fill(route.path.replace(`{${name}}`, `x${bytes}y`));
        out.push({ name: `${route.method} ${route.path}: ${label} in {${name}}`, route, url, names: 'path segment' });
      }
      for (const f of route.form ?? []) {
        out.push({
          name: `${route.method} ${route.path}: ${label} in form parameter ${f}`,
          route,
          url: fill(route.path),
          body: `${encodeURIComponent(f)}=a${bytes}b`,
          contentType: 'application/x-www-form-urlencoded',
          names: f,
        });
      }
      for (const q of route.query ?? []) {
        out.push({
          name: `${route.method} ${route.path}: ${label} in ?${q}`,
          route,
          url: `${fill(route.path)}?${encodeURIComponent(q)}=a${bytes}b`,
          names: q,
        });
      }
    }
    for (const field of route.bodyFields ?? []) {
      const body = route.body!();
      setAt(body, field, 'a\u0000b');
      out.push({
        name: `${route.method} ${route.path}: NUL in body ${field}`,
        route,
        url: fill(route.path),
        body: JSON.stringify(body),
        names: `body.${field}`,
      });
      const surrogate = route.body!();
      setAt(surrogate, field, 'a\ud800b');
      out.push({
        name: `${route.method} ${route.path}: a lone surrogate in body ${field}`,
        route,
        url: fill(route.path),
        body: JSON.stringify(surrogate),
        names: `body.${field}`,
      });
    }
  }
  return out;
}

/** A JSON array of short strings, about `kb` kilobytes. */
const wide = (kb: number) => JSON.stringify(Array.from({ length: kb * 100 }, () => 'abcdefg'));

describe('text that cannot be stored (NUL, invalid UTF-8) is a 400 naming the parameter, on every route', () => {
  const app = useTestApp({ receiverUrl: 'http://127.0.0.1:9' });

  it.each(badRequests().map((c) => [c.name, c] as const))('%s → 400', async (_name, c) => {
    const res = await app.request(c.url, {
      method: c.route.method,
      key: c.route.key,
      ...(c.body !== undefined || c.route.method === 'POST'
        ? { headers: { 'content-type': c.contentType ?? 'application/json' }, body: c.body ?? '{}' }
        : {}),
    });
    const outcome = (await res.json()) as { resourceType: string; issue: { expression?: string[] }[] };
    expect({ status: res.status, type: outcome.resourceType }).toEqual({ status: 400, type: 'OperationOutcome' });
    expect(outcome.issue[0]?.expression?.[0]).toContain(c.names);
  });

  it('names a body field whose raw bytes are not UTF-8', async () => {
    const event = JSON.stringify(buildReferralEvent()).replace('Zorgen over', 'Zorgen REPLACE');
    const [before, after] = event.split('REPLACE') as [string, string];
    const raw = Buffer.concat([Buffer.from(before), Buffer.from([0xc3, 0x28]), Buffer.from(after)]);
    const res = await app.request('/his/v1/events', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: raw,
    });
    const outcome = (await res.json()) as { issue: { expression?: string[] }[] };
    expect(res.status).toBe(400);
    expect(outcome.issue[0]?.expression).toEqual(['body.referral.reasonText']);
  });

  it.each([
    ['an object', (inner: string) => `{"a":${inner}}`],
    ['an array', (inner: string) => `[${inner}]`],
  ])(
    'answers 400 naming the body to JSON nested 50,000 levels deep in %s once authenticated, never a 500',
    async (_kind, wrap) => {
      let deep = '1';
      for (let i = 0; i < 50_000; i++) {
        deep = wrap(deep);
      }
      // A valid credential gets the whole body read after authentication; an invalid one is refused before it is
      // read (auth-before-body.test.ts), and a path that authenticates nothing reads none of it. Without a
      // credential it is a 413 (a test below).
      const cases = [
        ['/his/v1/events', `Bearer ${app.testEnv.keys.practice}`, 400],
        ['/his/v1/events', 'Bearer not-a-key', 401],
        ['/anything', 'Bearer not-a-key', 404],
      ] as const;
      for (const [path, authorization, status] of cases) {
        const res = await app.request(path, {
          method: 'POST',
          key: null,
          headers: { 'content-type': 'application/json', authorization },
          body: deep,
        });
        const outcome = (await res.json()) as { resourceType: string; issue: { expression?: string[] }[] };
        expect({ status: res.status, type: outcome.resourceType }).toEqual({ status, type: 'OperationOutcome' });
        if (status === 400) {
          expect(outcome.issue[0]?.expression).toEqual(['body']);
        }
      }
    },
  );

  it('still names a bad field inside a body nested as deep as allowed', async () => {
    let nested: unknown = { text: 'NUL\u0000' };
    for (let i = 0; i < 60; i++) {
      nested = { a: nested };
    }
    const res = await app.request('/policy/v1/$explain', { json: nested });
    const outcome = (await res.json()) as { issue: { expression?: string[] }[] };
    expect(res.status).toBe(400);
    expect(outcome.issue[0]?.expression?.[0]).toBe(`body${'.a'.repeat(60)}.text`);
  });

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'])(
    'answers 404, not 500, for the console asset named %s',
    async (name) => {
      const res = await app.request(`/console/assets/${name}`, { key: null });
      expect(res.status).toBe(404);
    },
  );

  it('reads no more than a small limit of a body sent without credentials: 413 naming the body and the header', async () => {
    const res = await app.request('/his/v1/events', {
      method: 'POST',
      key: null,
      headers: { 'content-type': 'application/json' },
      body: wide(100),
    });
    const outcome = (await res.json()) as {
      resourceType: string;
      issue: { expression?: string[]; details?: { text?: string } }[];
    };
    expect({ status: res.status, type: outcome.resourceType }).toEqual({ status: 413, type: 'OperationOutcome' });
    expect(outcome.issue[0]?.expression).toEqual(['body']);
    expect(outcome.issue[0]?.details?.text).toContain('Authorization');
  });

  it('still answers a small body sent without credentials with the 401 of a missing credential', async () => {
    const res = await app.request('/his/v1/events', {
      method: 'POST',
      key: null,
      headers: { 'content-type': 'application/json' },
      body: wide(1),
    });
    expect(res.status).toBe(401);
  });

  it('reads the same body sent with credentials as before (not 413)', async () => {
    const res = await app.request('/his/v1/events', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: wide(100),
    });
    expect(res.status).not.toBe(413);
    expect(res.status).toBeLessThan(500);
  });

  it('still accepts text with ordinary non-ASCII characters', async () => {
    const res = await app.request('/his/v1/events', {
      json: buildReferralEvent({ practice: { agb: '01234567', ura: '87654321', name: 'Praktijk Ünal – ’t Hoofd 😀' } }),
    });
    expect(res.status).toBe(202);
  });
});
