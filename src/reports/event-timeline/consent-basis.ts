import type { Consent } from '@medplum/fhirtypes';
import type { Db } from '../../kernel/db';
import { AUDIT_SUBTYPES, CONSENT_REFERENCE, consentReferencesSql } from '../../audit/audit-events';
import { isObjection } from '../../policy/objection';
import { withdrawnParties } from '../../policy/compiled-consent';
import { CONSENT_WITHDRAWN_AT_EXTENSION } from '../../kernel/fhir/systems';
import { buildOverview, type OverviewRow } from '../child-overview/overview';
import type { Disclosed } from './event-timeline';

/**
 * On which consent an event went to the municipality, or which one refused it: what a practice answers a parent who
 * asks "on what basis did this go to the municipality?". Read from the event's AuditEvents (the policy decisions,
 * AuthZ-Consent, and the disclosures, Export/disclose, each naming the consents it rested on: `consentDecision`,
 * `disclosure`) and the consent registry, which holds each consent as it is now. Ids, dates and codes only: the
 * people by their FHIR references, the recorder by its principal id, never a name or a BSN.
 */
export interface ConsentBasis {
  /** What reached each destination (`disclosedOf`), each with the consents its first accepted delivery went on. */
  readonly disclosed: DisclosedOnConsent[];
  /** The latest decision recorded about the event for its own purpose; null when none is on record (purged). */
  readonly decision: RecordedDecision | null;
  /** Every consent the decision and the disclosures name, as the registry holds it now, in the order first named. */
  readonly consents: BasisConsent[];
}

/**
 * A delivery that reached its destination, with the ids of the consents it went on: empty for one that rested on a
 * legal basis (no consent asked) and for a consent event's withdrawal notice, null where its disclosure's AuditEvent
 * is not found (removed by the audit retention).
 */
export type DisclosedOnConsent = Disclosed & { consents: string[] | null };

export interface RecordedDecision {
  readonly effect: 'permit' | 'deny';
  /** `map`, `deliver`, `redecide` or `redeliver` (README, "Why an event was denied"). */
  readonly stage: string | null;
  readonly at: string;
  /**
   * The consents it rests on: for a permit those that permitted; for a denial the objections that refused it, or the
   * consents that fell short (withdrawn, expired, for other purposes). Empty for a denial because no one consented.
   */
  readonly consents: string[];
}

export interface BasisConsent {
  /** The Consent's id (`Consent/<id>` in the AuditEvents). */
  readonly id: string;
  /** The practice's own id of the consent, as its HIS sent it. */
  readonly ownId: string | null;
  readonly kind: 'consent' | 'objection';
  /**
   * As the registry holds it now: `active`, `inactive` (withdrawn since), `entered-in-error`; `unknown` for one the
   * registry does not hold (its other fields empty).
   */
  readonly status: string;
  /** When it was given, as the HIS recorded it (Consent.dateTime); the withdrawal's moment once withdrawn. */
  readonly dateTime: string | null;
  /** The period it covers (its provision's), when it names one. */
  readonly period: { readonly start?: string; readonly end?: string } | null;
  /** Who gave it: `Patient/<id>`, `RelatedPerson/<id>`. */
  readonly givenBy: string[];
  /** Who recorded it in jeugdbrug (the principal that sent it) and when: its first write's AuditEvent. */
  readonly recordedBy: { readonly principal: string; readonly at: string } | null;
  /**
   * Withdrawn since, wholly (`status` inactive) or by some of those who gave it (`by`, the others' consent stands),
   * and when, as the withdrawal said; null while nothing of it is withdrawn.
   */
  readonly withdrawn: { readonly by: string[]; readonly at: string | null } | null;
}

const DECISION = AUDIT_SUBTYPES.authzConsent.code;
const DISCLOSE = AUDIT_SUBTYPES.disclose.code;
const CREATE = AUDIT_SUBTYPES.create.code;

/**
 * The consent basis of event `event` of practice `practice`, beside what reached each destination (`disclosed`,
 * `disclosedOf`'s). Three statements: the event's decisions and disclosures in the practice's chain (by the entities
 * index, `inbox/<id>`), then, side by side, the consents they name and the AuditEvents of their recordings.
 */
