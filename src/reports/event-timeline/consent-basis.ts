import type { Coding, Consent, ConsentProvision, Period } from '@medplum/fhirtypes';
import type { Db } from '../../kernel/db';
import { AUDIT_SUBTYPES, CONSENT_REFERENCE, consentReferencesSql } from '../../audit/audit-events';
import { isObjection } from '../../policy/objection';
import { withdrawalRecordedAt, withdrawnParties } from '../../policy/compiled-consent';
import { buildOverview, type ConsentVersion, type OverviewRow } from '../child-overview/overview';
import type { Disclosed } from './event-timeline';

/**
 * On which consent an event went to the municipality, or which one refused it: what a practice answers a parent who
 * asks "on what basis did this go to the municipality?". Read from the event's AuditEvents (the policy decisions,
 * AuthZ-Consent, and the disclosures, Export/disclose, each naming the consents it rested on, by the version it read:
 * `Consent/<id>/_history/<v>`) and the consents' kept versions (`consent_history`, migration 087): each consent as
 * the version cited, which reads the same after the consent was withdrawn or refused under the same id, and whether a
 * newer version exists. Ids, dates and codes only: the people by their FHIR references, the recorder by its principal
 * id, never a name or a BSN.
 */
export interface ConsentBasis {
  /** What reached each destination (`disclosedOf`), each with the consents its first accepted delivery went on. */
  readonly disclosed: DisclosedOnConsent[];
  /** The latest decision recorded about the event for its own purpose; null when none is on record (purged). */
  readonly decision: RecordedDecision | null;
  /** Every consent version the decision and the disclosures cite, as that version reads, in the order first cited. */
  readonly consents: BasisConsent[];
}

/**
 * A consent as an audit row cites it: its id and the version the decision read; null for one cited without a version
 * (before migration 087, or by an older build beside it).
 */
export interface CitedConsent {
  readonly id: string;
  readonly version: number | null;
}

/**
 * A delivery that reached its destination, with the ids of the consents it went on (`consents`) and the version of
 * each it cites (`consentVersions`): empty for one that rested on a legal basis (no consent asked) and for a consent
 * event's withdrawal notice, null where its disclosure's AuditEvent is not found (removed by the audit retention).
 */
export type DisclosedOnConsent = Disclosed & { consents: string[] | null; consentVersions: CitedConsent[] | null };

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
  /** Each of `consents` with the version it cites. */
  readonly consentVersions: CitedConsent[];
}

/** A consent's rule as a version reads it: permit or deny, for whom, which purposes and data classes, when. */
export interface BasisProvision {
  readonly type: 'permit' | 'deny' | null;
  readonly period: { readonly start?: string; readonly end?: string } | null;
  /** Who may receive: the municipality codes (CBS) its actors name. */
  readonly recipients: string[];
  /** Purpose codes (`referral`, `contact-registration`, ...). */
  readonly purposes: string[];
  /** Data classes: resource types. */
  readonly classes: string[];
  /** Exceptions to it, each a rule of its own. */
  readonly provisions: BasisProvision[];
}

/** Whether, how far and when a consent was withdrawn, as one of its versions reads. */
export interface Withdrawal {
  /**
   * Who withdrew, as the withdrawal named them (`consent-withdrawn-by`): some of those who gave it, the others'
   * consent standing, or all of them, or someone who gave no part of it (then `status` is inactive). Empty when the
   * withdrawal named nobody, or was recorded before the withdrawer was kept: never those who gave it in their stead.
   */
  readonly by: string[];
  readonly at: string | null;
}

