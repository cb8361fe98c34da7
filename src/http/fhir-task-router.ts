import type { RequestHandler, Response } from 'express';
import type { FhirRoute } from './fhir-router';
import { z } from 'zod';
import { OperationOutcomeError } from '@medplum/core';
import type { Coding, Identifier, OperationOutcome, OperationOutcomeIssue, Task } from '@medplum/fhirtypes';
import {
  ALLOCATION_OUTPUT_SYSTEM,
  FEEDBACK_ID_SYSTEM,
  REFERRAL_STATUS_SYSTEM,
  taskStatusOf,
} from '../../mappings/practice/to-task';
import { REFERRAL_STATUSES, type ReferralStatus } from '../../mappings/practice/referral-status';
import { badRequestIssues, failField, fieldIssue, preconditionFailedField } from '../kernel/fhir/outcomes';
import { assertValidResource } from '../kernel/fhir/validation';
import { amsterdamDay } from '../kernel/dutch-time';
import { failParameter, parseFhirRead } from '../reports/fhir-search/parse-search';
import { throwIssues } from '../kernel/zod-outcome';
import { getPrincipal } from '../access/authenticate';
import { findOwnTasks } from '../event/event-store';
import { JZ020_SYSTEM } from '../kernel/fhir/systems';
import { codesOf, REFERRAL_REJECTION_REASON_SYSTEM, tryGetDisplayIn } from '../kernel/fhir/terminology';
import { parseOrThrow } from '../kernel/zod-outcome';
import type { PipelineContext } from '../event/context';
import { requireRole } from '../access/authenticate';
import { focusKeyOf, parseStatusUpdate, recordUpdate, referralFor } from './status-update';
import type { FeedbackRow } from '../event/event-store';
import { fhirResourceBodyOf } from './json-body';
import { names } from './route-target';
import { servedTask } from '../reports/task-search/task-search';

const FHIR_JSON = 'application/fhir+json';

/**
 * `POST /fhir/Task`: the FHIR way for a municipality to send a referral's status. The Task must be valid R4 (422 at
 * each element that is not: `status` and `intent` are required, unknown elements refused). `focus` names the
 * ServiceRequest by the identifier the municipality received, or by reference (the webhook's `focus`);
 * `businessStatus` (referral-status) says the status (or, without it, `status` received/accepted/rejected/completed;
 * with it, `status` must be the one ConceptMap referral-status-task-status gives it); `statusReason` the rejection
 * reason (referral-rejection-reason, else 422 at Task.statusReason); `output` the decision and care details, typed as
 * in the Tasks jeugdbrug sends to practices; the day the status took effect is the output `status-date`, else `executionPeriod.start`, else
 * `lastModified`, else `authoredOn` (`statusDayOf`), the status route's `date`. The municipality's own `identifier`
 * is kept on the Task (served back and sent on), and `If-None-Exist: identifier=[system|]value` finds a Task it sent
 * before (a conditional create). Elements jeugdbrug neither reads nor sets itself are refused at their element rather
 * than dropped (`note`, `input`, extensions...), but for those of the municipality's own workflow (`priority`,
 * `basedOn`...), taken with a warning (`UNREAD_TASK_ELEMENTS`). The body is FHIR R4 JSON by any of its names
 * (`fhirResourceBodyOf`). Its rules are those of
 * `POST /municipality/v1/referrals/{identifier}/status`; its answer is a FHIR server's to a create: 201 with the Task
 * as stored (the one that goes on to the practice), 200 with the Task stored the first time for a repeat, as
 * `application/fhir+json`, its `Location` the Task's read (`taskProvider`); `Prefer: return=OperationOutcome` or
 * `return=minimal` as FHIR says. Every 422's `expression` is FHIRPath naming the element the client sent
 * (`fhirPathOf`).
 */

const NOT_KEPT_DESCRIPTION =
  'taken but not kept, nor sent on to the practice; Prefer: return=OperationOutcome gives a warning at it saying why';

