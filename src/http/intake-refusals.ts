import { OperationOutcomeError } from '@medplum/core';
import type { Counter } from 'prom-client';
import { httpStatusOf } from '../kernel/fhir/outcomes';
import { isConnectionWaitTimeout, isOutageError, outageDependencyOf } from '../kernel/outage';

/** The routes that bring data in, by kind: what `jeugdbrug_intake_refused_total` names as `route`. */
export const INTAKE_ROUTE_KINDS = ['his-events', 'referral-status', 'trajectory-events'] as const;
export type IntakeRouteKind = (typeof INTAKE_ROUTE_KINDS)[number];

/**
 * Why intake was refused: the queue guard (429), PostgreSQL away or its pool exhausted, Redis away, or another 503
 * (a JWT issuer's key set that cannot be fetched).
 */
export const INTAKE_REFUSAL_REASONS = ['queue-full', 'database', 'database-busy', 'redis', 'other'] as const;
export type IntakeRefusalReason = (typeof INTAKE_REFUSAL_REASONS)[number];

/** POST paths of intake, by kind. Matched on the path, so a refusal before the router (authentication) counts too. */
const INTAKE_PATHS: readonly (readonly [RegExp, IntakeRouteKind])[] = [
  [/^\/his\/v1\/events$/, 'his-events'],
  [/^\/municipality\/v1\/referrals\/[^/]+\/status$/, 'referral-status'],
  // The FHIR form of a status update.
  [/^\/fhir\/Task$/, 'referral-status'],
  [/^\/municipality\/v1\/trajectories\/events$/, 'trajectory-events'],
];

/** The kind of intake a request is, by method and URL (its query ignored); undefined for any other request. */
function intakeRouteKindOf(method: string, url: string): IntakeRouteKind | undefined {
  if (method !== 'POST') {
    return undefined;
  }
  const path = url.split('?', 1)[0] ?? '';
  return INTAKE_PATHS.find(([pattern]) => pattern.test(path))?.[1];
}

/** Why `err` refused the request, when it is jeugdbrug's own (not the request's fault): undefined otherwise. */
function refusalReasonOf(err: unknown): IntakeRefusalReason | undefined {
  if (err instanceof OperationOutcomeError) {
    if (err.outcome.id === 'queue-full') {
      return 'queue-full';
    }
    return httpStatusOf(err.outcome) === 503 ? 'other' : undefined;
  }
  if (!isOutageError(err)) {
    return undefined;
  }
  if (isConnectionWaitTimeout(err)) {
    return 'database-busy';
  }
  return outageDependencyOf(err);
}

/**
 * The route kind and reason of a request refused with `err`, when it is intake (a HIS's events, a municipality's
 * status update or trajectory event) refused for a cause of jeugdbrug's own; undefined for any other request or error.
 * Labels only from these fixed lists: nothing of the request itself.
 */
export function intakeRefusalOf(
  method: string,
  url: string,
  err: unknown,
): { route: IntakeRouteKind; reason: IntakeRefusalReason } | undefined {
  const route = intakeRouteKindOf(method, url);
  const reason = route && refusalReasonOf(err);
  return route && reason ? { route, reason } : undefined;
}

/** Every route kind and reason at 0, so that a rate over them has a first sample and an alert an answer. */
export function zeroIntakeRefusals(counter: Counter<'route' | 'reason'>): void {
  for (const route of INTAKE_ROUTE_KINDS) {
    for (const reason of INTAKE_REFUSAL_REASONS) {
      counter.inc({ route, reason }, 0);
    }
  }
}
