import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { isTracingRequested } from '../../src/kernel/telemetry';
import { buildAgreement, buildDestination, buildReferralEvent } from '../helpers/builders';
import { DeliveryReceiver } from '../helpers/delivery-receiver';
import { LocalHttpServer } from '../helpers/local-server';
import { exited, freePort, spawnProduct, waitForLogLine, writeConfigDir } from '../helpers/product-process';
import { cleanupTestEnv, createTestEnv } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: { stringValue?: string } }[];
  events?: { name: string; attributes?: { key: string; value: { stringValue?: string } }[] }[];
}

/** A span's string attribute by key. */
function attributeOf(span: OtlpSpan, key: string): string | undefined {
  return span.attributes?.find((a) => a.key === key)?.value.stringValue;
}

/** A stand-in OpenTelemetry collector: OTLP over HTTP with JSON encoding, as any collector accepts it. */
class OtlpCollector extends LocalHttpServer {
  readonly spans: OtlpSpan[] = [];
  /** Every export as received, to search for what must never reach a collector. */
  readonly bodies: string[] = [];

  get tracesUrl(): string {
    return `http://127.0.0.1:${this.port}/v1/traces`;
  }

  protected handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      this.bodies.push(text);
      const body = JSON.parse(text || '{}') as {
        resourceSpans?: { scopeSpans?: { spans?: OtlpSpan[] }[] }[];
      };
      for (const rs of body.resourceSpans ?? []) {
        for (const ss of rs.scopeSpans ?? []) {
          this.spans.push(...(ss.spans ?? []));
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  }
}

const ROOT = path.resolve(__dirname, '../..');

describe('OpenTelemetry tracing', () => {
  it.each([
    [{}, false],
    [{ OTEL_TRACES_EXPORTER: 'none' }, false],
    [{ OTEL_TRACES_EXPORTER: 'console' }, true],
    [{ OTEL_TRACES_EXPORTER: 'otlp' }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, true],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' }, false],
  ])('is on for %j: %s', (env, on) => {
    expect(isTracingRequested(env)).toBe(on);
  });

  // prom-client loads @opentelemetry/api (a no-op facade) for exemplars; the SDK and instrumentations must stay out.
  it('does not load the SDK or any instrumentation when off', () => {
    const script = `require('./src/kernel/tracing-start'); require('./src/runtime');
      process.stdout.write(JSON.stringify(Object.keys(require.cache).filter((k) => /@opentelemetry\\/(?!api\\/)|bullmq-otel/.test(k))));`;
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
    const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, env, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([]);
  });

  describe('switched on with the standard OTEL_* variables, exporting OTLP to a collector', () => {
    const testEnv = createTestEnv();
    let collector: OtlpCollector;
    let receiver: DeliveryReceiver;
    let product: ChildProcess;
    let url: string;
    const logFile = path.join(testEnv.dataDir, 'product.log');

    beforeAll(async () => {
      collector = await new OtlpCollector().start();
      receiver = await new DeliveryReceiver().start();
      const configDir = path.join(testEnv.dataDir, 'config');
      writeConfigDir(configDir, {
        agreements: [buildAgreement()],
        destinations: [buildDestination(receiver.url('/fhir'))],
      });
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      product = spawnProduct(
        {
          ...testEnv.env,
          CONFIG_DIR: configDir,
          PORT: String(port),
          OTEL_TRACES_EXPORTER: 'otlp',
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.tracesUrl,
          OTEL_BSP_SCHEDULE_DELAY: '200',
          OTEL_METRICS_EXPORTER: 'none',
          OTEL_LOGS_EXPORTER: 'none',
        },
        logFile,
      );
      await waitForLogLine(product, logFile, 'workers started');
    }, 150_000);

    afterAll(async () => {
      product.kill('SIGTERM');
      await exited(product);
      await collector.stop();
      await receiver.stop();
      await cleanupTestEnv(testEnv);
    });

    it('puts every stage of one event in the trace its request started, and logs that trace id', async () => {
      const traceId = '0af7651916cd43dd8448eb211c80319c';
      const res = await fetch(`${url}/his/v1/events`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${testEnv.keys.practice}`,
          'content-type': 'application/json',
          traceparent: `00-${traceId}-b7ad6b7169203331-01`,
        },
        body: JSON.stringify(buildReferralEvent()),
      });
      expect(res.status).toBe(202);
      const response = res.headers.get('traceresponse') ?? '';
      expect(response).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
      const id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;

      const names = () => new Set(collector.spans.filter((s) => s.traceId === traceId).map((s) => s.name));
      await waitFor(
        'the spans of the request, the map and deliver jobs, and the delivery',
        () => {
          const n = [...names()];
          return (
            n.some((s) => /POST/.test(s) && s.includes('/his/v1/events')) &&
            n.some((s) => s.includes('process') && s.includes('map')) &&
            n.some((s) => s.includes('process') && s.includes('deliver.gm0226')) &&
            n.some((s) => /^(SELECT|INSERT|UPDATE|WITH|pg\.query)/.test(s)) &&
            collector.spans.some((s) => s.traceId === traceId && s.kind === 3 && s.name === 'POST')
          );
        },
        30_000,
        200,
      );
      const ofTrace = collector.spans.filter((s) => s.traceId === traceId);
      // The server span of the request is the caller's child, and the response names that span.
      const server = ofTrace.find((s) => s.kind === 2 && s.parentSpanId === 'b7ad6b7169203331');
      expect(server).toBeDefined();
      expect(response).toBe(`00-${traceId}-${server!.spanId}-01`);
      // One trace: every span's parent is a span of the same trace, except the server span (whose parent is the caller's).
      const spanIds = new Set(ofTrace.map((s) => s.spanId));
      expect(ofTrace.filter((s) => s !== server && !spanIds.has(s.parentSpanId ?? ''))).toEqual([]);
      expect(receiver.deliveries.length).toBeGreaterThan(0);
      expect(receiver.deliveries[0]!.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-`));

      const lines = fs
        .readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const access = lines.find((l) => l.msg === 'request' && l.route === '/his/v1/events');
      expect(access?.traceId).toBe(traceId);
      const stages = lines.filter((l) => l.msg === 'event state' && l.eventId === id);
      expect(stages.map((l) => l.state)).toEqual(['received', 'mapped', 'decided', 'delivered']);
      expect(stages.every((l) => l.traceId === traceId)).toBe(true);
    });

    // A collector is a system of its own: what a caller put in a query string, or a value the product refused,
    // is personal data as often as not (a BSN in ?patient=, a name in the wrong field) and must not reach it.
    it('sends no query value and no text of a refused request to the collector', async () => {
      const bsn = '111222333';
      const rejected = 'Geheimsma-mother';
      const traceId = '1bf7651916cd43dd8448eb211c80319c';
      const headers = (n: number) => ({
        authorization: `Bearer ${testEnv.keys.practice}`,
        'content-type': 'application/json',
        traceparent: `00-${traceId}-b7ad6b716920333${n}-01`,
      });
      const consents = await fetch(`${url}/fhir/Consent?patient=${bsn}&_count=5`, { headers: headers(1) });
      expect(consents.status).toBe(200);
      const event = buildReferralEvent();
      (event.guardians as { relationship: string }[])[0]!.relationship = rejected;
      const refused = await fetch(`${url}/his/v1/events`, {
        method: 'POST',
        headers: headers(2),
        body: JSON.stringify(event),
      });
      expect(refused.status).toBe(422);
      // The JSON parser's own message quotes the body it could not read.
      const malformed = await fetch(`${url}/his/v1/events`, {
        method: 'POST',
        headers: headers(3),
        body: `{"child": {"bsn": ${bsn}x`,
      });
      expect(malformed.status).toBe(400);

      const ofTrace = () => collector.spans.filter((s) => s.traceId === traceId);
      await waitFor(
        'the spans of the three requests, with the refusals recorded',
        () =>
          ofTrace().filter((s) => s.kind === 2).length === 3 &&
          ofTrace().filter((s) => s.events?.some((e) => e.name === 'exception')).length >= 2,
        30_000,
        200,
      );
      const queries = ofTrace()
        .map((s) => attributeOf(s, 'url.query'))
        .filter((q) => q !== undefined);
      expect(queries).toEqual(['patient=REDACTED&_count=REDACTED']);
      // A refusal is still recorded as one, by its type.
      const exceptions = ofTrace().flatMap((s) => (s.events ?? []).filter((e) => e.name === 'exception'));
      expect(exceptions.every((e) => e.attributes?.some((a) => a.key === 'exception.type'))).toBe(true);
      const exported = collector.bodies.join('\n');
      expect(exported).not.toContain(bsn);
      expect(exported).not.toContain(rejected);
    });
  });
});
