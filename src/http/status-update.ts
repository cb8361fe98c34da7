import { conflict, OperationOutcomeError } from '@medplum/core';
import type { Request, Response } from 'express';
import type { Identifier } from '@medplum/fhirtypes';
import { z } from 'zod';
import { text } from '../kernel/fhir/fields';
import { REFERRAL_STATUSES } from '../../mappings/practice/referral-status';
import type { StatusUpdate } from '../../mappings/practice/to-task';
import { isValidAgb, isValidIsoDate } from '../kernel/fhir/identifiers';
import { fieldIssue, notFoundField, unprocessableIssues } from '../kernel/fhir/outcomes';
import { JZ020_SYSTEM } from '../kernel/fhir/systems';
import { codesOf, isKnownCode, REFERRAL_REJECTION_REASON_SYSTEM } from '../kernel/fhir/terminology';
import { parseOrThrow } from '../kernel/zod-outcome';
import type { PipelineContext } from '../event/context';
import {
  assertOnePractice,
  findReferrals,
  isOnItsWayTo,
  newestOfEachReferral,
  receivingMunicipalityOf,
  recordStatusUpdate,
  type DeliveredReferral,
} from '../event/feedback';
import type { FeedbackRow } from '../event/event-store';
import { actorOf } from './request-context';
import { getPrincipal } from '../access/authenticate';
import type { Principal } from '../access/principal';
import { statusTaskShownTo } from '../reports/task-search/task-search';
import { auditRefusedReads } from './audit-read';
import { eventInScope } from './operator-scope';

/**
 * What the status routes share (`/municipality/v1/referrals/{identifier}/status` and `POST /fhir/Task`): the
 * status-update body, and which referral a municipality means and may act on.
 */

const day = z.string().refine(isValidIsoDate, 'a date YYYY-MM-DD');
const productCategory = z
  .string()
  .refine((c) => isKnownCode(JZ020_SYSTEM, c), 'a JZ020 product category code such as 45 or 54');

/** The body of `POST /municipality/v1/referrals/{identifier}/status`. */
export const statusUpdateSchema = z
  .object({
    status: z.enum(REFERRAL_STATUSES, { error: `one of ${REFERRAL_STATUSES.join(', ')}` }),
    reason: text(2000).optional(),
    reasonCode: z
      .string()
      .refine(
        (c) => isKnownCode(REFERRAL_REJECTION_REASON_SYSTEM, c),
        `a rejection reason: ${codesOf(REFERRAL_REJECTION_REASON_SYSTEM).join(', ')}`,
      )
      .optional()
      .meta({
        description:
          'the rejection reason (CodeSystem referral-rejection-reason): required with status rejected (else 422 ' +
          'naming reasonCode), refused with any other status',
      }),
    productCategory: productCategory.optional(),
    provider: z
      .object({
        agb: z.string().refine(isValidAgb, 'an AGB code of 8 digits').optional(),
        name: text(200).optional(),
      })
      .strict()
      .refine((p) => p.agb !== undefined || p.name !== undefined, { message: 'an AGB code or a name', path: ['name'] })
      .optional(),
    decision: z
      .object({
        number: z.string().regex(/^[\x21-\x7e]{1,64}$/, 'at most 64 printable characters'),
        date: day,
        productCategory,
        period: z.object({ start: day, end: day.optional() }).strict(),
      })
      .strict()
      .optional(),
    startDate: day.optional(),
    endDate: day.optional(),
    date: day.optional(),
  })
  .strict()
  .superRefine((u, ctx) => {
    const need = (ok: boolean, path: string[], message: string) => {
      if (!ok) {
        ctx.addIssue({ code: 'custom', path, message });
      }
    };
    switch (u.status) {
      case 'decision-issued':
        need(
          !!u.decision,
          ['decision'],
          'a decision-issued status needs the decision (number, date, productCategory, period)',
        );
        break;
      case 'care-started':
        need(!!u.provider?.agb, ['provider', 'agb'], "a care-started status needs the provider's AGB code");
        need(!!u.startDate, ['startDate'], 'a care-started status needs the start date');
        break;
      case 'care-ended':
        need(!!u.endDate, ['endDate'], 'a care-ended status needs the end date');
        break;
      case 'rejected':
        // The practice learns why with the rejection, or never: nothing but closed follows it.
        need(
          !!u.reasonCode,
          ['reasonCode'],
          `a rejected status needs the rejection reason: ${codesOf(REFERRAL_REJECTION_REASON_SYSTEM).join(', ')}`,
        );
        break;
      case 'received':
      case 'accepted':
      case 'allocated':
      case 'closed':
        break;
    }
    if (u.reasonCode && u.status !== 'rejected') {
      need(false, ['reasonCode'], 'only a rejected status has a rejection reason');
    }
    if (u.decision?.period.end && u.decision.period.end < u.decision.period.start) {
      need(false, ['decision', 'period', 'end'], 'before the start of the period');
    }
  });

export function parseStatusUpdate(body: unknown): StatusUpdate {
  return parseOrThrow(statusUpdateSchema, body);
}

/** An Idempotency-Key from the municipality: printable ASCII, so it is safe to store and compare. */
const REQUEST_KEY = /^[\x21-\x7e]{1,128}$/;

function requestKeyOf(header: string | undefined): string | undefined {
  if (header !== undefined && !REQUEST_KEY.test(header)) {
    throw new OperationOutcomeError(
      unprocessableIssues([fieldIssue('at most 128 printable ASCII characters', 'Idempotency-Key')]),
    );
  }
  return header;
}

/**
 * A referral the caller may act on, the municipality it acts for on it, and the field of the request that named it
 * (`identifier`, `Task.focus.identifier`): a 409 about the referral names it.
 */
