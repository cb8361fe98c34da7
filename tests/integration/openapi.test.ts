import http from 'node:http';
import { compileErrors, dereference, validate } from '@readme/openapi-parser';
import { z } from 'zod';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { createApp } from '../../src/http/app';
import { buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { expressRoutes } from '../helpers/express-routes';
import { useAppWithReceiver, useTestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

interface Operation {
  operationId?: string;
  security?: unknown[];
  'x-roles'?: string[];
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, unknown> };
  responses: Record<
    string,
    { content?: Record<string, { schema?: { $ref?: string } }>; headers?: Record<string, unknown> }
  >;
}
type OpenApi = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  webhooks?: Record<string, Record<string, Operation>>;
};

describe('the OpenAPI document and the docs page', () => {
  const app = useTestApp();
  let doc: OpenApi;

  beforeAll(async () => {
    const res = await app.request('/openapi.json', { key: null });
    expect(res.status).toBe(200);
    doc = (await res.json()) as OpenApi;
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(doc) as never);
    if (!result.valid) {
      throw new Error(compileErrors(result));
    }
    expect(result.valid).toBe(true);
  });

  it('describes every route Express serves, and nothing else', () => {
    const express = createApp(app.rt.ctx, {
      authenticate: (_req, _res, next) => next(),
      rateLimit: (_req, _res, next) => next(),
      publicBaseUrl: () => app.url,
    });
    const served = expressRoutes(express);
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(served.length).toBeGreaterThan(30);
    expect([...new Set(served)].sort()).toEqual([...documented].sort());
  });

  // report-xhis F7: without operationIds a client generator names each method after its path (hisV1EventsIdGet),
  // unreadable, and renamed whenever a path changes.
  it('names every operation with a unique, readable operationId', () => {
    const operations = [...Object.values(doc.paths), ...Object.values(doc.webhooks ?? {})].flatMap((ops) =>
      Object.values(ops),
    );
    const ids = operations.map((o) => o.operationId);
    expect(operations.length).toBeGreaterThan(40);
    for (const id of ids) {
      expect(id).toMatch(/^[a-z][A-Za-z]+$/);
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(doc.paths['/his/v1/events']!.post!.operationId).toBe('submitEvents');
    expect(doc.paths['/fhir/Task/{id}']!.get!.operationId).toBe('readTask');
  });

  // report-xhis X6: a generated client exposes only declared headers; a vendor writing back-off code missed these.
  it('declares the headers a client must act on: Retry-After, RateLimit-*, Allow, Location', () => {
    const headersOf = (path: string, method: string, status: string) =>
      Object.keys(doc.paths[path]?.[method]?.responses[status]?.headers ?? {}).sort();
    const rateLimit = ['RateLimit-Limit', 'RateLimit-Policy', 'RateLimit-Remaining', 'RateLimit-Reset'];
    expect(headersOf('/his/v1/events', 'post', '202')).toEqual(rateLimit);
    expect(headersOf('/his/v1/events', 'post', '422')).toEqual(rateLimit);
    expect(headersOf('/his/v1/events', 'post', '401')).toEqual([]);
    expect(headersOf('/his/v1/events', 'post', '429')).toEqual([...rateLimit, 'Retry-After'].sort());
    expect(headersOf('/his/v1/events', 'post', '503')).toEqual([...rateLimit, 'Retry-After'].sort());
    expect(headersOf('/his/v1/events', 'post', '405')).toEqual(['Allow', ...rateLimit]);
    expect(headersOf('/fhir/Task', 'post', '201')).toEqual(['Location', ...rateLimit]);
    expect(headersOf('/health/live', 'get', '405')).toEqual(['Allow']);
  });

  // report-xmuni L2: `webhooks` was there but empty; a receiving team's codegen and contract tests read it.
  it('describes what a webhook destination receives: the signed notification Bundle and its headers', () => {
    const notification = doc.webhooks?.['event-notification']?.post;
    expect(notification).toBeDefined();
    expect(
      (notification!.parameters ?? [])
        .filter((p) => p.in === 'header')
        .map((p) => p.name)
        .sort(),
    ).toEqual(['Idempotency-Key', 'webhook-id', 'webhook-signature', 'webhook-timestamp']);
    expect(Object.keys(notification!.requestBody!.content)).toEqual(['application/fhir+json']);
    expect(Object.keys(notification!.responses).sort()).toEqual(expect.arrayContaining(['2XX', '409', '503']));
  });

  it('gives every route its roles, its request and OperationOutcome errors', () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect([where, Array.isArray(op['x-roles'])]).toEqual([where, true]);
        expect([where, (op.security?.length ?? 0) > 0]).toEqual([where, (op['x-roles']?.length ?? 0) > 0]);
        expect([where, op.responses['405']?.content?.['application/fhir+json']?.schema?.$ref]).toEqual([
          where,
          '#/components/schemas/OperationOutcome',
        ]);
        // Any body can be too large or of a type the route does not take; any authenticated route can meet a
        // database or Redis that is away.
        if (op.requestBody) {
          expect([where, Object.keys(op.responses).filter((k) => k === '413' || k === '415')]).toEqual([
            where,
            ['413', '415'],
          ]);
        }
        if ((op['x-roles']?.length ?? 0) > 0) {
          expect([where, '503' in op.responses]).toEqual([where, true]);
        }
        for (const name of path.match(/\{(\w+)\}/g) ?? []) {
          const param = name.slice(1, -1);
          expect([where, op.parameters?.some((p) => p.in === 'path' && p.name === param)]).toEqual([where, true]);
        }
      }
    }
    const explain = doc.paths['/policy/v1/$explain']?.post;
    expect(explain?.['x-roles']).toEqual(['practice', 'auditor', 'operator']);
    expect(Object.keys(explain?.requestBody?.content ?? {})).toEqual(['application/json']);
    const search = doc.paths['/fhir/AuditEvent']?.get;
    expect(search?.parameters?.map((p) => p.name)).toEqual(
      expect.arrayContaining(['patient', 'patient:identifier', 'date', '_count', '_summary', 'prefer']),
    );
    expect(doc.paths['/fhir/Consent']?.get?.['x-roles']).toEqual(['practice', 'auditor', 'operator']);
    // POST /fhir/Task: the Task the route reads (from its zod schema), in every media type it takes (the DSTU2
    // application/json+fhir too), and every answer.
    const createTask = doc.paths['/fhir/Task']?.post;
    const taskBody = (createTask?.requestBody?.content ?? {}) as Record<string, { schema?: unknown }>;
    expect(Object.keys(taskBody).sort()).toEqual([
      'application/fhir+json',
      'application/json',
      'application/json+fhir',
    ]);
    const taskSchemaOf = (media: string) =>
      taskBody[media]?.schema as { properties?: Record<string, unknown>; required?: string[] } | undefined;
    expect(Object.keys(taskSchemaOf('application/json')?.properties ?? {})).toEqual(
      expect.arrayContaining([
        'resourceType',
        'status',
        'intent',
        'focus',
        'businessStatus',
        'output',
        'executionPeriod',
        // Taken but not kept: documented, so a client knows before it sends them.
        'priority',
        'basedOn',
        'partOf',
        'groupIdentifier',
      ]),
    );
    expect(taskSchemaOf('application/fhir+json')?.required).toEqual(
      expect.arrayContaining(['resourceType', 'status', 'intent', 'focus']),
    );
    expect(Object.keys(createTask?.responses ?? {})).toEqual(
      expect.arrayContaining(['200', '201', '400', '404', '406', '409', '412', '415', '422']),
    );
    expect(createTask?.parameters?.map((p) => p.name)).toEqual(
      expect.arrayContaining(['_format', '_pretty', 'if-none-exist', 'prefer', 'idempotency-key']),
    );
    // A Task search by a bare identifier value two practices sent is a 409 naming both system|value: a client
    // generated from the document needs that branch. Types whose searches cannot be ambiguous have none.
    for (const [path, method] of [
      ['/fhir/Task', 'get'],
      ['/fhir/Task/_search', 'post'],
    ] as const) {
      const conflict = doc.paths[path]?.[method]?.responses['409'] as { description?: string } | undefined;
      expect([path, conflict?.description]).toEqual([path, expect.stringMatching(/more than one practice/)]);
    }
    expect(Object.keys(doc.paths['/fhir/Consent']?.get?.responses ?? {})).not.toContain('409');
    // A repeat is answered 200 with the first answer, beside the 202 of the first time (201 for a FHIR create).
    for (const [path, method, first] of [
      ['/municipality/v1/referrals/{id}/status', 'post', '202'],
      ['/fhir/Task', 'post', '201'],
      ['/municipality/v1/trajectories/events', 'post', '202'],
      ['/municipality/v1/monitoring/$push', 'post', '202'],
    ] as const) {
      const responses = doc.paths[path]?.[method]?.responses ?? {};
      expect([path, '200' in responses, first in responses]).toEqual([path, true, true]);
    }
  });

  it('serves the docs page and its assets from this server, under the console’s strict CSP', async () => {
    const page = await app.request('/docs', { key: null });
    expect(page.status).toBe(200);
    const html = await page.text();
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp.split(/; */)).toEqual(
      expect.arrayContaining([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
      ]),
    );
    // Swagger UI's stylesheet draws its icons as data: images; nothing runs or styles from inline text.
    expect(csp).not.toMatch(/unsafe-|https:/);
    expect(html).not.toMatch(/<script>(?!<\/script>)|<style|style=|https?:\/\//);
    for (const src of [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)) {
      const asset = await app.request(src, { key: null });
      expect([src, asset.status]).toEqual([src, 200]);
      // An inline <style> element a script adds (the standalone preset's logo has one) is refused by style-src.
      expect([src, (await asset.text()).includes('createElement("style"')]).toEqual([src, false]);
    }
  });

  /** The raw headers of an answer: fetch would join two of a name into one. */
  function rawHeaders(pathname: string, headers: Record<string, string> = {}): Promise<[string, string][]> {
    return new Promise((resolve, reject) => {
      http
        .get(`${app.url}${pathname}`, { headers }, (res) => {
          res.resume();
          const pairs: [string, string][] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) {
            pairs.push([res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!]);
          }
          res.on('end', () => resolve(pairs));
        })
        .on('error', reject);
    });
  }

  it.each([
    ['/docs', {}],
    ['/openapi.json', {}],
    ['/fhir/metadata', {}],
    ['/fhir/Task/00000000-0000-4000-8000-000000000000', { 'x-api-key': 'wrong' }],
  ])('answers %s with one Content-Security-Policy, never framed, no unsafe- or https: sources', async (p, h) => {
    const headers = await rawHeaders(p, h);
    const csps = headers.filter(([name]) => name === 'content-security-policy').map(([, v]) => v);
    expect(csps).toHaveLength(1);
    expect(csps[0]).toContain("frame-ancestors 'none'");
    expect(csps[0]).not.toMatch(/unsafe-|https:/);
    expect(headers.filter(([name]) => name === 'x-frame-options').map(([, v]) => v)).toEqual(['DENY']);
  });

  it('answers a wrong method on a known path with 405, Allow and an OperationOutcome', async () => {
    const del = await app.request('/fhir/AuditEvent', { key: 'auditor', method: 'DELETE' });
    expect(del.status).toBe(405);
    expect(del.headers.get('allow')).toBe('GET, HEAD');
    expect(((await del.json()) as OperationOutcome).resourceType).toBe('OperationOutcome');
    // GET lists the practice's events (his-events-list.test); a method it takes neither is a 405 naming both.
    const get = await app.request('/his/v1/events', { key: 'practice', method: 'PUT' });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('GET, HEAD, POST');
    const put = await app.request('/admin/v1/destinations/gm0226/pause', { key: 'operator', method: 'PUT' });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toBe('POST');
    expect((await app.request('/his/v1/nothing-here', { key: 'practice' })).status).toBe(404);
  });

  it('names practice.agb in a 403 for a practice outside the caller’s scope', async () => {
    const res = await app.request('/his/v1/events', { key: 'otherPractice', json: buildReferralEvent() });
    expect(res.status).toBe(403);
    const outcome = (await res.json()) as OperationOutcome;
    expect(outcome.issue[0]?.code).toBe('forbidden');
    expect(outcome.issue[0]?.expression).toEqual(['practice.agb']);
    const batch = await app.request('/his/v1/events', {
      key: 'otherPractice',
      json: [buildReferralEvent(), buildReferralEvent()],
    });
    const body = (await batch.json()) as OperationOutcome;
    expect(body.issue.map((i) => i.expression?.[0])).toEqual(['[0].practice.agb', '[1].practice.agb']);
  });

  it('names the field of other refusals too: the chain asked for, the practice of an explanation', async () => {
    const verify = await app.request(`/audit/v1/verify?tenant=${PRACTICE_AGB}`, { key: 'otherPractice' });
    expect(verify.status).toBe(403);
    expect(((await verify.json()) as OperationOutcome).issue[0]?.expression).toEqual(['tenant']);
    const explain = await app.request('/policy/v1/$explain', {
      key: 'otherPractice',
      json: { practice: PRACTICE_AGB, municipality: 'GM0226', purpose: 'referral', child: { bsn: '111222333' } },
    });
    expect(explain.status).toBe(403);
    expect(((await explain.json()) as OperationOutcome).issue[0]?.expression).toEqual(['practice']);
  });
});

