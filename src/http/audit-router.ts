import { Router } from 'express';
import type { PipelineContext } from '../pipeline/context';

/** `/fhir/AuditEvent` and `/audit/v1`: what auditors use. Reading the log is itself logged. */
export function auditRouter(_ctx: PipelineContext): Router {
  return Router();
}