const coding = z.object({ system: z.string().optional(), code: z.string().optional() }).loose();
const concept = z.object({ coding: z.array(coding).optional(), text: z.string().optional() }).loose();
const dateTime = z.string().meta({ description: 'a FHIR dateTime: a day (YYYY-MM-DD) or a moment with its offset' });

/** The Task `POST /fhir/Task` reads (its R4 validity is checked apart, `assertValidResource`); also the OpenAPI body. */
export const taskSchema = z
  .object({
    resourceType: z.literal('Task', { error: 'a Task' }),
    identifier: z
      .array(z.object({ system: z.string().optional(), value: z.string().optional() }).loose())
      .optional()
      .meta({
        description:
          'the municipality’s own identifiers of the Task: kept, served back, sent on to the practice, and matched ' +
          'by If-None-Exist: identifier=[system|]value',
      }),
    status: z.string().meta({
      description:
        'R4 Task.status; without businessStatus received, accepted, rejected or completed (closed) say the status ' +
        '(any other is 422: the other referral statuses go in businessStatus); with it, the status ConceptMap ' +
        'referral-status-task-status gives the businessStatus (else 422)',
    }),
    intent: z.string().meta({ description: 'R4 Task.intent, such as order' }),
    businessStatus: concept.optional().meta({ description: 'a coding of the referral-status CodeSystem' }),
    statusReason: concept
      .optional()
      .meta({ description: 'the rejection reason: a referral-rejection-reason coding, and/or text' }),
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
    executionPeriod: z
      .object({ start: dateTime.optional(), end: dateTime.optional() })
      .loose()
      .optional()
      .meta({ description: 'start: the day the status took effect (first choice)' }),
    lastModified: dateTime
      .optional()
      .meta({ description: 'the day the status took effect when executionPeriod.start is absent' }),
    authoredOn: dateTime
      .optional()
      .meta({ description: 'the day the status took effect when executionPeriod.start and lastModified are absent' }),
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
      .optional()
      .meta({
        description:
          'decision and care details, typed by the referral-allocation CodeSystem: decision-number, decision-date, ' +
          'product-category, decision-period, provider, start-date, end-date',
      }),
    // The municipality's own workflow: taken, not kept (`UNREAD_TASK_ELEMENTS`). Here so that OpenAPI shows them and
    // priority's required binding is checked (the R4 validator checks no bindings).
    priority: z
      .enum(['routine', 'urgent', 'asap', 'stat'], { error: 'an R4 request-priority: routine, urgent, asap or stat' })
      .optional()
      .meta({ description: NOT_KEPT_DESCRIPTION }),
    basedOn: z.array(z.object({}).loose()).optional().meta({ description: NOT_KEPT_DESCRIPTION }),
    partOf: z.array(z.object({}).loose()).optional().meta({ description: NOT_KEPT_DESCRIPTION }),
    groupIdentifier: z.object({}).loose().optional().meta({ description: NOT_KEPT_DESCRIPTION }),
  })
  .loose();

type TaskBody = z.infer<typeof taskSchema>;

/**
 * What the create does with each R4 Task element it does not read (`taskSchema`), so that nothing the municipality
 * wrote is lost without it knowing, and nothing it meant is recorded as something else:
 * - `set`: jeugdbrug sets it itself on the Task it stores (or it carries nothing for the practice): taken without a
 *   word;
 * - `not-kept`: the municipality's own workflow around the status (how urgent, what it belongs to). It changes nothing
 *   jeugdbrug records or sends on, and municipality systems send it routinely: taken, not kept, and the answer's
 *   OperationOutcome (`Prefer: return=OperationOutcome`) says so at the element, a warning saying why;
 * - `refused`: dropping it would lose what it says (free text, inputs), or it changes what the Task means in a way
 *   jeugdbrug cannot honour (a modifier, a restriction): a 422 at the element saying why.
 * An element not listed (an extension, encounter, reasonCode...) is refused as neither kept nor sent on.
 */
const FREE_TEXT_LOST =
  'free text jeugdbrug neither keeps nor sends on would be lost; a reason for the status goes in statusReason.text';