export interface ReferralTarget {
  readonly referral: DeliveredReferral;
  readonly municipality: string;
  readonly expression: string;
}

/**
 * The referral a municipality means by `key` (anything it received that names the referral, `findReferrals`) and
 * the municipality the caller acts for on it. Of the events carrying the referral (the practice's first one and its
 * corrections), the newest one delivered to the caller is used; the referral's status history spans them all. A
 * referral that never reached one of the caller's municipalities is 404, the same answer as an unknown one, so a
 * municipality cannot learn of referrals held back (no consent), not yet sent, or sent elsewhere; only one that is
 * on its way to the caller's own destination is 409 (it will arrive). The 404 for referrals that exist is recorded
 * as a refused read in their practices' chains (`auditRefusedReads`); so is one of a practice outside an operator's
 * practice scope (`eventInScope`). A bare value that names the referrals of more
 * than one practice among those delivered to the caller is 409 at `expression`, since only the system says whose
 * referral is meant.
 */
export async function referralFor(
  ctx: PipelineContext,
  req: Request,
  res: Response,
  key: string,
  expression = 'identifier',
): Promise<ReferralTarget> {
  const principal = getPrincipal(res);
  const all = await findReferrals(ctx, key, principal);
  // An operator reads the statuses of its practices' referrals only, as it reads their events (operator-scope.ts).
  const referrals = all.filter((r) => principal.role !== 'operator' || eventInScope(principal, r.row));
  const visible = referrals.flatMap((referral) => {
    const municipality = receivingMunicipalityOf(principal, referral);
    return municipality ? [{ referral, municipality }] : [];
  });
  const [newest] = visible;
  if (newest) {
    assertOnePractice(
      visible.map((v) => v.referral),
      expression,
    );
    return { ...newest, expression };
  }
  if (referrals.some((r) => isOnItsWayTo(principal, r))) {
    throw new OperationOutcomeError(conflict('This referral has not been delivered yet'));
  }
  // Referrals the key names that the caller may not act on: the attempt is on record in each one's practice chain
  // (as GET /his/v1/events/{id} records another practice's), the answer the same as for an unknown referral.
  await auditRefusedReads(ctx, req, res, newestOfEachReferral(all), undefined, `referral/${key.slice(0, 200)}`);
  throw new OperationOutcomeError(notFoundField('No referral delivered to you has this identifier', expression));
}

/**
 * The referral a Task's `focus` names, as `referralFor` takes it: its identifier (`system|value`, or the value) or its
 * reference; undefined when it names neither.
 */
export function focusKeyOf(focus: unknown): string | undefined {
  const f = (focus ?? {}) as { identifier?: { system?: unknown; value?: unknown }; reference?: unknown };
  const value = f.identifier?.value;
  if (typeof value === 'string' && value) {
    const system = f.identifier?.system;
    return typeof system === 'string' && system ? `${system}|${value}` : value;
  }
  return typeof f.reference === 'string' && f.reference ? f.reference : undefined;
}

/**
 * Records a parsed status update on the referral the caller acts on (with the request's Idempotency-Key, and for a
 * FHIR Task the municipality's own identifiers of it; `notCancelled`: see `recordStatusUpdate`): the stored update,
 * or for a repeat (`duplicate`) the first one.
 */
export async function recordUpdate(
  ctx: PipelineContext,
  req: Request,
  res: Response,
  target: ReferralTarget,
  update: StatusUpdate,
  options: { readonly taskIdentifiers?: readonly Identifier[]; readonly notCancelled?: boolean } = {},
): Promise<{ feedback: FeedbackRow; duplicate: boolean }> {
  const requestKey = requestKeyOf(req.get('idempotency-key'));
  const actor = {
    ...actorOf(req, res),
    onBehalfOf: { kind: 'municipality' as const, code: target.municipality },
    alsoOnBehalfOf: undefined,
  };
  const recorded = await recordStatusUpdate(ctx, { ...target, ...options, update, actor, requestKey });
  ctx.metrics.processed.inc({ stage: 'feedback-received', result: recorded.duplicate ? 'duplicate' : 'accepted' });
  return recorded;
}

/**
 * Records a parsed status update (`recordUpdate`) and answers: 202 with the stored update, or 200 with the first one
 * for a repeat.
 */
export async function recordAndAnswer(
  ctx: PipelineContext,
  req: Request,
  res: Response,
  target: ReferralTarget,
  update: StatusUpdate,
): Promise<void> {
  const { feedback, duplicate } = await recordUpdate(ctx, req, res, target, update);
  res.status(duplicate ? 200 : 202).json(statusUpdateView(ctx, getPrincipal(res), feedback, target.referral.row.id));
}

/**
 * What the API shows of a status update: no free text beyond what the municipality sent itself, and its free-text
 * reason only to those who may read it (`statusTaskShownTo`: not an operator). `referral` names the referral as the
 * answer does (its current event, the newest delivered to the caller: a status history spans the practice's
 * corrections), `recordedOn` the event the update was recorded on.
 */
export function statusUpdateView(
  ctx: Pick<PipelineContext, 'cipher'>,
  principal: Principal,
  f: FeedbackRow,
  referral: string = f.inbox_id,
): Record<string, unknown> {
  return {
    id: f.id,
    referral,
    recordedOn: f.inbox_id,
    status: f.status,
    date: f.status_date,
    serviceRequestStatus: f.service_request_status,
    task: statusTaskShownTo(ctx, principal, f),
    delivery: {
      state: f.state,
      attempts: f.attempts,
      lastStatus: f.last_status,
      lastError: f.last_error,
      deliveredAt: f.delivered_at,
    },
    createdAt: f.created_at,
  };
}