export async function consentBasisOf(
  db: Db,
  event: { readonly id: string; readonly practice: string },
  disclosed: readonly Disclosed[],
): Promise<ConsentBasis> {
  const rows = await db.query<OverviewRow>(
    `SELECT tenant, seq::float8 AS seq, resource::json AS resource FROM audit_event
     WHERE tenant = $1 AND entities @> ARRAY[$2] AND subtype = ANY($3::text[]) ORDER BY seq`,
    [event.practice, `inbox/${event.id}`, [DECISION, DISCLOSE]],
  );
  const entries = buildOverview('', rows).entries;
  // The event's own decisions: not those about the monitoring figures the map stage records on the same event.
  const decisions = entries.filter((e) => e.kind === 'decision' && e.purpose !== 'monitoring');
  const last = decisions.at(-1);
  const decision: RecordedDecision | null =
    last?.kind === 'decision'
      ? { effect: last.action, stage: last.stage ?? null, at: last.at, consents: last.consents }
      : null;
  const firstSentTo = new Map<string, string[]>();
  for (const e of entries) {
    if (e.kind === 'disclosure' && e.destination && !firstSentTo.has(e.destination)) {
      // A consent event's withdrawal notice tells of a consent (`reasonConsents`) and rests on none.
      firstSentTo.set(e.destination, e.sent === 'data' ? e.consents : []);
    }
  }
  const withConsents = disclosed.map((d) => ({ ...d, consents: firstSentTo.get(d.destination) ?? null }));
  const named = [...new Set([...withConsents.flatMap((d) => d.consents ?? []), ...(decision?.consents ?? [])])];
  return { disclosed: withConsents, decision, consents: await consentsAsHeld(db, event.practice, named) };
}

/** The consents `ids` of the practice as the registry holds them, each with the AuditEvent of its first recording. */
async function consentsAsHeld(db: Db, practice: string, ids: readonly string[]): Promise<BasisConsent[]> {
  if (ids.length === 0) {
    return [];
  }
  // Apart, each by its index: the AuditEvents by the entities index, for a few consents a few rows. A subquery per
  // consent taking the first by `seq` was planned as a walk of the whole chain in `seq` order (a second per consent
  // at 600,000 rows).
  const [rows, recordings] = await Promise.all([
    db.query<{ id: string; status: string; resource: Consent }>(
      'SELECT id, status, resource FROM consent WHERE tenant = $1 AND id = ANY($2::text[])',
      [practice, ids],
    ),
    // A recording cites the version it wrote (`Consent/<id>/_history/<v>`, migration 087), one from before it the
    // consent alone.
    db.query<OverviewRow>(
      `SELECT tenant, seq::float8 AS seq, resource::json AS resource FROM audit_event
       WHERE tenant = $1 AND subtype = $3 AND entities && ARRAY(
         SELECT ref FROM unnest($2::text[]) AS c(id), unnest(${consentReferencesSql('c.id')}) AS ref)
       ORDER BY seq`,
      [practice, ids, CREATE],
    ),
  ]);
  // Each consent's first recording: the oldest create naming it.
  const firstRecording = new Map<string, { principal: string; at: string }>();
  for (const access of buildOverview('', recordings).accesses) {
    for (const what of access.what) {
      const id = CONSENT_REFERENCE.exec(what)?.[1];
      if (id !== undefined && access.user !== undefined && !firstRecording.has(id)) {
        firstRecording.set(id, { principal: access.user, at: access.at });
      }
    }
  }
  const held = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id): BasisConsent => {
    const row = held.get(id);
    if (!row) {
      const none = { ownId: null, dateTime: null, period: null, givenBy: [], recordedBy: null, withdrawn: null };
      return { id, kind: 'consent', status: 'unknown', ...none };
    }
    const c = row.resource;
    const period = c.provision?.period;
    const withdrawnBy = withdrawnParties(c);
    const givenBy = (c.performer ?? []).flatMap((p) => (p.reference ? [p.reference] : []));
    return {
      id,
      ownId: c.identifier?.[0]?.value ?? null,
      kind: isObjection(c) ? 'objection' : 'consent',
      status: row.status,
      dateTime: c.dateTime ?? null,
      period: period
        ? { ...(period.start ? { start: period.start } : {}), ...(period.end ? { end: period.end } : {}) }
        : null,
      givenBy,
      recordedBy: firstRecording.get(id) ?? null,
      withdrawn:
        row.status === 'inactive' || withdrawnBy.length > 0
          ? {
              by: withdrawnBy.length > 0 ? withdrawnBy : givenBy,
              at: c.extension?.find((e) => e.url === CONSENT_WITHDRAWN_AT_EXTENSION)?.valueDateTime ?? null,
            }
          : null,
    };
  });
}
