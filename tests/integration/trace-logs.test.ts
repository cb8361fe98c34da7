import fs from 'node:fs';
import { BSNS, buildReferralEvent } from '../helpers/builders';
import { useAppWithReceiver } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

type LogLine = Record<string, unknown>;

describe('logs follow a request and its event by W3C trace id', () => {
  const h = useAppWithReceiver();

  const logLines = (): LogLine[] =>
    fs
      .readFileSync(h.app.testEnv.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);

  it('echoes the caller’s trace id and finds it in the access line and in each stage’s line of the event', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await h.app.request('/his/v1/events', {
      json: buildReferralEvent(),
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, 'x-request-id': 'his-req-42' },
    });
    expect(res.status).toBe(202);
    expect(res.headers.get('traceresponse')).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(res.headers.get('x-request-id')).toBe('his-req-42');
    const id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;

    const delivered = (l: LogLine) => l.eventId === id && l.state === 'delivered';
    const lines = await waitFor('the delivered line of the event', () => {
      const all = logLines();
      return all.some(delivered) ? all : undefined;
    });

    const access = lines.filter((l) => l.msg === 'request' && l.requestId === 'his-req-42');
    expect(access).toEqual([
      expect.objectContaining({
        level: 'info',
        method: 'POST',
        route: '/his/v1/events',
        status: 202,
        durationMs: expect.any(Number),
        principal: 'api-key:practice',
        traceId,
      }),
    ]);

    const states = lines.filter((l) => l.msg === 'event state' && l.eventId === id);
    expect(states.map((l) => [l.stage, l.state])).toEqual([
      ['receive', 'received'],
      ['map', 'mapped'],
      ['map', 'decided'],
      ['deliver', 'delivered'],
    ]);
    expect(states.every((l) => l.traceId === traceId)).toBe(true);
    // The receiver sees the same id, so its logs can be joined with ours.
    expect(h.receiver.hits.length).toBeGreaterThan(0);
  });

  it('finds the trace id in the `job failed` line of a delivery attempt the receiver refused', async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    h.receiver.mode = { kind: 'status', status: 503 };
    try {
      const res = await h.app.request('/his/v1/events', {
        json: buildReferralEvent(),
        headers: { traceparent: `00-${traceId}-b7ad6b7169203331-01` },
      });
      expect(res.status).toBe(202);
      const failed = await waitFor('a failed delivery attempt in the log', () => {
        const lines = logLines().filter((l) => l.msg === 'job failed' && l.queue === 'deliver.gm0226');
        return lines.length > 0 ? lines : undefined;
      });
      expect(failed[0]).toEqual(
        expect.objectContaining({ level: 'warn', error: 'RetryableDeliveryError', retry: true, traceId }),
      );
    } finally {
      h.receiver.mode = { kind: 'ok' };
    }
    await waitFor('the delivery to go through', () =>
      logLines().some((l) => l.traceId === traceId && l.msg === 'event state' && l.state === 'delivered'),
    );
  });

  it('starts a new W3C trace when the caller sends none or an invalid traceparent', async () => {
    for (const traceparent of [undefined, '00-00000000000000000000000000000000-00f067aa0ba902b7-01', 'garbage']) {
      const res = await h.app.request('/his/v1/events/00000000-0000-0000-0000-000000000000', {
        headers: traceparent ? { traceparent } : {},
      });
      expect(res.status).toBe(404);
      expect(res.headers.get('traceresponse')).toMatch(/^00-(?!0{32})[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('logs the route pattern, never the path or query string, and one line per request', async () => {
    const bsn = BSNS[0];
    const res = await h.app.request(`/fhir/Consent?patient:identifier=http://fhir.nl/fhir/NamingSystem/bsn|${bsn}`, {
      key: 'auditor',
      headers: { 'x-request-id': 'consent-search-1' },
    });
    expect(res.status).toBe(200);
    const unknown = await h.app.request('/no/such/path?bsn=111222333', { headers: { 'x-request-id': 'unknown-1' } });
    expect(unknown.status).toBe(404);
    const lines = await waitFor('both access lines', () => {
      const all = logLines().filter((l) => l.requestId === 'consent-search-1' || l.requestId === 'unknown-1');
      return all.length >= 2 ? all : undefined;
    });
    expect(lines.map((l) => [l.requestId, l.route, l.status, l.principal])).toEqual([
      ['consent-search-1', '/fhir/Consent', 200, 'api-key:auditor'],
      ['unknown-1', 'unmatched', 404, undefined],
    ]);
    const text = fs.readFileSync(h.app.testEnv.logFile, 'utf8');
    expect(text).not.toContain(bsn);
    expect(text).not.toContain('111222333');
    expect(text).not.toContain('/no/such/path');
  });
});