const UNREAD_TASK_ELEMENTS: Readonly<
  Record<string, { readonly taken: 'set' } | { readonly taken: 'not-kept' | 'refused'; readonly why: string }>
> = {
  id: { taken: 'set' },
  meta: { taken: 'set' },
  text: { taken: 'set' },
  language: { taken: 'set' },
  code: { taken: 'set' },
  for: { taken: 'set' },
  requester: { taken: 'set' },
  owner: { taken: 'set' },
  priority: {
    taken: 'not-kept',
    why: 'how urgent your own Task is; the status counts from the day it took effect, whatever its priority',
  },
  basedOn: {
    taken: 'not-kept',
    why: 'the referral is the one focus names; the Task sent on to the practice is based on that one only',
  },
  partOf: {
    taken: 'not-kept',
    why: 'the Task of your own workflow this one belongs to; the practice knows none of your Tasks but this one',
  },
  groupIdentifier: {
    taken: 'not-kept',
    why: 'links your own Tasks; Task.identifier is kept (served back, sent on, and found by If-None-Exist)',
  },
  modifierExtension: {
    taken: 'refused',
    why:
      'a modifier extension changes the meaning of the Task, and FHIR forbids ignoring one; jeugdbrug knows none, ' +
      'so the status would be recorded as if it did not say it',
  },
  implicitRules: {
    taken: 'refused',
    why:
      'rules the Task was written under may change its meaning, and jeugdbrug knows none; the status would be ' +
      'recorded as if they did not hold',
  },
  restriction: {
    taken: 'refused',
    why:
      'a restriction limits for whom or until when the Task holds; the status jeugdbrug records and sends on to ' +
      'the practice could not carry the limit',
  },
  input: {
    taken: 'refused',
    why: 'inputs are what a performer needs to act on, which a status has none of: decision and care details go in output',
  },
  note: { taken: 'refused', why: FREE_TEXT_LOST },
  description: { taken: 'refused', why: FREE_TEXT_LOST },
};
/** The elements the schema checks; those of them the route does not keep are `not-kept` below all the same. */
const READ_ELEMENTS = Object.keys(taskSchema.shape);

