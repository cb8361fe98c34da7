import type { RequestHandler, Response } from 'express';
import type { FhirRoute } from './fhir-router';
import { z } from 'zod';
import type { Coding, OperationOutcome } from '@medplum/fhirtypes';
import { ALLOCATION_OUTPUT_SYSTEM, REFERRAL_STATUS_SYSTEM } from '../../mappings/practice/to-task';
import { REFERRAL_STATUSES } from '../../mappings/practice/referral-status';
import { failField } from '../kernel/fhir/outcomes';
import { JZ020_SYSTEM } from '../kernel/fhir/systems';
import { codesOf, REFERRAL_REJECTION_REASON_SYSTEM } from '../kernel/fhir/terminology';
import { parseOrThrow } from '../kernel/zod-outcome';
import type { PipelineContext } from '../event/context';
import { requireRole } from '../access/authenticate';
import { focusKeyOf, parseStatusUpdate, recordUpdate, referralFor } from './status-update';
import type { FeedbackRow } from '../event/event-store';
import { feedbackTaskOf } from '../event/feedback';
import { jsonBodyOf } from './json-body';

const FHIR_JSON = 'application/fhir+json';

/**
 * `POST /fhir/Task`: the FHIR way for a municipality to send a referral's status. `focus` names the ServiceRequest
 * by the identifier the municipality received, or by reference (the webhook's `focus`); `businessStatus`
 * (referral-status) says the status (or, without it, `status` received/accepted/rejected/completed); `statusReason`
 * the rejection reason (referral-rejection-reason, else 422 at Task.statusReason); `output` the decision and
 * care details, typed as in the Tasks jeugdbrug sends to practices. Its rules are those of
 * `POST /municipality/v1/referrals/{identifier}/status`; its answer is a FHIR server's to a create: 201 with the Task
 * as stored (the one that goes on to the practice), 200 with the Task stored the first time for a repeat, as
 * `application/fhir+json`; `Prefer: return=OperationOutcome` or `return=minimal` as FHIR says.
 */

const coding = z.object({ system: z.string().optional(), code: z.string().optional() }).loose();
const concept = z.object({ coding: z.array(coding).optional(), text: z.string().optional() }).loose();

const taskSchema = z
  .object({
    resourceType: z.literal('Task', { error: 'a Task' }),
    status: z.string().optional(),
    businessStatus: concept.optional(),
    statusReason: concept.optional(),
    focus: z
      .object({
        identifier: z
          .object({ system: z.string().optional(), value: z.string().min(1).max(256) })
          .loose()
          .optional(),
        reference: z.string().min(1).max(512).optional(),
      })
      .loose()
      .refine((f) => f.identifier !== undefined || f.reference !== undefined, {
        message: 'the ServiceRequest, by the identifier or the reference received with it',
        path: ['identifier'],
      }),
    output: z
      .array(
        z
          .object({
            type: concept,
            valueIdentifier: z.object({ value: z.string().optional() }).loose().optional(),
            valueDate: z.string().optional(),
            valueCodeableConcept: concept.optional(),
            valuePeriod: z.object({ start: z.string().optional(), end: z.string().optional() }).loose().optional(),
            valueReference: z
              .object({
                identifier: z.object({ value: z.string().optional() }).loose().optional(),
                display: z.string().optional(),
              })
              .loose()
              .optional(),
          })
          .loose(),
      )
      .optional(),
  })
  .loose();

/** Task.status → our status, for a Task without businessStatus. */
const FROM_TASK_STATUS: Record<string, string> = {
  received: 'received',
  accepted: 'accepted',
  rejected: 'rejected',
  completed: 'closed',
};

function codeIn(codings: readonly Coding[] | undefined, system: string): string | undefined {
  return codings?.find((c) => c.system === system)?.code;
}

/**
 * The status a Task says: its businessStatus, a referral-status code (a coding without system is read as one), or
 * without businessStatus its Task.status. A businessStatus without such a code is a 422: falling back to Task.status
 * would record a status the municipality did not send. An unknown code is refused by the status body's schema.
 */
function statusOf(task: z.infer<typeof taskSchema>): string | undefined {
  const business = task.businessStatus;
  if (!business) {
    return FROM_TASK_STATUS[task.status ?? ''] ?? task.status;
  }
  const code = codeIn(business.coding, REFERRAL_STATUS_SYSTEM) ?? business.coding?.find((c) => !c.system)?.code;
  if (code === undefined) {
    failField(`a coding of ${REFERRAL_STATUS_SYSTEM}: one of ${REFERRAL_STATUSES.join(', ')}`, 'Task.businessStatus');
  }
  return code;
}

/**
 * The rejection reason a Task's statusReason codes: a referral-rejection-reason code (a coding without system is read
 * as one, as in businessStatus; an unknown code is refused by the status body's schema). Codings of other systems
 * only are a 422 at `Task.statusReason`: the reason would otherwise be dropped while the status is taken.
 */
function reasonCodeOf(task: z.infer<typeof taskSchema>): string | undefined {
  const codings = task.statusReason?.coding ?? [];
  if (codings.length === 0) {
    return undefined;
  }
  const code = codeIn(codings, REFERRAL_REJECTION_REASON_SYSTEM) ?? codings.find((c) => c.system === undefined)?.code;
  if (code === undefined) {
    failField(
      `a coding of ${REFERRAL_REJECTION_REASON_SYSTEM}: one of ${codesOf(REFERRAL_REJECTION_REASON_SYSTEM).join(', ')}`,
      'Task.statusReason',
    );
  }
  return code;
}

