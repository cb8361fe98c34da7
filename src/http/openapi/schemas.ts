import { z } from 'zod';
import { REFERRAL_STATUSES } from '../../../mappings/practice/referral-status';
import { FEEDBACK_STATES, TRAJECTORY_EVENT_STATES } from '../../event/states';

/**
 * Response shapes for the OpenAPI document. Requests are described by the zod schemas the routes validate with
 * (imported from the routers); responses are not validated at run time, so their shapes are written here once,
 * as loosely as what the handlers promise (FHIR resources by `resourceType`, JSON bodies by their main fields).
 */

export const operationOutcome = z
  .object({
    resourceType: z.literal('OperationOutcome'),
    issue: z
      .array(
        z.looseObject({
          severity: z.enum(['fatal', 'error', 'warning', 'information']),
          code: z.string(),
          details: z.object({ text: z.string() }).optional(),
          expression: z.array(z.string()).optional().meta({ description: 'the field or parameter at fault' }),
        }),
      )
      .min(1),
  })
  .meta({ id: 'OperationOutcome', description: 'FHIR R4 OperationOutcome: every error, 4xx and 5xx' });

const resources = new Map<string, z.ZodType>();
const searchsets = new Map<string, z.ZodType>();

/** A FHIR resource of the given type, as served (its own schema is the FHIR R4 specification's). */
export function fhirResource(type: string): z.ZodType {
  const schema =
    resources.get(type) ??
    z.looseObject({ resourceType: z.literal(type), id: z.string().optional() }).meta({
      id: type,
      description: `FHIR R4 ${type}: https://hl7.org/fhir/R4/${type.toLowerCase()}.html`,
    });
  resources.set(type, schema);
  return schema;
}

export function searchsetOf(type: string): z.ZodType {
  const known = searchsets.get(type);
  if (known) {
    return known;
  }
  const schema = z
    .looseObject({
      resourceType: z.literal('Bundle'),
      type: z.literal('searchset'),
      total: z.number().int().optional().meta({ description: 'left out with _total=none or beyond 10,000 matches' }),
      link: z.array(z.object({ relation: z.enum(['self', 'next', 'previous']), url: z.url() })),
      entry: z
        .array(
          z.object({
            fullUrl: z.url(),
            resource: fhirResource(type),
            search: z.object({ mode: z.literal('match') }),
          }),
        )
        .optional(),
    })
    .meta({ id: `${type}Searchset`, description: `FHIR R4 searchset Bundle of ${type}` });
  searchsets.set(type, schema);
  return schema;
}

const histories = new Map<string, z.ZodType>();

/** FHIR's history Bundle of one resource of `type` (`GET /fhir/<type>/{id}/_history`): every version, newest first. */
export function historyOf(type: string): z.ZodType {
  const schema =
    histories.get(type) ??
    z
      .looseObject({
        resourceType: z.literal('Bundle'),
        type: z.literal('history'),
        total: z.number().int(),
        link: z.array(z.object({ relation: z.literal('self'), url: z.url() })),
        entry: z.array(
          z.object({
            fullUrl: z.url(),
            resource: fhirResource(type),
            request: z.object({ method: z.enum(['POST', 'PUT']), url: z.string() }),
            response: z.object({ status: z.string(), etag: z.string(), lastModified: z.string() }),
          }),
        ),
      })
      .meta({ id: `${type}History`, description: `FHIR R4 history Bundle of one ${type}, newest version first` });
  histories.set(type, schema);
  return schema;
}

export const receipt = z
  .object({
    status: z.enum(['accepted', 'duplicate', 'rejected']).meta({
      description:
        'duplicate: this eventId was accepted before with the same content as its dialect reads it (elements the ' +
        'dialect ignores may differ); a resend of an event stored but never acknowledged (its ' +
        'first request was answered 503 after storing it) is accepted',
    }),
    location: z
      .string()
      .optional()
      .meta({ description: 'where the event stood in an array or CSV file: [3], row 5; absent for a single event' }),
    eventId: z.string().optional(),
    id: z.uuid().optional().meta({ description: 'jeugdbrug’s id: GET /his/v1/events/{id}' }),
    outcome: operationOutcome.optional(),
    httpStatus: z
      .union([z.literal(400), z.literal(403), z.literal(409), z.literal(422)])
      .optional()
      .meta({
        description:
          'of a rejected record: the status it alone would have been answered with (400 a wrong shape, 403 a ' +
          'practice not the caller’s, 409 a conflict, 422 a broken rule); final for the record as sent: fix it ' +
          '(after a 409, under a new eventId or referral id), a resend unchanged gets the same answer',
      }),
  })
  .meta({ id: 'Receipt' });

