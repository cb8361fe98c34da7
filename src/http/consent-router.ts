import { badRequest, notFound, OperationOutcomeError } from '@medplum/core';
import { MONITORING_REPORT_EVENT } from '../contracts/delivery-event-type';
import type { RequestHandler, Router, Response } from 'express';
import { exactRouter } from './exact-routing';
import { z } from 'zod';
import { findAgreements } from '../event/registry';
import { isValidBsn } from '../kernel/fhir/identifiers';
import { forbiddenField } from '../kernel/fhir/outcomes';
import { openEvent } from '../event/stored-event';
import { assertNoQuery, expressionOf, parseOrThrow } from '../kernel/zod-outcome';
import type { PipelineContext } from '../event/context';
import { dataClassesOf, purposeOf } from '../event/decide';
import { DATA_CLASSES, PURPOSES } from '../contracts/sharing';
import { decide } from '../policy/decide';
import type { DecisionFacts, DecisionRequest } from '../policy/types';
import { stageStatements } from '../event/stage-groups';
import { perResource } from '../event/stage-batch';
import { CACHED_CONSENTS, StoredConsentCache } from '../policy/consent-cache';
import { compileConsent, type CompiledConsent } from '../policy/compiled-consent';
import type { Db } from '../kernel/db';
import type { Consent, ConsentProvision } from '@medplum/fhirtypes';
import { auditEventRead, auditRead, NOT_IN_SCOPE } from './audit-read';
import { sendPostAnswer } from './post-answer';
import { getPrincipal } from '../access/authenticate';
import { assertRole, canActForPractice, CONSENT_READERS, type Principal } from '../access/principal';
import { jsonBodyOf } from './json-body';
import { names, type TargetDeclaration } from './route-target';

const bsn = z.string().refine(isValidBsn, 'not a valid BSN (9 digits passing the 11-proef)');

/** `$explain` asks about a stored event, or about a child described in the request. Nothing is shared. */
/** `$explain` about a stored event. */
const aboutEvent = z.object({ eventId: z.uuid(), at: z.iso.datetime({ offset: true }).optional() }).strict();

