// Type-only imports are erased at compile time: nothing of OpenTelemetry loads unless initTracing requires it.
import type * as SdkNode from '@opentelemetry/sdk-node';
import type * as SdkTrace from '@opentelemetry/sdk-trace';
import type * as OtlpProto from '@opentelemetry/exporter-trace-otlp-proto';
import type * as OtlpHttp from '@opentelemetry/exporter-trace-otlp-http';
import type * as OtlpGrpc from '@opentelemetry/exporter-trace-otlp-grpc';
import type * as Zipkin from '@opentelemetry/exporter-zipkin';
import type * as HttpInstr from '@opentelemetry/instrumentation-http';
import type * as ExpressInstr from '@opentelemetry/instrumentation-express';
import type * as PgInstr from '@opentelemetry/instrumentation-pg';
import type * as IoredisInstr from '@opentelemetry/instrumentation-ioredis';
import type * as UndiciInstr from '@opentelemetry/instrumentation-undici';
import type * as BullmqOtel from 'bullmq-otel';
import type * as OtelApi from '@opentelemetry/api';
import type * as OtelCore from '@opentelemetry/core';
import type { Telemetry } from 'bullmq';
import { scrubbingSpanProcessor } from './span-scrub';

/**
 * OpenTelemetry tracing, switched on with the standard `OTEL_*` variables and off by default. When off, nothing of
 * the SDK is loaded (the modules below are required only inside `initTracing`), so it costs nothing.
 *
 * On when `OTEL_TRACES_EXPORTER` names an exporter other than `none` (`otlp`, `console`, `zipkin`), or an OTLP
 * endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); `OTEL_SDK_DISABLED=true`
 * wins. Everything else (protocol, headers, sampler, resource attributes, batch delays) is the SDK's own reading of
 * the standard variables. Spans: HTTP in and out (node:http, fetch/undici), Express routes, pg queries, ioredis
 * commands, and BullMQ produce/consume (bullmq-otel), which carries the context inside each job so that every stage
 * of one event is in the trace its HTTP request started.
 */

type Env = Readonly<Record<string, string | undefined>>;

interface TracingState {
  readonly shutdown: () => Promise<void>;
  readonly activeIds: () => { traceId: string; spanId: string } | undefined;
  readonly bullmq: Telemetry;
}

let state: TracingState | undefined;

/** Whether the environment asks for tracing. */
export function isTracingRequested(env: Env = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') {
    return false;
  }
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '' && e !== 'none');
  return exporters.length > 0 || !!env.OTEL_EXPORTER_OTLP_ENDPOINT || !!env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
}

/**
 * Starts the SDK when asked for; must run before express, pg, ioredis and bullmq are first required, because the
 * instrumentations patch modules as they load (src/main.ts imports `./kernel/tracing-start` first for that reason).
 */
export function initTracing(env: Env = process.env): boolean {
  if (state || !isTracingRequested(env)) {
    return !!state;
  }
  /* eslint-disable @typescript-eslint/no-require-imports -- loaded only when tracing is on: no cost when off */
  const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof SdkNode;
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http') as typeof HttpInstr;
  const { ExpressInstrumentation } = require('@opentelemetry/instrumentation-express') as typeof ExpressInstr;
  const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof PgInstr;
  const { IORedisInstrumentation } = require('@opentelemetry/instrumentation-ioredis') as typeof IoredisInstr;
  const { UndiciInstrumentation } = require('@opentelemetry/instrumentation-undici') as typeof UndiciInstr;
  const { BullMQOtel } = require('bullmq-otel') as typeof BullmqOtel;
  const api = require('@opentelemetry/api') as typeof OtelApi;
  const { getRPCMetadata } = require('@opentelemetry/core') as typeof OtelCore;
  /* eslint-enable @typescript-eslint/no-require-imports */
  const exporting = spanProcessorsFromEnv(env);
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? 'jeugdbrug',
    // The exporters the OTEL_* variables name, behind a processor that scrubs each span before they see it. NodeSDK
    // takes extra processors only in place of its own, and the function that builds those from the environment is
    // not exported (open-telemetry/opentelemetry-js#5299): spanProcessorsFromEnv builds them as it does.
    // None when the variables name only `none`: then no tracer provider is registered, as the SDK does itself.
    spanProcessors: exporting.length > 0 ? [scrubbingSpanProcessor, ...exporting] : [],
    instrumentations: [
      new HttpInstrumentation({
        // Probes and scrapes every few seconds would drown the traces of events.
        ignoreIncomingRequestHook: (req) => /^\/(health|metrics)(\/|$|\?)/.test(req.url ?? ''),
      }),
      new ExpressInstrumentation(),
      // Statement text only: parameter values can be personal data (a BSN in a consent lookup).
      new PgInstrumentation({ enhancedDatabaseReporting: false }),
      // Command names only: arguments are job data and keys.
      new IORedisInstrumentation({ dbStatementSerializer: (cmd) => cmd }),
      new UndiciInstrumentation(),
    ],
  });
  sdk.start();
  state = {
    shutdown: () => sdk.shutdown(),
    activeIds: () => {
      // The HTTP server span (kept in the context for Express's route) rather than the innermost middleware span.
      const active = api.context.active();
      const ctx = (getRPCMetadata(active)?.span ?? api.trace.getSpan(active))?.spanContext();
      return ctx && api.isSpanContextValid(ctx) ? { traceId: ctx.traceId, spanId: ctx.spanId } : undefined;
    },
    bullmq: new BullMQOtel({ tracerName: 'jeugdbrug', version: '1' }),
  };
  return true;
}