/** A consent as an audit row cites it: its id and the version read, null when cited without one. */
const citedConsent = z.object({ id: z.string(), version: z.number().int().nullable() });

const consentPeriod = z.object({ start: z.string().optional(), end: z.string().optional() });

const withdrawal = z.object({ by: z.array(z.string()), at: z.string().nullable() });

/** A consent's rule as a version reads it. */
const provisionFields = {
  type: z.enum(['permit', 'deny']).nullable(),
  period: consentPeriod.nullable(),
  recipients: z.array(z.string()).meta({ description: 'municipality codes its actors name (GM0226)' }),
  purposes: z.array(z.string()),
  classes: z.array(z.string()).meta({ description: 'data classes: resource types' }),
};
const consentProvision = z.object({
  ...provisionFields,
  // Not recursive in the document: a client's generator (and zod's reader) takes an inline schema more easily.
  provisions: z
    .array(z.looseObject(provisionFields))
    .meta({ description: 'its exceptions, each a rule in the same form, with `provisions` of its own' }),
});

export const eventStatus = z
  .looseObject({
    id: z.uuid(),
    eventId: z.string(),
    practice: z.string(),
    dialect: z.string(),
    eventType: z.string(),
    state: z.string().meta({
      description:
        'received, mapped, decided, delivered, completed, denied, failed or dead; unacknowledged: stored, but its ' +
        'receipt was not recorded (answered 503), so it waits for the practice to send it again',
    }),
    stateReason: z.string().nullable(),
    reasonCodes: z.array(z.string()).meta({
      description:
        'the policy engine’s reason codes stateReason starts with (a denial’s, a permit’s), each listed with what the ' +
        'practice should do in the README, "Why an event was denied"; empty for other reasons',
    }),
    history: z.array(z.looseObject({ state: z.string() })),
    deliveries: z.array(z.looseObject({ id: z.uuid(), destination: z.string(), state: z.string() })),
    disclosed: z
      .array(
        z.looseObject({
          destination: z.string(),
          municipality: z.string().nullable(),
          deliveredAt: z.iso.datetime(),
          purpose: z.string().nullable(),
          agreement: z.object({ id: z.string(), version: z.number().int() }).nullable(),
          dataClasses: z.array(z.string()).nullable(),
          consents: z
            .array(z.string())
            .nullable()
            .meta({
              description:
                'ids of the Consents (described in `consents`) its first accepted delivery went on, as the ' +
                'disclosure’s AuditEvent names them; empty under a legal basis that asks none and for a withdrawal ' +
                'notice; null where that AuditEvent is no longer kept',
            }),
          consentVersions: z
            .array(citedConsent)
            .nullable()
            .meta({ description: 'the same consents, each with the version the disclosure’s AuditEvent cites' }),
        }),
      )
      .meta({
        description:
          'what reached each destination after minimisation: when, for which purpose, under which agreement, ' +
          'the data classes (resource types) it carried and on which consents; null where a delivery was recorded ' +
          'before these were kept',
      }),
    decision: z
      .object({
        effect: z.enum(['permit', 'deny']),
        stage: z.string().nullable(),
        at: z.iso.datetime(),
        consents: z.array(z.string()),
        consentVersions: z.array(citedConsent),
      })
      .nullable()
      .meta({
        description:
          'the latest policy decision recorded about the event (its AuditEvent): the consents it rests on, for a ' +
          'denial the objections that refused it or the consents that fell short (withdrawn, expired); empty for a ' +
          'denial because no one consented (stateReason names whose consent is missing); null when none is on record',
      }),
    consents: z
      .array(
        z.object({
          id: z.string(),
          version: z
            .number()
            .int()
            .nullable()
            .meta({
              description:
                'the version cited (GET /fhir/Consent/{id}/_history/{version}), which the fields below describe; null ' +
                'for a consent cited without a version (before migration 087), described as the registry holds it now',
            }),
          ownId: z.string().nullable().meta({ description: 'the practice’s own id of the consent' }),
          kind: z.enum(['consent', 'objection']),
          status: z.string().meta({
            description: 'of the version: active, inactive (withdrawn), entered-in-error; unknown: no version kept',
          }),
          dateTime: z.string().nullable().meta({ description: 'when it was given, as the HIS sent it' }),
          period: consentPeriod.nullable(),
          provision: consentProvision.nullable(),
          givenBy: z.array(z.string()).meta({ description: 'Patient/<id> and RelatedPerson/<id> references' }),
          recordedBy: z
            .object({ principal: z.string(), at: z.iso.datetime() })
            .nullable()
            .meta({ description: 'the principal (API key, console user) that recorded this version here, and when' }),
          withdrawn: withdrawal.nullable().meta({
            description:
              'withdrawn in this version: wholly (status inactive) or by some of those who gave it (`by`), and when; ' +
              'null if not',
          }),
          newer: z
            .object({
              version: z.number().int(),
              at: z.iso.datetime(),
              kind: z.enum(['consent', 'objection']),
              status: z.string(),
              withdrawn: withdrawal.nullable(),
            })
            .nullable()
            .meta({
              description:
                'the newest version when it is newer than the one cited (recorded since, at `at`): withdrawn since, ' +
                'voided, or replaced by an objection; null while the version cited is the newest',
            }),
        }),
      )
      .meta({
        description:
          'each consent version `decision` and `disclosed` cite, as that version reads (kept after a withdrawal or ' +
          'refusal under the same id): the answer to "on what basis did this go to the municipality?"',
      }),
    withdrawalNotices: z
      .array(z.looseObject({ id: z.uuid(), consentEvent: z.uuid(), destination: z.string(), state: z.string() }))
      .meta({
        description:
          "withdrawal notices that told a destination this event's data is no longer covered by consent: " +
          'deliveries of the consent event `consentEvent` (docs/delivery.md, "Withdrawal notices")',
      }),
  })
  .meta({ id: 'EventStatus' });