/** `$explain` about a child described in the request. */
const aboutChild = z
  .object({
    practice: z.string().regex(/^\d{8}$/, 'an AGB code of 8 digits'),
    municipality: z.string().regex(/^GM\d{4}$/, 'a CBS municipality code such as GM0226'),
    purpose: z.enum(PURPOSES),
    dataClasses: z.array(z.enum(DATA_CLASSES)).min(1).default(['Patient', 'ServiceRequest']),
    child: z.object({ bsn, birthDate: z.iso.date().optional() }).strict(),
    guardians: z
      .array(z.object({ relatedPersonId: z.string().min(1), hasAuthority: z.boolean() }).strict())
      .default([]),
    at: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

/** The body of `POST /policy/v1/$explain`: a stored event, or a child described in the request. */
export const explainSchema = z.union([aboutEvent, aboutChild]);

/**
 * The body, read by the one of its two forms it takes (`eventId` names the first): a mistake is then named by its
 * field (`practice`, `child.bsn`), where the union could only say that the body is neither.
 */
function explainBodyOf(body: unknown): z.infer<typeof explainSchema> {
  const field = (path: readonly PropertyKey[]) => expressionOf('', path);
  return typeof body === 'object' && body !== null && 'eventId' in body
    ? parseOrThrow(aboutEvent, body, field)
    : parseOrThrow(aboutChild, body, field);
}

/** The stored event a body about one names, as sent (`explainBodyOf` checks it). */
function eventIdOf(body: unknown): string | undefined {
  const eventId = (body as { eventId?: unknown } | undefined)?.eventId;
  return typeof eventId === 'string' ? eventId : undefined;
}

/** What `$explain` takes from one stored consent version: what the engine decides on, and what the answer shows. */
interface ExplainedConsent {
  readonly compiled: CompiledConsent;
  readonly considered: {
    readonly id: string | undefined;
    readonly status: Consent['status'];
    readonly dateTime: string | undefined;
    readonly provision: ConsentProvision['type'];
    readonly performer: (string | undefined)[] | undefined;
  };
  readonly patientReference: string | undefined;
}

function explained(c: Consent): ExplainedConsent {
  return {
    compiled: compileConsent(c),
    considered: {
      id: c.id,
      status: c.status,
      dateTime: c.dateTime,
      provision: c.provision?.type,
      performer: c.performer?.map((p) => p.reference),
    },
    patientReference: c.patient?.reference,
  };
}

/**
 * Per database, like the pipeline's compiled consents (event/decide.ts): every answer reads the child's consents
 * afresh, but parses and compiles only a stored version it has not seen, which was about a tenth of an answer's CPU.
 */
const explainedConsentsOf = perResource<Db, StoredConsentCache<ExplainedConsent>>(
  () => new StoredConsentCache(CACHED_CONSENTS, explained),
);

/** The path of `$explain` within `/policy/v1`, as Express matches it (`$` escaped). */
const EXPLAIN_PATH = '/\\$explain';

/** `POST /policy/v1/$explain` as app.ts mounts it on the app itself: the full path, as Express matches it. */
export const EXPLAIN_ROUTE = `/policy/v1${EXPLAIN_PATH}`;

/**
 * `/policy/v1/…` (mounted there, after authentication, in app.ts): the policy explanation, for auditors, operators
 * and the practice itself. The consent registry itself is `/fhir/Consent` (fhir-router.ts). app.ts also mounts
 * `explainHandlers` on the app itself, ahead of this router, and that route answers every POST. This one is not dead
 * all the same: it is what answers the path's other methods (OPTIONS 200 with `Allow: POST`, GET 405; without it
 * OPTIONS is refused), and explain-route.test.ts compares the app's route with it.
 */
export function consentRouter(ctx: PipelineContext): Router {
  const router = exactRouter();
  router.post(EXPLAIN_PATH, ...explainHandlers(ctx));
  return router;
}

/**
 * The handlers of `POST /policy/v1/$explain`, after authentication: what the route names (its refusals are recorded
 * in the named event's chain), then the answer.
 */
export function explainHandlers(ctx: PipelineContext): [TargetDeclaration, RequestHandler] {
  return [names('event', { body: eventIdOf }), explainHandler(ctx)];
}

/** The answer of `$explain`: a decision, what it considered, and the read on record before it is sent. */
function explainHandler(ctx: PipelineContext): RequestHandler {
  return async (req, res) => {
    const principal = assertMayReadConsents(res);
    assertNoQuery(req);
    const input = explainBodyOf(jsonBodyOf(req) ?? {});
    const at = input.at ? new Date(input.at) : new Date();
    let request: DecisionRequest;
    let facts: DecisionFacts<CompiledConsent>;
    let consents: ExplainedConsent[];
    // The child the answer is about, so a search by the child (and the child's overview) finds this read.
    let patientBsn: string;
    // The reads go out grouped with the other requests' (and, in one process, the pipeline's) made at the same
    // moment: one statement per group instead of one per request, each still read after its request arrived.
    const statements = stageStatements(ctx.db);
    if ('eventId' in input) {
      const row = await statements.sealedEvent(input.eventId);
      if (!row) {
        throw new OperationOutcomeError(notFound);
      }
      if (!canActForPractice(principal, row.tenant)) {
        // As for an unknown id (GET /his/v1/events/{id} does the same): a caller must not learn which ids exist in
        // other practices; the attempt is on record in the event's practice's chain.
        await auditEventRead(ctx, req, res, row, undefined, NOT_IN_SCOPE);
        throw new OperationOutcomeError(notFound);
      }
      if (row.event_type === MONITORING_REPORT_EVENT) {
        // Its sealed content is a MeasureReport, not a canonical event: there is no child to decide about.
        throw new OperationOutcomeError(
          badRequest('A monitoring report is about no one child; no consent decision to explain', 'eventId'),
        );
      }
      const event = openEvent(ctx.cipher, row);
      patientBsn = event.patient.bsn;
      const purpose = purposeOf(event.eventType);
      if (!purpose) {
        throw new OperationOutcomeError(
          badRequest('A consent event is never disclosed; nothing to explain', 'eventId'),
        );
      }
      consents = explainedConsentsOf(ctx.db).derivedAll(
        await statements.storedConsents({ tenant: row.tenant, patientBsn: event.patient.bsn }),
      );
      request = {
        practiceAgb: row.tenant,
        municipalityCode: event.municipalityCode,
        purpose,
        dataClasses: dataClassesOf(event),
        at,
      };
      facts = {
        agreements: findAgreements(ctx.registry, row.tenant, event.municipalityCode),
        consents: consents.map((c) => c.compiled),
        patient: {
          id: event.resources.find((r) => r.resourceType === 'Patient')?.id ?? '',
          birthDate: event.patient.birthDate,
        },
        guardians: event.guardians.map((g) => ({ relatedPersonId: g.relatedPersonId, hasAuthority: g.hasAuthority })),
      };
    } else {
      if (!canActForPractice(principal, input.practice)) {
        throw new OperationOutcomeError(
          forbiddenField('The practice is not among the practices this caller acts for', 'practice'),
        );
      }
      patientBsn = input.child.bsn;
      consents = explainedConsentsOf(ctx.db).derivedAll(
        await statements.storedConsents({ tenant: input.practice, patientBsn: input.child.bsn }),
      );
      // The registry's consents name the practice's Patient id for this child; the decision matches performers on it.
      const patientRef = consents.find((c) => c.patientReference)?.patientReference ?? '';
      request = {
        practiceAgb: input.practice,
        municipalityCode: input.municipality,
        purpose: input.purpose,
        dataClasses: input.dataClasses,
        at,
      };
      facts = {
        agreements: findAgreements(ctx.registry, input.practice, input.municipality),
        consents: consents.map((c) => c.compiled),
        patient: { id: patientRef.replace(/^Patient\//, ''), birthDate: input.child.birthDate },
        guardians: input.guardians,
      };
    }
    const decision = decide(request, facts);
    await auditRead(ctx, req, res, {
      query: req.originalUrl,
      interaction: 'read',
      target: 'eventId' in input ? `inbox/${input.eventId}` : undefined,
      patientBsn,
      tenants: [request.practiceAgb],
    });
    sendPostAnswer(res, {
      at: at.toISOString(),
      request: { ...request, at: at.toISOString() },
      decision,
      considered: {
        agreements: facts.agreements.map((a) => ({
          id: a.id,
          version: a.version,
          status: a.status,
          legalBasis: a.legalBasis,
        })),
        consents: consents.map((c) => c.considered),
      },
    });
  };
}

/** Consent data is for auditors, operators and practices; a municipality learns decisions only through deliveries. */
function assertMayReadConsents(res: Response): Principal {
  const principal = getPrincipal(res);
  assertRole(principal, ...CONSENT_READERS);
  return principal;
}
