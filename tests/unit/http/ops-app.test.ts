import { Gauge } from 'prom-client';
import type { PipelineContext } from '../../../src/event/context';
import { createOpsApp } from '../../../src/http/ops-app';
import { readBuildInfo } from '../../../src/kernel/build-info';
import { Metrics } from '../../../src/kernel/metrics';
import { DependencyUnavailableError } from '../../../src/kernel/outage';
import { collectingLogger, serveApp } from '../../helpers/served-app';

/**
 * A worker's METRICS_PORT server answers what goes wrong as the API does: an OperationOutcome, 503 with Retry-After
 * for an outage, a generic 500 for anything else, never Express's HTML page or a stack trace.
 */
async function serveOps(failure: Error): Promise<{ url: string; lines: Record<string, unknown>[]; close: () => void }> {
  const { log, lines } = collectingLogger('info');
  const metrics = new Metrics({ queueDepths: () => Promise.resolve([]) });
  // A metric whose collection fails: what the ops server does with an error it did not expect.
  new Gauge({
    name: 'test_broken',
    help: 'fails',
    registers: [metrics.registry],
    collect() {
      throw failure;
    },
  });
  const ctx = {
    log,
    config: { ROLE: 'worker', BODY_LIMIT: '1mb' },
    build: readBuildInfo('0123456789ab'),
    metrics,
    outages: { noticed: () => undefined, down: () => undefined },
  } as unknown as PipelineContext;
  return { ...(await serveApp(createOpsApp(ctx))), lines };
}

describe('the worker’s ops server', () => {
  it('answers an outage with 503, Retry-After and an OperationOutcome', async () => {
    const s = await serveOps(new DependencyUnavailableError('redis', 'queue depths: no answer within 1000 ms'));
    try {
      const res = await fetch(`${s.url}/metrics`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
      const body = await res.text();
      expect(JSON.parse(body)).toEqual(expect.objectContaining({ resourceType: 'OperationOutcome' }));
      expect(body).not.toMatch(/\bat .*\.ts:\d+/);
    } finally {
      s.close();
    }
  });

  // Until 6 December the log line carried the message (`reason: 'secret detail'`); a message written by code that
  // does not keep data out of it (a dialect's mapper, JSON.parse, PostgreSQL) can quote a BSN, so now the log says
  // where the error was thrown instead.
  it('answers any other error with a generic 500 OperationOutcome, where it was thrown only in the log', async () => {
    const s = await serveOps(new Error('secret detail of child 111222333'));
    try {
      const res = await fetch(`${s.url}/metrics`);
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
      const body = await res.text();
      expect(body).not.toContain('secret detail');
      expect(body).not.toMatch(/\bat .*\.ts:\d+/);
      expect(s.lines).toEqual([
        expect.objectContaining({
          msg: 'unexpected error',
          error: 'Error',
          at: expect.arrayContaining([expect.stringMatching(/tests\/unit\/http\/ops-app\.test\.ts:\d+:\d+/)]),
        }),
      ]);
      expect(JSON.stringify(s.lines)).not.toMatch(/secret detail|111222333/);
    } finally {
      s.close();
    }
  });

  it('answers an unknown path with a 404 OperationOutcome', async () => {
    const s = await serveOps(new Error('unused'));
    try {
      const res = await fetch(`${s.url}/his/v1/events`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    } finally {
      s.close();
    }
  });

  // report-xpen 2: /metrics/ and /METRICS were served as /metrics, past a proxy rule for the exact path.
  it.each(['/metrics/', '/METRICS', '/Metrics', '/health/live/', '/HEALTH/live'])(
    'answers %s with a 404 OperationOutcome: routes match only as they are spelled',
    async (path) => {
      const s = await serveOps(new Error('unused'));
      try {
        const res = await fetch(`${s.url}${path}`);
        expect(res.status).toBe(404);
        expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
      } finally {
        s.close();
      }
    },
  );
});