export interface BasisConsent {
  /** The Consent's id (`Consent/<id>` in the AuditEvents). */
  readonly id: string;
  /**
   * The version cited (`GET /fhir/Consent/<id>/_history/<version>`), which every field below describes; null for a
   * consent cited without a version, described as the registry holds it now.
   */
  readonly version: number | null;
  /** The practice's own id of the consent, as its HIS sent it. */
  readonly ownId: string | null;
  readonly kind: 'consent' | 'objection';
  /**
   * The version's status: `active`, `inactive` (withdrawn), `entered-in-error`; `unknown` for a consent of which no
   * version is kept (its other fields empty).
   */
  readonly status: string;
  /** When it was given, as the HIS recorded it (Consent.dateTime); the withdrawal's moment for a withdrawn version. */
  readonly dateTime: string | null;
  /** The period it covers (its provision's), when it names one. */
  readonly period: { readonly start?: string; readonly end?: string } | null;
  /** Its rule: permit or deny, for whom, for which purposes and data classes. */
  readonly provision: BasisProvision | null;
  /** Who gave it: `Patient/<id>`, `RelatedPerson/<id>`. */
  readonly givenBy: string[];
  /**
   * Who recorded this version in jeugdbrug (the principal that sent it) and when: the AuditEvent of its write (for a
   * version written before migration 087, or by an older build, the write before the next version's).
   */
  readonly recordedBy: { readonly principal: string; readonly at: string } | null;
  /** Withdrawn in this version, wholly (`status` inactive) or by some of those who gave it; null if not. */
  readonly withdrawn: Withdrawal | null;
  /**
   * The newest version, when it is newer than the one cited: recorded since (`at`), it may withdraw the consent, void
   * it, or replace it with an objection. Null while the version cited is the newest.
   */
  readonly newer: {
    readonly version: number;
    readonly at: string;
    readonly kind: 'consent' | 'objection';
    readonly status: string;
    readonly withdrawn: Withdrawal | null;
  } | null;
}

const DECISION = AUDIT_SUBTYPES.authzConsent.code;
const DISCLOSE = AUDIT_SUBTYPES.disclose.code;
const CREATE = AUDIT_SUBTYPES.create.code;

const cited = (c: ConsentVersion): CitedConsent => ({ id: c.id, version: c.version ?? null });
const keyOf = (c: CitedConsent): string => `${c.id}@${c.version ?? ''}`;

/**
 * The consent basis of event `event` of practice `practice`, beside what reached each destination (`disclosed`,
 * `disclosedOf`'s). Three statements: the event's decisions and disclosures in the practice's chain (by the entities
 * index, `inbox/<id>`), then, side by side, the versions they cite and the AuditEvents of their recordings.
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
      ? {
          effect: last.action,
          stage: last.stage ?? null,
          at: last.at,
          consents: last.consents,
          consentVersions: last.consentVersions.map(cited),
        }
      : null;
  const firstSentTo = new Map<string, CitedConsent[]>();
  for (const e of entries) {
    if (e.kind === 'disclosure' && e.destination && !firstSentTo.has(e.destination)) {
      // A consent event's withdrawal notice tells of a consent (`reasonConsents`) and rests on none.
      firstSentTo.set(e.destination, e.sent === 'data' ? e.consentVersions.map(cited) : []);
    }
  }
  const withConsents = disclosed.map((d): DisclosedOnConsent => {
    const versions = firstSentTo.get(d.destination);
    return { ...d, consents: versions?.map((c) => c.id) ?? null, consentVersions: versions ?? null };
  });
  const named = new Map<string, CitedConsent>();
  for (const c of [...withConsents.flatMap((d) => d.consentVersions ?? []), ...(decision?.consentVersions ?? [])]) {
    named.set(keyOf(c), named.get(keyOf(c)) ?? c);
  }
  return {
    disclosed: withConsents,
    decision,
    consents: await consentsAsCited(db, event.practice, [...named.values()]),
  };
}

interface VersionRow {
  id: string;
  version_id: number;
  status: string;
  resource: Consent;
  recorded_at: Date;
  newest: number;
}

/**
 * The consent versions `cited` of the practice, each with the AuditEvent of its recording and the newest version
 * when that is newer. One statement reads the versions cited and the newest of each consent (by the history's key),
 * one the recordings (by the entities index).
 */
