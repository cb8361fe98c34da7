import type { Patient } from '@medplum/fhirtypes';
import { auditedAgreement, findAgreements, tryGetDestination } from './registry';
import type { HisEventType, CanonicalEvent } from '../contracts/his-dialect';
import type { DataClass, DisclosurePurpose, Purpose } from '../contracts/sharing';
import { decide } from '../policy/decide';
import { distinctReasonCodes } from '../policy/reason-words';
import { CACHED_CONSENTS, ConsentCache, type StoredConsent } from '../policy/consent-cache';
import type { CompiledProvision } from '../policy/compiled-consent';
import type { Db } from '../kernel/db';
import type { CancelledReferral, ConsentVersions, Decision } from '../policy/types';
import { referralIdentifierOf } from './referral-identifier';
import type { Agreement } from '../policy/agreement';
import { cancelledReferralAt, type EventRow } from './event-store';
import { stageStatements } from './stage-groups';
import { perResource } from './stage-batch';
import type { PipelineContext } from './context';
import { consentDecision, SYSTEM_WORKER } from '../audit/audit-events';

/**
 * Why an event type is shared; consent events are recorded, never sent. Never `monitoring` (`DisclosurePurpose`): a
 * trajectory's closure is part of the registration of the trajectory, as a contact carrying the same closure is, and
 * is counted in the figures by its own decision (monitoring-writer.ts).
 */
export function purposeOf(eventType: HisEventType): DisclosurePurpose | undefined {
  switch (eventType) {
    case 'referral.created':
    case 'referral.cancelled':
      return 'referral';
    case 'contact.recorded':
    case 'trajectory.closed':
      return 'contact-registration';
    case 'consent.recorded':
    case 'consent.withdrawn':
    case 'consent.entered-in-error':
      return undefined;
  }
}

/** The data classes an event would disclose: the resource types it carries, consents excepted. */
export function dataClassesOf(event: CanonicalEvent): DataClass[] {
  return [...new Set(event.resources.map((r) => r.resourceType).filter((t) => t !== 'Consent'))] as DataClass[];
}

/** The compiled consents of one database; a cache per database, so two stores in one process never share one. */
const consentCacheOf = perResource<Db, ConsentCache>(() => new ConsentCache(CACHED_CONSENTS));

/** The event's child's consents as stored, for the decisions one step makes about the event. */
export type ChildConsents = () => Promise<StoredConsent[]>;

/**
 * Reads the child's consents when first asked and answers every later ask of the same step from that read: the map
 * stage decides twice about an event (monitoring, then its purpose) at the same moment, and a second read would
 * cost a round trip to PostgreSQL for the same rows.
 */
export function childConsentsOnce(ctx: Pick<PipelineContext, 'db'>, event: CanonicalEvent): ChildConsents {
  let read: Promise<StoredConsent[]> | undefined;
  return () =>
    (read ??= stageStatements(ctx.db).storedConsents({ tenant: event.practice.agb, patientBsn: event.patient.bsn }));
}

/**
 * Whether any of the child's consents denies anything, in any of its rules: only then can a decision find an
 * objection. From the compiled consents a decision uses (cached by stored version), so asking costs no parse.
 */
export async function anyConsentDenies(ctx: Pick<PipelineContext, 'db'>, consents: ChildConsents): Promise<boolean> {
  const denies = (p: CompiledProvision | undefined): boolean =>
    p !== undefined && (p.type === 'deny' || p.provisions.some(denies));
  return consentCacheOf(ctx.db)
    .derivedAll(await consents())
    .some((c) => denies(c.provision));
}

/**
 * Loads the facts (agreements, this child's consents), asks the pure policy engine, and records the decision as an
 * AuditEvent (BALP AuthZ-Consent) before returning it: no decision of the pipeline goes unaudited.
 */