/** The elements `UNREAD_TASK_ELEMENTS` takes as `taken`, as a list in words (`a, b and c`), for the documentation. */
function elementsTaken(taken: 'not-kept' | 'refused'): string {
  const names = Object.keys(UNREAD_TASK_ELEMENTS).filter((k) => UNREAD_TASK_ELEMENTS[k]?.taken === taken);
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1) ?? ''}`;
}
/** `priority, basedOn, partOf and groupIdentifier`: for the CapabilityStatement and OpenAPI. */
export const NOT_KEPT_TEXT = elementsTaken('not-kept');

/**
 * Refuses (422, an issue at each) the elements `UNREAD_TASK_ELEMENTS` refuses and those it does not list; returns a
 * warning for each element taken but not kept, for the answer's OperationOutcome.
 */
function unkeptElementsOf(task: Record<string, unknown>): OperationOutcomeIssue[] {
  const refused: OperationOutcomeIssue[] = [];
  const notKept: OperationOutcomeIssue[] = [];
  for (const element of Object.keys(task)) {
    const unread = UNREAD_TASK_ELEMENTS[element];
    if (unread?.taken === 'set' || (!unread && READ_ELEMENTS.includes(element))) {
      continue;
    }
    if (unread?.taken === 'not-kept') {
      notKept.push({
        severity: 'warning',
        code: 'informational',
        details: { text: `Task.${element} is taken but not kept, nor sent on to the practice: ${unread.why}` },
        expression: [`Task.${element}`],
      });
      continue;
    }
    refused.push(
      fieldIssue(
        unread
          ? `Task.${element} is refused: ${unread.why}; leave it out`
          : `jeugdbrug neither keeps Task.${element} nor sends it on to the practice; leave it out (a reason for ` +
              'the status goes in statusReason.text)',
        `Task.${element}`,
        'not-supported',
      ),
    );
  }
  if (refused.length) {
    throwIssues(refused);
  }
  return notKept;
}

/**
 * Refuses (422, an issue at each) the free text a Task's codes may carry: `businessStatus.text`, and a coding's
 * `display` in businessStatus or statusReason other than the code's own words (Dutch or English). The Task stored is
 * built from the codes, so that text would be dropped without the municipality knowing, and it may name the child;
 * a reason for the status goes in statusReason.text, which is kept sealed.
 */
function assertNoFreeTextInCodes(task: TaskBody): void {
  const issues: OperationOutcomeIssue[] = [];
  if (task.businessStatus?.text !== undefined) {
    issues.push(
      fieldIssue(
        `Task.businessStatus.text is refused: ${FREE_TEXT_LOST}; leave it out`,
        'Task.businessStatus.text',
        'not-supported',
      ),
    );
  }
  const concepts: [string, string, Coding[] | undefined][] = [
    ['businessStatus', REFERRAL_STATUS_SYSTEM, task.businessStatus?.coding],
    ['statusReason', REFERRAL_REJECTION_REASON_SYSTEM, task.statusReason?.coding],
  ];
  for (const [element, system, codings] of concepts) {
    (codings ?? []).forEach((c, i) => {
      const display = (c as { display?: unknown }).display;
      const own = (language: 'nl' | 'en') => c.code && tryGetDisplayIn(c.system ?? system, c.code, language);
      if (display !== undefined && display !== own('nl') && display !== own('en')) {
        issues.push(
          fieldIssue(
            `Task.${element}.coding.display is the code's own words or absent; other text is refused: ${FREE_TEXT_LOST}`,
            `Task.${element}.coding[${i}].display`,
            'not-supported',
          ),
        );
      }
    });
  }
  if (issues.length) {
    throwIssues(issues);
  }
}

/** R4 Task.status → our status, for a Task without businessStatus: the only task-status codes that say one. */
const FROM_TASK_STATUS: ReadonlyMap<string, ReferralStatus> = new Map([
  ['received', 'received'],
  ['accepted', 'accepted'],
  ['rejected', 'rejected'],
  ['completed', 'closed'],
]);

function codeIn(codings: readonly Coding[] | undefined, system: string): string | undefined {
  return codings?.find((c) => c.system === system)?.code;
}

/**
 * The status a Task says: its businessStatus, a referral-status code (a coding without system is read as one), or
 * without businessStatus its Task.status, one of the four R4 task-status codes that map to a referral status (any
 * other is a 422 at Task.status pointing at businessStatus: a referral-status code there is invalid R4). A
 * businessStatus without such a code is a 422: falling back to Task.status would record a status the municipality
 * did not send. An unknown code is refused by the status body's schema. With a
 * known businessStatus, a Task.status other than the one the ConceptMap gives it is a 422 at Task.status: the Task
 * would say two things, and the one stored would contradict what was sent.
 */
function statusOf(task: TaskBody): string | undefined {
  const business = task.businessStatus;
  if (!business) {
    const status = FROM_TASK_STATUS.get(task.status);
    if (status === undefined) {
      // Not the status body's list of referral-status codes: most of those are no R4 task-status codes.
      const said = [...FROM_TASK_STATUS.values()] as string[];
      failField(
        'without businessStatus, one of received, accepted, rejected or completed (closed); the other referral ' +
          `statuses (${REFERRAL_STATUSES.filter((r) => !said.includes(r)).join(', ')}) go in Task.businessStatus, ` +
          `a coding of ${REFERRAL_STATUS_SYSTEM}, with the Task.status its ConceptMap gives`,
        'Task.status',
      );
    }
    return status;
  }
  const code = codeIn(business.coding, REFERRAL_STATUS_SYSTEM) ?? business.coding?.find((c) => !c.system)?.code;
  if (code === undefined) {
    failField(`a coding of ${REFERRAL_STATUS_SYSTEM}: one of ${REFERRAL_STATUSES.join(', ')}`, 'Task.businessStatus');
  }
  if ((REFERRAL_STATUSES as readonly string[]).includes(code)) {
    const expected = taskStatusOf(code as ReferralStatus);
    if (task.status !== expected) {
      failField(
        `a Task whose businessStatus is ${code} has status ${expected} (ConceptMap referral-status-task-status), ` +
          `not ${task.status}`,
        'Task.status',
      );
    }
  }
  return code;
}