async function consentsAsCited(db: Db, practice: string, cited: readonly CitedConsent[]): Promise<BasisConsent[]> {
  if (cited.length === 0) {
    return [];
  }
  const ids = [...new Set(cited.map((c) => c.id))];
  // Apart, each by its index: the AuditEvents by the entities index, for a few consents a few rows. A subquery per
  // consent taking the first by `seq` was planned as a walk of the whole chain in `seq` order (a second per consent
  // at 600,000 rows).
  const [rows, recordings] = await Promise.all([
    db.query<VersionRow>(
      `SELECT id, version_id, status, resource, recorded_at, newest FROM (
         SELECT id, version_id, status, resource, recorded_at, max(version_id) OVER (PARTITION BY id) AS newest
         FROM consent_history WHERE tenant = $1 AND id = ANY($2::text[])) v
       WHERE version_id = newest OR id || '@' || version_id = ANY($3::text[])`,
      [practice, ids, cited.map(keyOf)],
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
  const recordingOf = recordingsOf(recordings);
  const versions = new Map(rows.map((r) => [`${r.id}@${r.version_id}`, r]));
  return cited.map((c): BasisConsent => {
    const newest = rows.find((r) => r.id === c.id && r.version_id === r.newest);
    // Cited without a version: as the registry holds it now, its newest version.
    const row = c.version === null ? newest : versions.get(keyOf(c));
    if (!row) {
      const none = { ownId: null, dateTime: null, period: null, provision: null, givenBy: [] };
      return { ...c, kind: 'consent', status: 'unknown', ...none, recordedBy: null, withdrawn: null, newer: null };
    }
    const r = row.resource;
    const period = periodOf(r.provision?.period);
    return {
      ...c,
      ownId: r.identifier?.[0]?.value ?? null,
      kind: isObjection(r) ? 'objection' : 'consent',
      status: row.status,
      dateTime: r.dateTime ?? null,
      period,
      provision: r.provision ? provisionOf(r.provision) : null,
      givenBy: givenByOf(r),
      recordedBy: recordingOf(c.id, row.version_id) ?? null,
      withdrawn: withdrawalOf(row),
      newer:
        newest && newest.version_id > row.version_id
          ? {
              version: newest.version_id,
              at: newest.recorded_at.toISOString(),
              kind: isObjection(newest.resource) ? 'objection' : 'consent',
              status: newest.status,
              withdrawn: withdrawalOf(newest),
            }
          : null,
    };
  });
}

/**
 * Who recorded each version of a consent and when, from the AuditEvents of the consents' writes (oldest first): the
 * first that cites the version; for a version none cites (written before migration 087, whose content 087 kept as
 * version 1, or by an older build), the last write citing the consent alone before a later version was recorded.
 */
function recordingsOf(
  rows: readonly OverviewRow[],
): (id: string, version: number) => { principal: string; at: string } | undefined {
  const writes: { id: string; version: number | undefined; principal: string; at: string }[] = [];
  for (const access of buildOverview('', rows).accesses) {
    for (const what of access.what) {
      const m = CONSENT_REFERENCE.exec(what);
      if (m?.[1] !== undefined && access.user !== undefined) {
        const version = m[2] === undefined ? undefined : Number(m[2]);
        writes.push({ id: m[1], version, principal: access.user, at: access.at });
      }
    }
  }
  return (id, version) => {
    const own = writes.find((w) => w.id === id && w.version === version);
    if (own) {
      return { principal: own.principal, at: own.at };
    }
    const later = writes.findIndex((w) => w.id === id && w.version !== undefined && w.version > version);
    const before = (later < 0 ? writes : writes.slice(0, later)).findLast(
      (w) => w.id === id && w.version === undefined,
    );
    return before && { principal: before.principal, at: before.at };
  };
}

const periodOf = (period: Period | undefined): BasisProvision['period'] =>
  period ? { ...(period.start ? { start: period.start } : {}), ...(period.end ? { end: period.end } : {}) } : null;

const codesOf = (codings: readonly Coding[] | undefined): string[] =>
  (codings ?? []).flatMap((c) => (c.code === undefined ? [] : [c.code]));

/** A provision as a version reads it, with its exceptions. */
function provisionOf(p: ConsentProvision): BasisProvision {
  return {
    type: p.type ?? null,
    period: periodOf(p.period),
    recipients: (p.actor ?? []).flatMap((a) => {
      const value = a.reference?.identifier?.value;
      return value === undefined ? [] : [value];
    }),
    purposes: codesOf(p.purpose),
    classes: codesOf(p.class),
    provisions: (p.provision ?? []).map(provisionOf),
  };
}

const givenByOf = (c: Consent): string[] => (c.performer ?? []).flatMap((p) => (p.reference ? [p.reference] : []));

/** Withdrawn in a version: wholly (status inactive) or by some of those who gave it, and when; null if not. */
function withdrawalOf(row: Pick<VersionRow, 'status' | 'resource'>): Withdrawal | null {
  const c = row.resource;
  const withdrawnBy = withdrawnParties(c);
  if (row.status !== 'inactive' && withdrawnBy.length === 0) {
    return null;
  }
  return {
    by: withdrawnBy,
    at: withdrawalRecordedAt(c) ?? null,
  };
}