/**
 * The span processors the OTEL_* variables ask for, built from the exporters' public entries as NodeSDK builds its
 * own: `OTEL_TRACES_EXPORTER` (`otlp` by default, `console`, `zipkin`; `none` first: none), the OTLP protocol from
 * `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf` by default), and the batch
 * settings `OTEL_BSP_*`. Each exporter reads its own endpoint, headers and timeout from the environment.
 */
function spanProcessorsFromEnv(env: Env): SdkTrace.SpanProcessor[] {
  /* eslint-disable @typescript-eslint/no-require-imports -- loaded only when tracing is on: no cost when off */
  const trace = require('@opentelemetry/sdk-trace') as typeof SdkTrace;
  const otlp = (): SdkTrace.SpanExporter => {
    const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?.trim() || env.OTEL_EXPORTER_OTLP_PROTOCOL?.trim();
    if (protocol === 'grpc') {
      return new (require('@opentelemetry/exporter-trace-otlp-grpc') as typeof OtlpGrpc).OTLPTraceExporter();
    }
    if (protocol === 'http/json') {
      return new (require('@opentelemetry/exporter-trace-otlp-http') as typeof OtlpHttp).OTLPTraceExporter();
    }
    return new (require('@opentelemetry/exporter-trace-otlp-proto') as typeof OtlpProto).OTLPTraceExporter();
  };
  const zipkin = () => new (require('@opentelemetry/exporter-zipkin') as typeof Zipkin).ZipkinExporter();
  /* eslint-enable @typescript-eslint/no-require-imports */
  let names = [
    ...new Set(
      (env.OTEL_TRACES_EXPORTER ?? '')
        .split(',')
        .map((e) => e.trim())
        .filter((e) => e !== '' && e !== 'null'),
    ),
  ];
  if (names[0] === 'none') {
    return [];
  }
  // As the SDK: none named, or `none` beside others, means the default.
  if (names.length === 0 || names.includes('none')) {
    names = ['otlp'];
  }
  const bsp = (name: string): number | undefined => {
    const n = Number(env[name]);
    return env[name]?.trim() && Number.isFinite(n) && n >= 0 ? n : undefined;
  };
  return names.flatMap((name): SdkTrace.SpanProcessor[] => {
    if (name === 'console') {
      return [new trace.SimpleSpanProcessor({ exporter: new trace.ConsoleSpanExporter() })];
    }
    const exporter = name === 'otlp' ? otlp() : name === 'zipkin' ? zipkin() : undefined;
    return exporter
      ? [
          new trace.BatchSpanProcessor({
            exporter,
            maxQueueSize: bsp('OTEL_BSP_MAX_QUEUE_SIZE'),
            scheduledDelayMillis: bsp('OTEL_BSP_SCHEDULE_DELAY'),
            exportTimeoutMillis: bsp('OTEL_BSP_EXPORT_TIMEOUT'),
            maxExportBatchSize: bsp('OTEL_BSP_MAX_EXPORT_BATCH_SIZE'),
          }),
        ]
      : [];
  });
}

/** Flushes and stops the SDK (the last step of shutdown); a no-op when tracing is off. */
export async function closeTracing(): Promise<void> {
  const s = state;
  state = undefined;
  await s?.shutdown();
}

/** Whether tracing was started (`initTracing`). */
export function isTracingStarted(): boolean {
  return state !== undefined;
}

/** The trace and span id of the active span, when tracing is on and a span is active. */
export function tryGetActiveSpanIds(): { traceId: string; spanId: string } | undefined {
  return state?.activeIds();
}

/** BullMQ's `telemetry` option when tracing is on (spread it into Queue and Worker options). */
export function bullmqTelemetryOption(): { telemetry?: Telemetry } {
  return state ? { telemetry: state.bullmq } : {};
}