/**
 * The rejection reason a Task's statusReason codes: a referral-rejection-reason code (a coding without system is read
 * as one, as in businessStatus; an unknown code is refused by the status body's schema). Codings of other systems
 * only are a 422 at `Task.statusReason`: the reason would otherwise be dropped while the status is taken.
 */
function reasonCodeOf(task: TaskBody): string | undefined {
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

/**
 * The day the status took effect, and the element it was read from: the output `status-date` (as jeugdbrug's own
 * Tasks to practices carry it), else `executionPeriod.start` (when the Task's work began), else `lastModified` (when
 * the municipality's Task last changed, i.e. took this status), else `authoredOn`.
 * A dateTime with a time is read as its day in Dutch time; a year or a month alone is a 422 at its element. Without
 * any, the day it arrives is taken (as the status route without `date`). The day, not the arrival, is what makes
 * the same Task sent again a repeat.
 */
function statusDayOf(task: TaskBody): { day: string; element: string } | undefined {
  const statusDate = task.output?.find((o) => codeIn(o.type.coding, ALLOCATION_OUTPUT_SYSTEM) === 'status-date');
  const given: [string, string | undefined][] = [
    // The output jeugdbrug itself gives the practice's Task (mappings/practice/to-task.ts): a municipality may too.
    [outputPath('status-date'), statusDate?.valueDate],
    ['Task.executionPeriod.start', task.executionPeriod?.start],
    ['Task.lastModified', task.lastModified],
    ['Task.authoredOn', task.authoredOn],
  ];
  const [element, value] = given.find(([, v]) => v !== undefined) ?? [];
  if (!element || value === undefined) {
    return undefined;
  }
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    return { day: value, element };
  }
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value)) {
    failField('the day the status took effect: a date YYYY-MM-DD or a dateTime', element);
  }
  return { day: amsterdamDay(new Date(value)), element };
}

const outputPath = (code: string) => `Task.output.where(type.coding.code='${code}')`;

/** The status-update body the Task says, in the shape the status route takes (validated by the same schema). */
function statusBodyOf(task: TaskBody, day: string | undefined): Record<string, unknown> {
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
    date: day,
  };
  return JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
}

/** The output each field of the status body (and of its decision) was read from. */
const OUTPUT_OF: Record<string, string> = {
  decision: 'decision-number',
  'decision.number': 'decision-number',
  'decision.date': 'decision-date',
  'decision.productCategory': 'product-category',
  'decision.period': 'decision-period',
  productCategory: 'product-category',
  provider: 'provider',
  startDate: 'start-date',
  endDate: 'end-date',
};

/**
 * The FHIRPath of the Task element a field of the status body (`provider.agb`, `decision.date`) was read from: the
 * element the client sent (Task.status or Task.businessStatus, the date's element), an output by its type code.
 */
function fhirPathOf(field: string, task: TaskBody, dayElement: string | undefined): string | undefined {
  const [head = field, second] = field.split('.');
  switch (head) {
    case 'status':
      return task.businessStatus ? 'Task.businessStatus' : 'Task.status';
    case 'reason':
      return 'Task.statusReason.text';
    case 'reasonCode':
      return 'Task.statusReason';
    case 'date':
      return dayElement;
  }
  const code = OUTPUT_OF[second && head === 'decision' ? `${head}.${second}` : head];
  return code ? outputPath(code) : undefined;
}

