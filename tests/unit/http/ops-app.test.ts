import { Gauge } from 'prom-client';
import type { PipelineContext } from '../../../src/event/context';
import { createOpsApp } from '../../../src/http/ops-app';
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

  it('answers any other error with a generic 500 OperationOutcome, the details only in the log', async () => {
    const s = await serveOps(new Error('secret detail'));
    try {
      const res = await fetch(`${s.url}/metrics`);
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toMatch(/^application\/fhir\+json/);
      const body = await res.text();
      expect(body).not.toContain('secret detail');
      expect(body).not.toMatch(/\bat .*\.ts:\d+/);
      expect(s.lines).toEqual([expect.objectContaining({ msg: 'unexpected error', reason: 'secret detail' })]);
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
});