export const jsonSchemaDocument = z.looseObject({}).meta({ description: 'a JSON Schema (draft 2020-12)' });

export const anyJson = z.looseObject({});

export const replayed = z.object({ replayed: z.array(z.uuid()) }).meta({ id: 'Replayed' });

/** What came of a redelivery: the deliveries on their way again, and those a decision now denies (nothing sent). */
export const redelivered = z
  .object({
    redelivered: z.array(z.uuid()),
    denied: z.array(
      z.object({
        id: z.uuid(),
        reasons: z.string().meta({ description: 'the policy engine’s reason codes, comma-separated' }),
      }),
    ),
  })
  .meta({ id: 'Redelivered' });

/** The receiver's last answer as operators see it (src/event/receiver-answer.ts); its text stays encrypted. */
export const answerSummary = z
  .object({
    contentType: z.string().nullable().meta({ description: 'media type without parameters; null when absent' }),
    size: z.number().int().meta({ description: 'the whole answer, in bytes' }),
    issues: z
      .array(
        z.object({
          severity: z.enum(['fatal', 'error', 'warning', 'information']).optional(),
          code: z.string().optional().meta({ description: "a code of FHIR's IssueType value set" }),
          expression: z.array(z.string()).optional().meta({ description: 'plain element paths only' }),
        }),
      )
      .optional()
      .meta({ description: 'for an OperationOutcome: its issues, without diagnostics or details' }),
    location: z.string().optional().meta({
      description: 'a redirect’s (3xx) Location, its scheme, host and port only: where the receiver moved',
    }),
  })
  .nullable()
  .meta({ id: 'AnswerSummary', description: "the receiver's last answer, without its text; null when none was kept" });

/** A dead letter, or a status update or trajectory event on its way to a practice: its outcome, never its content. */
const withAnswer = z.looseObject({
  id: z.uuid(),
  lastStatus: z.number().int().nullable(),
  lastError: z.string().nullable(),
  answer: answerSummary,
});
export const deadLetter = withAnswer
  .extend({
    purged: z.boolean().meta({
      description: "its event's content was removed under the retention period: a replay is refused (409)",
    }),
    round: z
      .number()
      .int()
      .meta({ description: 'the round that died: 0 the first, more after a replay or redelivery' }),
    deliveredAt: z.iso
      .datetime({ offset: true })
      .nullable()
      .meta({
        description:
          'when the receiver last accepted this delivery, for one that died when it was sent again (a redelivery, ' +
          'or its replay): that delivery stands, the resend failed; null for one never delivered',
      }),
  })
  .meta({ id: 'DeadLetter' });