/** Query parameters of the create: `_format` and `_pretty` (checked as a read's are); anything else is a 400. */
function assertCreateParameters(query: URLSearchParams): void {
  for (const name of query.keys()) {
    if (name !== '_format' && name !== '_pretty') {
      failParameter(`Unknown parameter '${name}' for a create of Task (only _format and _pretty are taken)`, name);
    }
  }
  parseFhirRead(query);
}

/**
 * The identifier an `If-None-Exist` header searches for (`identifier=[system|]value`, FHIR's token search), or
 * undefined without the header; anything else is a 400 naming the header.
 */
function ifNoneExistOf(header: string | undefined): Identifier | undefined {
  if (header === undefined) {
    return undefined;
  }
  const params = new URLSearchParams(header.replace(/^\?/, ''));
  const token = params.get('identifier');
  if ([...params.keys()].length !== 1 || !token) {
    failParameter('If-None-Exist: only identifier=[system|]value is searched (one identifier)', 'If-None-Exist');
  }
  const bar = token.indexOf('|');
  return bar < 0 ? { value: token } : { system: token.slice(0, bar) || undefined, value: token.slice(bar + 1) };
}

export function fhirTaskRoute(ctx: PipelineContext, publicBaseUrl: () => string): FhirRoute {
  const create: RequestHandler = async (req, res) => {
    assertCreateParameters(new URL(req.originalUrl, 'http://localhost').searchParams);
    const body = fhirResourceBodyOf(req);
    if (body === undefined) {
      throw new OperationOutcomeError(
        badRequestIssues([fieldIssue('the body is empty: send a Task (application/fhir+json)', 'Task', 'required')]),
      );
    }
    const task = parseOrThrow(taskSchema, body, (path) =>
      path.length ? `Task.${path.map(String).join('.')}` : 'Task',
    );
    assertValidResource(body as Task);
    const notKept = unkeptElementsOf(body as Record<string, unknown>);
    assertNoFreeTextInCodes(task);
    if (task.identifier?.some((i) => i.system === FEEDBACK_ID_SYSTEM)) {
      // The practice and the Task's read tell the status update by it: only jeugdbrug issues it.
      failField(`${FEEDBACK_ID_SYSTEM} is jeugdbrug's own identifier system; use your own`, 'Task.identifier');
    }
    const searched = ifNoneExistOf(req.get('if-none-exist'));
    if (searched) {
      const found = await findOwnTasks(ctx.db, getPrincipal(res).municipalities, searched);
      if (found.length > 1) {
        throw new OperationOutcomeError(
          preconditionFailedField(
            'If-None-Exist matches more than one Task you sent; name an identifier of one Task',
            'If-None-Exist',
          ),
        );
      }
      if (found[0]) {
        res.set('Location', `${publicBaseUrl()}/fhir/Task/${found[0].id}`);
        sendCreated(ctx, res, found[0], true, preferredReturn(req.get('prefer')), notKept);
        return;
      }
    }
    const target = await referralFor(
      ctx,
      req,
      res,
      focusKeyOf(task.focus) ?? '',
      task.focus.identifier ? 'Task.focus.identifier' : 'Task.focus.reference',
    );
    const day = statusDayOf(task);
    // Both the body's rules and the update's days against the referral's name the status body's fields.
    let recorded: { feedback: FeedbackRow; duplicate: boolean };
    try {
      recorded = await recordUpdate(ctx, req, res, target, parseStatusUpdate(statusBodyOf(task, day?.day)), {
        taskIdentifiers: task.identifier ?? [],
      });
    } catch (err) {
      throw renamedIssues(err, task, day?.element);
    }
    res.set('Location', `${publicBaseUrl()}/fhir/Task/${recorded.feedback.id}`);
    sendCreated(ctx, res, recorded.feedback, recorded.duplicate, preferredReturn(req.get('prefer')), notKept);
  };
  return {
    interaction: {
      resourceType: 'Task',
      code: 'create',
      conditionalCreate: true,
      documentation:
        'a municipality’s status on a referral delivered to it (focus: the ServiceRequest by identifier), an R4 ' +
        'Task; the day the status took effect is output status-date, else executionPeriod.start, else lastModified, ' +
        'else authoredOn (else ' +
        'the day it arrives). 201 with the Task as stored and sent on to the practice, its Location the Task’s ' +
        'read, 200 with the first one for a repeat; the municipality’s own identifier is kept, and If-None-Exist: ' +
        'identifier=[system|]value finds a Task sent before; Prefer: return= is honoured. The body is ' +
        'application/fhir+json, application/json or application/json+fhir (fhirVersion=4.0 or none; else 415). ' +
        `${NOT_KEPT_TEXT} are taken but not kept (Prefer: return=OperationOutcome warns at each); ` +
        `${elementsTaken('refused')}, and any element not read, are 422 at the element, saying why`,
    },
    // The refusal of another role is recorded in the chain of the event the Task's focus names.
    handlers: [
      names('referral', { body: (body) => focusKeyOf((body as { focus?: unknown } | undefined)?.focus) }),
      requireRole('municipality'),
      create,
    ],
  };
}

