import { Router } from 'express';
import type { PipelineContext } from '../pipeline/context';

/** `/fhir/Consent…` and `/policy/v1/…` (full paths; authentication is applied in app.ts): the consent registry and the policy explanation. */
export function consentRouter(_ctx: PipelineContext): Router {
  return Router();
}