describe('the answers of the status routes', () => {
  const ctx = useAppWithReceiver();

  /** The schema the document gives a route's answer, its references resolved, as a zod schema to check with. */
  async function documentedAnswer(
    path: string,
    status: string,
    method = 'post',
    mediaType = 'application/json',
  ): Promise<z.ZodType> {
    const res = await ctx.app.request('/openapi.json', { key: null });
    const doc = (await dereference((await res.json()) as never)) as unknown as OpenApi;
    const schema = doc.paths[path]?.[method]?.responses[status]?.content?.[mediaType]?.schema;
    expect([path, status, schema !== undefined]).toEqual([path, status, true]);
    return z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
  }

  async function deliveredReferral(): Promise<string> {
    const res = await ctx.app.request('/his/v1/events', { json: buildReferralEvent() });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    await waitFor('the referral to reach the municipality', async () => {
      const [row] = await ctx.app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [id]);
      return row?.state === 'delivered';
    });
    return id;
  }

  it('are what the document says, for the status route and for POST /fhir/Task, first time and repeated', async () => {
    const id = await deliveredReferral();
    const statusPath = '/municipality/v1/referrals/{id}/status';
    const headers = { 'idempotency-key': `openapi-${id}` };
    const body = { status: 'received' };
    const first = await ctx.app.request(`/municipality/v1/referrals/${id}/status`, {
      json: body,
      key: 'municipality',
      headers,
    });
    expect(first.status).toBe(202);
    const answer: unknown = await first.json();
    expect((await documentedAnswer(statusPath, '202')).safeParse(answer).error?.issues).toBeUndefined();
    const repeat = await ctx.app.request(`/municipality/v1/referrals/${id}/status`, {
      json: body,
      key: 'municipality',
      headers,
    });
    expect(repeat.status).toBe(200);
    expect((await documentedAnswer(statusPath, '200')).safeParse(await repeat.json()).error?.issues).toBeUndefined();
    const sendTask = () =>
      ctx.app.request('/fhir/Task', {
        key: 'municipality',
        headers: { 'content-type': 'application/fhir+json', 'idempotency-key': `openapi-task-${id}` },
        method: 'POST',
        body: JSON.stringify({
          resourceType: 'Task',
          status: 'accepted',
          intent: 'order',
          focus: { identifier: { value: id } },
        }),
      });
    // A FHIR create: 201 with the Task, 200 with the same Task for a repeat; FHIR's media type, as documented.
    for (const [task, status] of [
      [await sendTask(), '201'],
      [await sendTask(), '200'],
    ] as const) {
      expect(String(task.status)).toBe(status);
      expect(task.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
      const documented = await documentedAnswer('/fhir/Task', status, 'post', 'application/fhir+json');
      const body = (await task.json()) as { resourceType: string };
      expect(body.resourceType).toBe('Task');
      expect(documented.safeParse(body).error?.issues).toBeUndefined();
    }
    // The GET lists the same updates, in the same shape.
    const list = await ctx.app.request(`/municipality/v1/referrals/${id}/status`, { key: 'municipality' });
    const listed = (await list.json()) as { statusUpdates: { id: string }[] };
    expect(listed.statusUpdates.map((u) => u.id)).toContain((answer as { id: string }).id);
    expect((await documentedAnswer(statusPath, '200', 'get')).safeParse(listed).error?.issues).toBeUndefined();
  });

  it('are what the document says for an event, with its decision and the consents it went on', async () => {
    const id = await deliveredReferral();
    const res = await ctx.app.request(`/his/v1/events/${id}`);
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { decision: unknown; disclosed: { consents: unknown }[] };
    // The default agreement rests on a public task: permitted, on no consent.
    expect(answer.decision).toEqual(expect.objectContaining({ effect: 'permit', consents: [] }));
    expect(answer.disclosed.map((d) => d.consents)).toEqual([[]]);
    expect(
      (await documentedAnswer('/his/v1/events/{id}', '200', 'get')).safeParse(answer).error?.issues,
    ).toBeUndefined();
  });

  it("are what the document says for a destination's health, which names who paused it", async () => {
    const path = '/admin/v1/destinations/{id}/status';
    const paused = await ctx.app.request('/admin/v1/destinations/gm0226/pause', {
      key: 'operator',
      method: 'POST',
      json: { reason: 'openapi check' },
    });
    expect(paused.status).toBe(200);
    const health = await ctx.app.request('/admin/v1/destinations/gm0226/status', { key: 'operator' });
    const body = (await health.json()) as { pausedByPrincipal?: unknown };
    expect(body.pausedByPrincipal).toBe('api-key:operator');
    const documented = await documentedAnswer(path, '200', 'get');
    expect(documented.safeParse(body).error?.issues).toBeUndefined();
    // A status without the principal is not what the document says (the field is required, null while running).
    expect(documented.safeParse({ ...body, pausedByPrincipal: undefined }).success).toBe(false);
    const resumed = await ctx.app.request('/admin/v1/destinations/gm0226/resume', { key: 'operator', method: 'POST' });
    expect(resumed.status).toBe(200);
    const all = await ctx.app.request('/admin/v1/destinations/status', { key: 'operator' });
    const documentedAll = await documentedAnswer('/admin/v1/destinations/status', '200', 'get');
    expect(documentedAll.safeParse(await all.json()).error?.issues).toBeUndefined();
  });
});