export const practiceSendOutcome = withAnswer.meta({ id: 'PracticeSendOutcome' });

/** A destination's health (destination-status.ts): the pause and who made it, its failures, queue and deliveries. */
export const destinationStatus = z
  .looseObject({
    id: z.string(),
    municipality: z.string(),
    paused: z.boolean(),
    pausedBy: z.enum(['auto', 'operator']).nullable().meta({ description: 'an automatic pause, or an operator’s' }),
    pausedAt: z.iso.datetime().nullable(),
    pauseReason: z.string().nullable(),
    pausedByPrincipal: z
      .string()
      .nullable()
      .meta({
        description:
          'who paused it (or gave the reason it has), as the audit trail names the principal: `api-key:<id>`, ' +
          '`jwt:<issuer>#<subject>`, `system/worker` for an automatic pause; null while running, and for a pause ' +
          'recorded before this was kept (the audit chain `destination/<id>` names who)',
      }),
    halfOpen: z.boolean(),
    halfOpenAt: z.iso.datetime().nullable(),
    queuePaused: z.boolean(),
    consecutiveFailures: z.number().int(),
    pauseAfterFailures: z.number().int(),
  })
  .meta({ id: 'DestinationStatus' });

export const destinationChange = z.object({ changed: z.boolean(), status: destinationStatus });

/** A status update as stored and on its way to the practice (status-update.ts statusUpdateView), nothing more. */
export const statusUpdateView = z.strictObject({
  id: z.uuid(),
  referral: z.uuid().meta({
    description:
      'jeugdbrug’s id of the referral: its current event (the newest delivered to the caller, after the practice’s ' +
      'corrections), the same as the `referral` of the answer it is in',
  }),
  recordedOn: z.uuid().meta({
    description:
      'jeugdbrug’s id of the referral event the update was recorded on (an earlier one, before a correction)',
  }),
  status: z.enum(REFERRAL_STATUSES),
  date: z.iso.date().nullable().meta({ description: 'the day the status took effect' }),
  serviceRequestStatus: z.string().meta({ description: 'the ServiceRequest.status the practice’s HIS is sent' }),
  task: fhirResource('Task'),
  delivery: z
    .strictObject({
      state: z.enum(FEEDBACK_STATES),
      attempts: z.number().int(),
      lastStatus: z.number().int().nullable(),
      lastError: z.string().nullable(),
      deliveredAt: z.iso.datetime({ offset: true }).nullable(),
    })
    .meta({ description: 'the update’s own delivery to the practice' }),
  createdAt: z.iso.datetime({ offset: true }),
});

export const trajectoryEventView = z
  .looseObject({
    id: z.uuid(),
    eventId: z.string().meta({ description: 'the municipality’s own event id' }),
    type: z.enum(['intake', 'contact', 'referral', 'closure']),
    practice: z.string(),
    decision: z.object({ effect: z.enum(['permit', 'deny']) }).meta({
      description: 'the effect only: why an event is denied (consent, an objection) stays with the practice and audit',
    }),
    delivery: z.looseObject({
      state: z.enum(TRAJECTORY_EVENT_STATES).meta({
        description:
          'unacknowledged: stored, but its receipt was not recorded (answered 503), so nothing of it is sent until ' +
          'the municipality sends it again',
      }),
      attempts: z.number(),
    }),
  })
  .meta({ id: 'TrajectoryEventView' });

export const health = z.object({
  status: z.enum(['ok', 'degraded', 'unavailable']),
  database: z.boolean(),
  redis: z.boolean(),
  databasePool: z
    .literal('busy')
    .optional()
    .describe('every connection of the pool in use while PostgreSQL answers on one of its own: still ready'),
});

export const chainVerdict = z
  .looseObject({ ok: z.boolean(), tenant: z.string(), rows: z.number(), headSeq: z.number(), headHash: z.string() })
  .meta({ id: 'ChainVerdict' });