/** The status-update body the Task says, in the shape the status route takes (validated by the same schema). */
function statusBodyOf(task: z.infer<typeof taskSchema>): Record<string, unknown> {
  const out = (code: string) => task.output?.find((o) => codeIn(o.type.coding, ALLOCATION_OUTPUT_SYSTEM) === code);
  const decisionNumber = out('decision-number')?.valueIdentifier?.value;
  const provider = out('provider')?.valueReference;
  const body: Record<string, unknown> = {
    status: statusOf(task),
    reason: task.statusReason?.text,
    reasonCode: reasonCodeOf(task),
    decision: decisionNumber
      ? {
          number: decisionNumber,
          date: out('decision-date')?.valueDate,
          productCategory: codeIn(out('product-category')?.valueCodeableConcept?.coding, JZ020_SYSTEM),
          period: out('decision-period')?.valuePeriod,
        }
      : undefined,
    productCategory: decisionNumber
      ? undefined
      : codeIn(out('product-category')?.valueCodeableConcept?.coding, JZ020_SYSTEM),
    provider: provider ? { agb: provider.identifier?.value, name: provider.display } : undefined,
    startDate: out('start-date')?.valueDate,
    endDate: out('end-date')?.valueDate,
  };
  return JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
}

/** Where in the Task each field of the status body came from, for the 422's `expression`. */
const TASK_PATH: Record<string, string> = {
  status: 'Task.businessStatus',
  reason: 'Task.statusReason.text',
  reasonCode: 'Task.statusReason',
  decision: 'Task.output',
  productCategory: 'Task.output',
  provider: 'Task.output',
  startDate: 'Task.output',
  endDate: 'Task.output',
};

export function fhirTaskRoute(ctx: PipelineContext): FhirRoute {
  const create: RequestHandler = async (req, res) => {
    const task = parseOrThrow(taskSchema, jsonBodyOf(req), (path) =>
      path.length ? `Task.${path.map(String).join('.')}` : 'Task',
    );
    const target = await referralFor(
      ctx,
      req,
      res,
      focusKeyOf(task.focus) ?? '',
      task.focus.identifier ? 'Task.focus.identifier' : 'Task.focus.reference',
    );
    // Both the body's rules and the update's days against the referral's name the status body's fields.
    let recorded: { feedback: FeedbackRow; duplicate: boolean };
    try {
      recorded = await recordUpdate(ctx, req, res, target, parseStatusUpdate(statusBodyOf(task)));
    } catch (err) {
      throw renamedIssues(err);
    }
    sendCreated(ctx, res, recorded.feedback, recorded.duplicate, preferredReturn(req.get('prefer')));
  };
  return {
    interaction: {
      resourceType: 'Task',
      code: 'create',
      documentation:
        'a municipality’s status on a referral delivered to it (focus: the ServiceRequest by identifier): 201 with ' +
        'the Task as stored and sent on to the practice, 200 with the first one for a repeat; Prefer: return= is ' +
        'honoured. No Location: there is no read of Task',
    },
    handlers: [requireRole('municipality'), create],
  };
}

/** The status body's field names in a 422 become the Task elements they were read from. */
function renamedIssues(err: unknown): unknown {
  const outcome = (err as { outcome?: { issue?: { expression?: string[] }[] } }).outcome;
  // Issues without expression are left alone: they may be Medplum's shared outcomes (notFound), not ours to change.
  for (const issue of outcome?.issue ?? []) {
    if (issue.expression) {
      issue.expression = issue.expression.map((e) => {
        const field = e.split('.')[0] ?? e;
        return TASK_PATH[field] ? `${TASK_PATH[field]} (${e})` : e;
      });
    }
  }
  return err;
}

type Return = 'representation' | 'minimal' | 'OperationOutcome';

/** What `Prefer: return=` asks for (FHIR's three values), `representation` without it or for anything else. */
function preferredReturn(prefer: string | undefined): { value: Return; asked: boolean } {
  const asked = /(?:^|[,;\s])return=(representation|minimal|OperationOutcome)(?:$|[,;\s])/.exec(prefer ?? '')?.[1];
  return asked ? { value: asked as Return, asked: true } : { value: 'representation', asked: false };
}

/**
 * A FHIR server's answer to a create: 201 for a Task stored now, 200 for a repeat (the Task stored the first time, as
 * a conditional create that matched answers), as `application/fhir+json`, `meta.lastUpdated` when it was stored (also
 * Last-Modified). The stored Task is never changed, and there is no read of it to point a Location at: its `id` and
 * `identifier` (the status update's id) name it, as they do in the practice's HIS.
 */
function sendCreated(
  ctx: Pick<PipelineContext, 'cipher'>,
  res: Response,
  feedback: FeedbackRow,
  duplicate: boolean,
  prefer: { value: Return; asked: boolean },
): void {
  const lastUpdated = new Date(feedback.created_at);
  res
    .status(duplicate ? 200 : 201)
    .type(FHIR_JSON)
    .set('Last-Modified', lastUpdated.toUTCString());
  if (prefer.asked) {
    res.set('Preference-Applied', `return=${prefer.value}`);
  }
  switch (prefer.value) {
    case 'minimal':
      res.end();
      return;
    case 'OperationOutcome': {
      const outcome: OperationOutcome = {
        resourceType: 'OperationOutcome',
        issue: [
          {
            severity: 'information',
            code: 'informational',
            details: {
              text: duplicate
                ? `This status update was recorded before, as Task/${feedback.id}; nothing new was stored`
                : `The status update is stored as Task/${feedback.id} and goes on to the practice`,
            },
          },
        ],
      };
      res.json(outcome);
      return;
    }
    case 'representation': {
      const task = feedbackTaskOf(ctx, feedback);
      res.json({ ...task, meta: { ...task.meta, lastUpdated: lastUpdated.toISOString() } });
    }
  }
}
