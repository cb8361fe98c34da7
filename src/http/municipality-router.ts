import { Router } from 'express';
import type { PipelineContext } from '../pipeline/context';

/** `/municipality/v1`: what municipalities use (status feedback on referrals delivered to them). */
export function municipalityRouter(_ctx: PipelineContext): Router {
  return Router();
}
