import { initTracing } from './telemetry';

// Imported first by src/main.ts: OpenTelemetry's instrumentations patch express, pg, ioredis and http as they are
// required, so the SDK has to start before any of them loads. Without OTEL_* variables this does nothing.
initTracing();
