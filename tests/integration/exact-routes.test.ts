import type { OperationOutcome } from '@medplum/fhirtypes';
import { servedRoutesOf } from '../helpers/app-routes';
import { type KeyName, type TestApp, useTestApp } from '../helpers/test-runtime';

/** Every route the app serves, console included, as method and a path with `x` for each parameter. */
function concreteRoutes(app: TestApp): { method: string; path: string }[] {
  const routes = servedRoutesOf(app);
  return routes.map((r) => {
    const [method = '', path = ''] = r.route.split(' ');
    return { method, path: path.replace(/\{\w+\}/g, 'x') };
  });
}

// report-xpen 2: Express's defaults matched routes case-insensitively and with a trailing slash, so a proxy rule for
// an exact path (nginx `location = /metrics { return 404; }`, a prefix rule before /admin/) let /metrics/, /METRICS
// and /ADMIN/v1/queues through. A path is served only as the route spells it.
describe('routes are matched exactly: case-sensitive, without a trailing slash', () => {
  const app = useTestApp();

  async function expectNotFound(method: string, path: string, key: KeyName | null): Promise<void> {
    const res = await app.request(path, { method, key, redirect: 'manual' });
    const body = await res.text();
    expect([method, path, res.status]).toEqual([method, path, 404]);
    // Under /fhir, FHIR's own 404 says which type is unknown (`auditevent`); elsewhere the plain one.
    const outcome = JSON.parse(body) as OperationOutcome;
    expect([method, path, outcome.resourceType, outcome.issue[0]?.code]).toEqual([
      method,
      path,
      'OperationOutcome',
      'not-found',
    ]);
  }

  it.each([
    ['/metrics/', null],
    ['/METRICS', null],
    ['/Metrics', null],
    ['/health/live/', null],
    ['/HEALTH/live', null],
    ['/FHIR/AuditEvent', 'auditor'],
    ['/fhir/auditevent', 'auditor'],
    ['/fhir/AuditEvent/', 'auditor'],
    ['/ADMIN/v1/queues', 'operator'],
    ['/admin/v1/queues/', 'operator'],
    ['/Console', null],
    ['/console/', null],
    ['/console/sign-in/', null],
    ['/OPENAPI.JSON', null],
  ] as const)('answers GET %s with 404, whoever asks', async (path, key) => {
    await expectNotFound('GET', path, key);
  });

  it('answers 404 to every route spelled in capitals or with a trailing slash', async () => {
    const routes = concreteRoutes(app);
    expect(routes.length).toBeGreaterThan(60);
    for (const { method, path } of routes) {
      await expectNotFound(method, path.toUpperCase(), 'operator');
      await expectNotFound(method, `${path}/`, 'operator');
    }
  });

  it('still serves the routes as they are spelled', async () => {
    expect((await app.request('/metrics', { key: null })).status).toBe(200);
    expect((await app.request('/health/live', { key: null })).status).toBe(200);
    expect((await app.request('/admin/v1/queues', { key: 'operator' })).status).toBe(200);
    expect((await app.request('/fhir/AuditEvent', { key: 'auditor' })).status).toBe(200);
    expect((await app.request('/console', { key: null, redirect: 'manual' })).status).toBe(303);
  });
});