export async function decideAndRecord(
  ctx: PipelineContext,
  row: Pick<EventRow, 'id' | 'tenant'>,
  event: CanonicalEvent,
  purpose: DisclosurePurpose,
  stage: 'map' | 'deliver' | 'redecide' | 'redeliver',
  consents: ChildConsents = childConsentsOnce(ctx, event),
): Promise<Decision> {
  const decision = await decideForEvent(ctx, event, purpose, new Date(), dataClassesOf(event), consents);
  await ctx.audit.append(
    row.tenant,
    consentDecision({
      actor: SYSTEM_WORKER,
      permit: decision.effect === 'permit',
      reasons: reasonText(decision),
      patientBsn: event.patient.bsn,
      inboxId: row.id,
      consentIds: decision.consentIds,
      consentVersions: decision.consentVersions,
      agreement: auditedAgreement(ctx.registry, decision.agreement),
      municipality: event.municipalityCode,
      purpose,
      stage,
    }),
  );
  return decision;
}

/**
 * Loads the facts and asks the policy engine, without recording: callers record (or say why they need not). The
 * agreements are the registry's of the practice and municipality unless given (monitoring-writer.ts asks about
 * agreements that have ended, as they last were).
 */
export async function decideForEvent(
  ctx: Pick<PipelineContext, 'db' | 'registry' | 'metrics'>,
  event: CanonicalEvent,
  purpose: Purpose,
  at: Date,
  classes: DataClass[] = dataClassesOf(event),
  consents: ChildConsents = childConsentsOnce(ctx, event),
  agreements: readonly Agreement[] = findAgreements(ctx.registry, event.practice.agb, event.municipalityCode),
): Promise<Decision> {
  const patient = event.resources.find((r): r is Patient => r.resourceType === 'Patient');
  const cancels = purpose === 'referral' ? await cancelledReferralOf(ctx, event) : undefined;
  // Timed as its own stage: loading the facts and deciding is the latency the policy adds to the pipeline.
  return ctx.metrics.time('policy', async () => {
    const stored = await consents();
    const decision = decide(
      {
        practiceAgb: event.practice.agb,
        municipalityCode: event.municipalityCode,
        purpose,
        dataClasses: classes,
        at,
        cancels,
      },
      {
        agreements,
        consents: consentCacheOf(ctx.db).derivedAll(stored),
        patient: { id: patient?.id ?? '', birthDate: event.patient.birthDate, hisId: event.patient.hisId },
        guardians: event.guardians.map((g) => ({
          relatedPersonId: g.relatedPersonId,
          hasAuthority: g.hasAuthority,
          hisId: g.hisId,
          relationship: g.relationship,
        })),
      },
    );
    const read = Object.fromEntries(stored.map((c) => [c.id, c.versionId]));
    return { ...decision, consentVersions: citedVersions(decision.consentIds, read) };
  });
}

/**
 * Of the versions of the consents a decision read (`read`, by id), those of the consents it rests on (`consentIds`):
 * what its audit cites, and what a disclosure's note keeps until that audit is written.
 */
export function citedVersions(consentIds: readonly string[], read: ConsentVersions): ConsentVersions {
  const cited: Record<string, number> = {};
  for (const id of consentIds) {
    const version = read[id];
    if (version !== undefined) {
      cited[id] = version;
    }
  }
  return cited;
}

/** On a `referral.cancelled`: what became of the referral it cancels at the municipality's destination. */
async function cancelledReferralOf(
  ctx: Pick<PipelineContext, 'db' | 'registry'>,
  event: CanonicalEvent,
): Promise<CancelledReferral | undefined> {
  const identifier = event.eventType === 'referral.cancelled' ? referralIdentifierOf(event) : undefined;
  if (identifier === undefined) {
    return undefined;
  }
  const destination = tryGetDestination(ctx.registry, event.municipalityCode)?.id;
  const at = await cancelledReferralAt(ctx.db, event.practice.agb, event.sourceEventId, identifier, destination);
  return { referralId: identifier.value, at };
}

/**
 * Reason codes joined for the audit text: codes only, each once (a deny for want of 150 guardians' consent is one
 * `consent-missing-guardian`). States carry the words too, naming the people (policy/reason-words.ts).
 */
export function reasonText(decision: Decision): string {
  return distinctReasonCodes(decision).join(', ');
}