/**
 * The status body's field names in a 422 become the FHIRPath of the Task elements they were read from; a provider
 * it lacks is said where it goes in the Task (and which value[x] was sent instead, if any).
 */
function renamedIssues(err: unknown, task: TaskBody, dayElement: string | undefined): unknown {
  const outcome = (err as { outcome?: { issue?: OperationOutcomeIssue[] } }).outcome;
  // Issues without expression are left alone: they may be Medplum's shared outcomes (notFound), not ours to change.
  for (const issue of outcome?.issue ?? []) {
    if (issue.expression) {
      if (issue.expression[0]?.split('.')[0] === 'provider' && issue.details?.text) {
        issue.details.text += providerHint(task);
      }
      issue.expression = issue.expression.map((e) => fhirPathOf(e, task, dayElement) ?? e);
    }
  }
  return err;
}

/** Where the provider's AGB code goes in a Task, and what the provider output held instead when it was there. */
function providerHint(task: TaskBody): string {
  const output = task.output?.find((o) => codeIn(o.type.coding, ALLOCATION_OUTPUT_SYSTEM) === 'provider');
  const sent = output ? Object.keys(output).filter((k) => k.startsWith('value') && k !== 'valueReference') : [];
  return (
    `: in the output of type provider as valueReference.identifier.value (its display the name)` +
    (sent.length ? `, not ${sent.join(', ')}` : '')
  );
}

type Return = 'representation' | 'minimal' | 'OperationOutcome';

/** What `Prefer: return=` asks for (FHIR's three values), `representation` without it or for anything else. */
function preferredReturn(prefer: string | undefined): { value: Return; asked: boolean } {
  const asked = /(?:^|[,;\s])return=(representation|minimal|OperationOutcome)(?:$|[,;\s])/.exec(prefer ?? '')?.[1];
  return asked ? { value: asked as Return, asked: true } : { value: 'representation', asked: false };
}

/**
 * A FHIR server's answer to a create: 201 for a Task stored now, 200 for a repeat (the Task stored the first time, as
 * a conditional create that matched answers), as `application/fhir+json`, the Task as its read serves it
 * (`servedTask`: `meta.lastUpdated` when it was stored, also Last-Modified). The stored Task is never changed.
 * `Prefer: return=OperationOutcome` gives the warnings about elements taken but not kept (`notKept`) beside the
 * information; the Task (`representation`) shows what was kept.
 */
function sendCreated(
  ctx: Pick<PipelineContext, 'cipher'>,
  res: Response,
  feedback: FeedbackRow,
  duplicate: boolean,
  prefer: { value: Return; asked: boolean },
  notKept: readonly OperationOutcomeIssue[],
): void {
  res
    .status(duplicate ? 200 : 201)
    .type(FHIR_JSON)
    .set('Last-Modified', new Date(feedback.created_at).toUTCString());
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
          ...notKept,
        ],
      };
      res.json(outcome);
      return;
    }
    case 'representation':
      res.json(servedTask(ctx, getPrincipal(res), feedback));
  }
}
