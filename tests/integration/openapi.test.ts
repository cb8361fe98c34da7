import { compileErrors, validate } from '@readme/openapi-parser';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { Router } from 'express';
import { createApp } from '../../src/http/app';
import { buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';

interface Operation {
  security?: unknown[];
  'x-roles'?: string[];
  parameters?: { name: string; in: string }[];
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
}
type OpenApi = { openapi: string; paths: Record<string, Record<string, Operation>> };

/** The parts of Express's (5.x) router this test reads. */
interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
  rawPath?: string | string[];
}

/** Every route Express serves, as `METHOD /openapi/{style}`, found by walking the app's router stack. */
function expressRoutes(stack: readonly Layer[], prefix = ''): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const path = `${prefix}${layer.route.path}`.replace(/\\/g, '').replace(/:(\w+)/g, '{$1}');
      return Object.keys(layer.route.methods)
        .filter((m) => m !== '_all')
        .map((m) => `${m.toUpperCase()} ${path}`);
    }
    if (layer.handle.stack) {
      const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
      return expressRoutes(layer.handle.stack, `${prefix}${mount}`);
    }
    return [];
  });
}

describe('the OpenAPI document and the docs page', () => {
  let app: TestApp;
  let doc: OpenApi;

  beforeAll(async () => {
    app = await startTestApp({});
    const res = await app.request('/openapi.json', { key: null });
    expect(res.status).toBe(200);
    doc = (await res.json()) as OpenApi;
  });

  afterAll(async () => {
    await app.close();
    await cleanupTestEnv(app.testEnv);
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
    const served = expressRoutes((express as unknown as { router: Router & { stack: Layer[] } }).router.stack);
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(served.length).toBeGreaterThan(30);
    expect([...new Set(served)].sort()).toEqual([...documented].sort());
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
    // A repeat is answered 200 with the first answer, beside the 202 of the first time.
    for (const [path, method] of [
      ['/municipality/v1/referrals/{id}/status', 'post'],
      ['/municipality/v1/trajectories/events', 'post'],
      ['/municipality/v1/monitoring/$push', 'post'],
    ] as const) {
      const responses = doc.paths[path]?.[method]?.responses ?? {};
      expect([path, '200' in responses, '202' in responses]).toEqual([path, true, true]);
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

  it('answers a wrong method on a known path with 405, Allow and an OperationOutcome', async () => {
    const del = await app.request('/fhir/AuditEvent', { key: 'auditor', method: 'DELETE' });
    expect(del.status).toBe(405);
    expect(del.headers.get('allow')).toBe('GET, HEAD');
    expect(((await del.json()) as OperationOutcome).resourceType).toBe('OperationOutcome');
    const get = await app.request('/his/v1/events', { key: 'practice' });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
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
