import { auditedAgreement, findAgreements } from './registry';
import { startPeriodic } from '../kernel/periodic';
import type { CanonicalEvent } from '../contracts/his-dialect';
import type { PipelineContext } from './context';
import { anyConsentDenies, childConsentsOnce, decideForEvent, reasonText, type ChildConsents } from './decide';
import type { Db } from '../kernel/db';
import { amsterdamDateTime, amsterdamDay } from '../kernel/dutch-time';
import { systemOfRecordOf, type Agreement } from '../policy/agreement';
import type { Decision } from '../policy/types';
import { consentDecision, SYSTEM_WORKER } from '../audit/audit-events';
import type { EventRow } from './event-store';
import { monitoringFactsOf, type MonitoringFacts, type ReferralFact, type TrajectoryFact } from './monitoring-facts';
import { grouped, perResource } from './stage-batch';
import { getPseudonymiser, type Pseudonymiser } from './report-pseudonym';
import type { ReferralStatus } from '../../mappings/practice/referral-status';

/**
 * Writes an event's monitoring facts to the reporting store as the event is mapped, when the agreement lets it
 * count. Idempotent: every row is keyed by a pseudonym of its record, so a retried or replayed event counts once.
 */

/** What `verdictOn` found about one fact. */
interface Verdict {
  readonly counts: boolean;
  readonly objected: boolean;
  /** The agreement the decision on the fact's day went by, if one was in force. */
  readonly agreement: Agreement | undefined;
}

/** The day a fact is about: the contact's, the referral's, the closure's, else the day the trajectory started. */
function factDayOf(f: MonitoringFacts): string | undefined {
  return f.contact?.contactOn ?? f.referral?.referredOn ?? f.trajectory?.closedOn ?? f.trajectory?.startDate;
}

/** Midday in Amsterdam on `day`: the moment a decision about that calendar day is asked at. */
const middayOn = (day: string): Date => new Date(amsterdamDateTime(day, 12));

/** Whether a decision denies because someone who speaks for the child objected (a deny consent applies). */
const objectedIn = (d: Decision): boolean => d.effect === 'deny' && d.reasons.some((r) => r.code === 'consent-denied');

/** The agreement a decision names, as the registry holds it. */
function agreementNamedIn(
  ctx: Pick<PipelineContext, 'registry'>,
  event: CanonicalEvent,
  d: Decision,
): Agreement | undefined {
  const used = d.agreement;
  return used
    ? findAgreements(ctx.registry, event.practice.agb, event.municipalityCode).find(
        (a) => a.id === used.id && a.version === used.version,
      )
    : undefined;
}

/** What the figures are made of besides the trajectory: its contacts, the referral, and the child's age. */
const OTHER_MONITORED_CLASSES = ['Encounter', 'ServiceRequest', 'Patient'] as const;

/**
 * Asks the engine about purpose `monitoring` of the child's trajectories (data class EpisodeOfCare) at `at`. An
 * objection to the purpose is one whatever data classes it names (`["Patient", "ServiceRequest"]` too: the figures
 * are made of those as well), so when the trajectories' decision finds none and some consent of the child denies
 * anything, each other class is asked for one; the decision is the trajectories' otherwise.
 */
async function decideMonitoring(
  ctx: Pick<PipelineContext, 'db' | 'registry' | 'metrics'>,
  event: CanonicalEvent,
  at: Date,
  consents: ChildConsents,
  agreements?: readonly Agreement[],
): Promise<Decision> {
  const decision = await decideForEvent(ctx, event, 'monitoring', at, ['EpisodeOfCare'], consents, agreements);
  if (objectedIn(decision) || !(await anyConsentDenies(ctx, consents))) {
    return decision;
  }
  for (const dataClass of OTHER_MONITORED_CLASSES) {
    const other = await decideForEvent(ctx, event, 'monitoring', at, [dataClass], consents, agreements);
    if (objectedIn(other)) {
      return other;
    }
  }
  return decision;
}

/**
 * The practice's agreements with the municipality that name purpose monitoring, each in the version last in force
 * by `day`, as if it were in force still (no end date): what an objection recorded after they ended is judged by.
 */
function asStillInForce(agreements: readonly Agreement[], day: string): Agreement[] {
  const last = new Map<string, Agreement>();
  for (const a of agreements) {
    const prev = last.get(a.id);
    if (
      a.status === 'active' &&
      a.validFrom <= day &&
      a.purposes.includes('monitoring') &&
      (!prev || a.version > prev.version)
    ) {
      last.set(a.id, a);
    }
  }
  return [...last.values()].map((a) => ({ ...a, validTo: undefined }));
}

/**
 * An objection recorded when no agreement with the municipality is in force any more (`today`, decided at `now`,
 * rests on none): the figures of the periods the agreements covered still hold the child's facts, and an objection
 * takes them out whether or not an agreement is still in force. The engine is asked again about `now` with the
 * agreements as they last were in force (`asStillInForce`), so the objection is honoured where they honoured one
 * (legal basis consent, or `objectionBlocks`). The decision that finds the objection, or undefined.
 */
async function objectionAfterAgreementsEnded(
  ctx: Pick<PipelineContext, 'db' | 'registry' | 'metrics'>,
  event: CanonicalEvent,
  today: Decision,
  now: Date,
  consents: ChildConsents,
): Promise<Decision | undefined> {
  if (today.agreement !== undefined || objectedIn(today) || !(await anyConsentDenies(ctx, consents))) {
    return undefined;
  }
  const ended = asStillInForce(
    findAgreements(ctx.registry, event.practice.agb, event.municipalityCode),
    amsterdamDay(now),
  );
  if (ended.length === 0) {
    return undefined;
  }
  const decision = await decideMonitoring(ctx, event, now, consents, ended);
  return objectedIn(decision) ? decision : undefined;
}

/**
 * Whether a fact may count in the aggregate figures, decided on the fact's own day (`factDayOf`), not on the day it
 * happens to be registered: the policy engine permits purpose `monitoring` on that day (a consent valid then covers
 * it, also when it has ended since), or the agreement in force then says aggregate counting needs no consent
 * (`monitoring.aggregateWithoutConsent`). An objection always wins, whenever it was recorded: one the engine finds on
 * the fact's day or today takes every fact of the child out (`objected`), also when no agreement is in force today
 * (`objectionAfterAgreementsEnded`). Not recorded as an AuditEvent of its own: nothing leaves here, and no identity enters the reporting store; what
 * leaves is the aggregate report, and every request for it is audited. What a consent takes out is audited
 * (`removeFactsAfterConsent`).
 */
async function verdictOn(
  ctx: Pick<PipelineContext, 'db' | 'registry' | 'metrics'>,
  event: CanonicalEvent,
  day: string,
  consents: ChildConsents,
): Promise<Verdict> {
  const now = new Date();
  const onItsDay = await decideMonitoring(ctx, event, middayOn(day), consents);
  // An objection recorded since the fact's day, and valid from its recording on, is found by asking about today.
  const today = day === amsterdamDay(now) ? onItsDay : await decideMonitoring(ctx, event, now, consents);
  if (
    objectedIn(onItsDay) ||
    objectedIn(today) ||
    (await objectionAfterAgreementsEnded(ctx, event, today, now, consents)) !== undefined
  ) {
    return { counts: false, objected: true, agreement: undefined };
  }
  const agreement = agreementNamedIn(ctx, event, onItsDay);
  const counts = onItsDay.effect === 'permit' || agreement?.monitoring?.aggregateWithoutConsent === true;
  return { counts, objected: false, agreement };
}

/**
 * Where the agreement names the municipality's system as system of record, the professional's trajectories are the
 * ones the municipality registers (`source` `municipality`, trajectory-events.ts). A trajectory or contact the
 * practice's HIS sends under such an agreement (the GP's own consultation, say) would count the same child a second
 * time as a new trajectory, so it is left out; a referral from the HIS is a referral of the practice and counts.
 */
function countedFacts(facts: MonitoringFacts, verdict: Verdict, source: FactSource): MonitoringFacts {
  const ofRecord = verdict.agreement ? systemOfRecordOf(verdict.agreement) : 'his';
  return source === 'his' && ofRecord === 'municipality' ? { referral: facts.referral } : facts;
}

/** Who sent the event: the practice's HIS, or the municipality's system of record (trajectory-events.ts). */
export type FactSource = 'his' | 'municipality';

/**
 * Records the event's facts when they may count. A fact that may not count is not written and takes nothing out
 * (a contact before the consent began leaves the trajectory its later contacts count), except after an objection,
 * which takes out every fact of the child. Consents have no facts of their own (`removeFactsAfterConsent`).
 */
export async function recordMonitoringFacts(
  ctx: Pick<PipelineContext, 'db' | 'registry' | 'metrics' | 'config'>,
  event: CanonicalEvent,
  consents: ChildConsents = childConsentsOnce(ctx, event),
  source: FactSource = 'his',
): Promise<'counted' | 'not-counted' | 'none'> {
  if (CONSENT_EVENTS.has(event.eventType)) {
    return 'none';
  }
  // Without an agreement that names purpose monitoring nothing can count: no consents to load, nothing to remove.
  const agreements = findAgreements(ctx.registry, event.practice.agb, event.municipalityCode);
  if (!agreements.some((a) => a.purposes.includes('monitoring'))) {
    return 'none';
  }
  const pseudonyms = getPseudonymiser(ctx.config);
  const all = monitoringFactsOf(event, pseudonyms);
  const day = factDayOf(all);
  if (day === undefined) {
    return 'none';
  }
  const verdict = await verdictOn(ctx, event, day, consents);
  const facts = countedFacts(all, verdict, source);
  if (verdict.objected) {
    // Taken out already when the objection was recorded; again here, for an event mapped while it was.
    await removeChildFacts(ctx.db, childOf(event, pseudonyms));
    // No agreement decided (the objection did): a trajectory the HIS sends where the municipality's system is the
    // system of record is no registered trajectory of the professional's (`countedFacts`), so it is not one here.
    const hisOfRecord = source === 'his' && agreements.some((a) => systemOfRecordOf(a) === 'municipality');
    await recordUncounted(ctx.db, hisOfRecord ? undefined : facts.trajectory);
    return 'not-counted';
  }
  if (!verdict.counts) {
    await recordUncounted(ctx.db, facts.trajectory);
    return 'not-counted';
  }
  if (!facts.trajectory && !facts.referral) {
    return 'not-counted';
  }
  // A contact upserts its trajectory, adds itself and recounts: one transaction, so the row lock orders
  // concurrent contacts of one trajectory. A referral or a closure alone is a single upsert.
  await (facts.contact ? ctx.db.transaction((tx) => writeFacts(tx, facts)) : groupedFactWrites(ctx.db)(facts));
  return 'counted';
}

const CONSENT_EVENTS: ReadonlySet<string> = new Set([
  'consent.recorded',
  'consent.withdrawn',
  'consent.entered-in-error',
]);

/** A child at a practice, as the reporting store knows it: by its pseudonym under the municipality's key. */
interface ReportChild {
  readonly municipality: string;
  readonly practice: string;
  readonly childPseudonym: string;
}

function childOf(event: CanonicalEvent, pseudonyms: Pseudonymiser): ReportChild {
  return {
    municipality: event.municipalityCode,
    practice: event.practice.agb,
    childPseudonym: pseudonyms.pseudonym(event.municipalityCode, `bsn/${event.patient.bsn}`),
  };
}

/**
 * After a consent event of the map stage: an objection to purpose `monitoring` (a deny consent the engine applies
 * today), or a withdrawal (or a consent voided as recorded in error) after which the child no longer passes the
 * rule its facts were counted by (no consent permits monitoring today, and the agreement needs one), takes every fact
 * of the child at the practice out of the reporting store: trajectories with their contacts and referrals, whether
 * the practice's HIS or the municipality registered them and whether their events were permitted, denied or
 * delivered. Audited in the practice's chain as a decision about purpose `monitoring` (AuthZ-Consent, stage
 * `redecide`, the consent event's inbox row), naming how many facts left. Returns that number, or undefined when the
 * consent takes nothing out.
 */
export async function removeFactsAfterConsent(
  ctx: Pick<PipelineContext, 'db' | 'registry' | 'metrics' | 'config' | 'audit'>,
  row: Pick<EventRow, 'id' | 'tenant'>,
  event: CanonicalEvent,
  consents: ChildConsents,
): Promise<number | undefined> {
  const monitored = findAgreements(ctx.registry, event.practice.agb, event.municipalityCode).filter((a) =>
    a.purposes.includes('monitoring'),
  );
  if (!CONSENT_EVENTS.has(event.eventType) || monitored.length === 0) {
    return undefined;
  }
  const now = new Date();
  const decided = await decideMonitoring(ctx, event, now, consents);
  // An objection recorded after the agreements ended takes the child out of their past periods' figures too.
  const today = (await objectionAfterAgreementsEnded(ctx, event, decided, now, consents)) ?? decided;
  const needsConsent = (a: Agreement) => a.monitoring?.aggregateWithoutConsent !== true;
  const named = agreementNamedIn(ctx, event, today);
  const uncovered =
    event.eventType !== 'consent.recorded' &&
    today.effect !== 'permit' &&
    (named ? needsConsent(named) : monitored.some(needsConsent));
  if (!objectedIn(today) && !uncovered) {
    return undefined;
  }
  const removed = await removeChildFacts(ctx.db, childOf(event, getPseudonymiser(ctx.config)));
  await ctx.audit.append(
    row.tenant,
    consentDecision({
      actor: SYSTEM_WORKER,
      permit: false,
      reasons: reasonText(today),
      patientBsn: event.patient.bsn,
      inboxId: row.id,
      consentIds: today.consentIds,
      consentVersions: today.consentVersions,
      agreement: auditedAgreement(ctx.registry, today.agreement),
      municipality: event.municipalityCode,
      purpose: 'monitoring',
      stage: 'redecide',
      consequence: { reference: 'monitoring-facts', description: removedText(removed) },
    }),
  );
  return removed.trajectories + removed.referrals;
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

function removedText(r: { trajectories: number; referrals: number }): string {
  return (
    'removed from the monitoring figures: ' +
    `${plural(r.trajectories, 'trajectory', 'trajectories')}, ${plural(r.referrals, 'referral', 'referrals')}`
  );
}

/**
 * A registered trajectory that does not count (no consent for monitoring on its day, an objection), for the
 * completeness figure: its key, practice and start date only. Not when the trajectory counts already (a contact
 * before the consent began, of a trajectory its later contacts count); a trajectory that comes to count leaves the
 * table (`upsertTrajectories`).
 */
async function recordUncounted(db: Db, t: TrajectoryFact | undefined): Promise<void> {
  if (!t) {
    return;
  }
  await db.query(
    `INSERT INTO report_uncounted_trajectory (trajectory_key, municipality, practice, start_date)
     SELECT $1, $2, $3, $4
      WHERE NOT EXISTS (SELECT 1 FROM report_trajectory WHERE trajectory_key = $1)
     ON CONFLICT (trajectory_key) DO UPDATE SET start_date = EXCLUDED.start_date`,
    [t.key, t.municipality, t.practice, t.startDate],
  );
}

/**
 * Deletes every trajectory (with its contacts) and referral of one child at one practice; answers how many. The
 * trajectories stay registered, so they move to the uncounted ones (the completeness figure), without the child.
 */
async function removeChildFacts(db: Db, c: ReportChild): Promise<{ trajectories: number; referrals: number }> {
  return db.transaction(async (tx) => {
    const params = [c.municipality, c.practice, c.childPseudonym];
    const ofChild = 'municipality = $1 AND practice = $2 AND child_pseudonym = $3';
    await tx.query(
      `DELETE FROM report_contact WHERE trajectory_key IN (SELECT trajectory_key FROM report_trajectory WHERE ${ofChild})`,
      params,
    );
    const t = await tx.query(
      `WITH gone AS (DELETE FROM report_trajectory WHERE ${ofChild}
                     RETURNING trajectory_key, municipality, practice, start_date),
            moved AS (INSERT INTO report_uncounted_trajectory (trajectory_key, municipality, practice, start_date)
                      SELECT trajectory_key, municipality, practice, start_date FROM gone
                      ON CONFLICT (trajectory_key) DO NOTHING)
       SELECT 1 FROM gone`,
      params,
    );
    const r = await tx.query(`DELETE FROM report_referral WHERE ${ofChild} RETURNING 1`, params);
    return { trajectories: t.length, referrals: r.length };
  });
}

async function writeFacts(db: Db, f: MonitoringFacts): Promise<void> {
  if (f.trajectory) {
    await upsertTrajectories(db, [f.trajectory]);
  }
  const c = f.contact;
  if (c) {
    await db.query(
      `INSERT INTO report_contact (contact_key, trajectory_key, contact_on, age_band, interventions, duration_minutes)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (contact_key) DO UPDATE SET trajectory_key = EXCLUDED.trajectory_key,
         contact_on = EXCLUDED.contact_on, age_band = EXCLUDED.age_band, interventions = EXCLUDED.interventions,
         duration_minutes = EXCLUDED.duration_minutes`,
      [c.key, c.trajectoryKey, c.contactOn, c.ageBand, [...c.interventions], c.durationMinutes ?? null],
    );
    await recount(db, c.trajectoryKey);
  }
  if (f.referral) {
    await upsertReferrals(db, [f.referral]);
  }
}

/**
 * The facts of events without a contact (a referral, a closure), written for a group of concurrent map jobs in
 * one statement per table. Two facts with the same key in one group make the upsert refuse the group; its members
 * are then written one by one (stage-batch.ts).
 */
const groupedFactWrites = perResource((db: Db) =>
  grouped<MonitoringFacts, void>(
    async (group) => {
      await upsertTrajectories(
        db,
        group.flatMap((f) => (f.trajectory ? [f.trajectory] : [])),
      );
      await upsertReferrals(
        db,
        group.flatMap((f) => (f.referral ? [f.referral] : [])),
      );
      return group.map(() => undefined);
    },
    (f) => writeFacts(db, f),
  ),
);

/** Upserts trajectories (the rows as JSON, so each keeps its own help-question array). */
async function upsertTrajectories(db: Db, ts: readonly TrajectoryFact[]): Promise<void> {
  if (ts.length === 0) {
    return;
  }
  // Counted now: no longer one of the registered trajectories that do not count (a consent given since).
  await db.query('DELETE FROM report_uncounted_trajectory WHERE trajectory_key = ANY($1::text[])', [
    ts.map((t) => t.key),
  ]);
  // The upsert locks the trajectory row, so contacts of one trajectory mapped at once recount one after another.
  await db.query(
    `INSERT INTO report_trajectory (trajectory_key, municipality, practice, child_pseudonym, age_band, start_date,
       closed_on, outcome, referrer_type, referrer_subtype, help_questions)
     SELECT key, municipality, practice, child_pseudonym, age_band, start_date, closed_on, outcome, referrer_type,
       referrer_subtype, help_questions
     FROM jsonb_to_recordset($1::jsonb) AS t(key text, municipality text, practice text, child_pseudonym text,
       age_band text, start_date date, closed_on date, outcome text, referrer_type text, referrer_subtype text,
       help_questions text[])
     ON CONFLICT (trajectory_key) DO UPDATE SET
       age_band = EXCLUDED.age_band, start_date = EXCLUDED.start_date,
       closed_on = COALESCE(EXCLUDED.closed_on, report_trajectory.closed_on),
       outcome = COALESCE(EXCLUDED.outcome, report_trajectory.outcome),
       referrer_type = COALESCE(EXCLUDED.referrer_type, report_trajectory.referrer_type),
       referrer_subtype = CASE WHEN EXCLUDED.referrer_subtype = 'unknown' THEN report_trajectory.referrer_subtype
                               ELSE EXCLUDED.referrer_subtype END,
       -- A municipality's event names the help question only where it has one: none leaves the earlier ones.
       help_questions = CASE WHEN cardinality(EXCLUDED.help_questions) = 0 THEN report_trajectory.help_questions
                             ELSE EXCLUDED.help_questions END,
       updated_at = now()`,
    [
      JSON.stringify(
        ts.map((t) => ({
          key: t.key,
          municipality: t.municipality,
          practice: t.practice,
          child_pseudonym: t.childPseudonym,
          age_band: t.ageBand,
          start_date: t.startDate,
          closed_on: t.closedOn ?? null,
          outcome: t.outcome ?? null,
          referrer_type: t.referrerType ?? null,
          referrer_subtype: t.referrerSubtype,
          help_questions: t.helpQuestions,
        })),
      ),
    ],
  );
}

async function upsertReferrals(db: Db, rs: readonly ReferralFact[]): Promise<void> {
  if (rs.length === 0) {
    return;
  }
  await db.query(
    `INSERT INTO report_referral (referral_key, municipality, practice, child_pseudonym, target, product_category,
       referrer_type, status, referred_on)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
       $8::text[], $9::date[])
     ON CONFLICT (referral_key) DO UPDATE SET status = EXCLUDED.status,
       target = COALESCE(EXCLUDED.target, report_referral.target),
       product_category = COALESCE(EXCLUDED.product_category, report_referral.product_category),
       referrer_type = COALESCE(EXCLUDED.referrer_type, report_referral.referrer_type),
       referred_on = CASE WHEN EXCLUDED.status = 'active' THEN EXCLUDED.referred_on ELSE report_referral.referred_on END,
       updated_at = now()`,
    [
      rs.map((r) => r.key),
      rs.map((r) => r.municipality),
      rs.map((r) => r.practice),
      rs.map((r) => r.childPseudonym),
      rs.map((r) => r.target ?? null),
      rs.map((r) => r.productCategory ?? null),
      rs.map((r) => r.referrerType ?? null),
      rs.map((r) => r.status),
      rs.map((r) => r.referredOn),
    ],
  );
}

/** The trajectory's contact count, first contact and interventions, from its contact rows. */
async function recount(db: Db, trajectoryKey: string): Promise<void> {
  await db.query(
    `UPDATE report_trajectory SET
       contact_count = (SELECT count(*)::int FROM report_contact WHERE trajectory_key = $1),
       first_contact_on = (SELECT min(contact_on) FROM report_contact WHERE trajectory_key = $1),
       interventions = ARRAY(SELECT DISTINCT i FROM report_contact, unnest(interventions) AS i
                             WHERE trajectory_key = $1 ORDER BY i),
       updated_at = now()
     WHERE trajectory_key = $1`,
    [trajectoryKey],
  );
}

/**
 * The day care started that a status reports, if it reports one: `care-started` always does (its `startDate`);
 * `allocated` of the earlier vocabulary does when it gives a `startDate`. Other statuses say nothing about it.
 */
function careStartOf(a: { status: ReferralStatus; startDate?: string | undefined }): string | undefined {
  return a.status === 'care-started' || a.status === 'allocated' ? a.startDate : undefined;
}

/**
 * What the municipality's status feedback adds to the figures: the day care started, for the waiting time from
 * referral to care. The latest status that reports one sets it (a corrected start replaces the earlier one, as for
 * the end-of-care check). Keyed like the referral's own row; a referral that does not count has none.
 */
export async function recordStatusFacts(
  ctx: Pick<PipelineContext, 'db' | 'config'>,
  a: { municipality: string; serviceRequestId: string; status: ReferralStatus; startDate?: string | undefined },
): Promise<void> {
  const careStartOn = careStartOf(a);
  if (!careStartOn) {
    return;
  }
  const key = getPseudonymiser(ctx.config).pseudonym(a.municipality, `ServiceRequest/${a.serviceRequestId}`);
  await ctx.db.query('UPDATE report_referral SET care_start_on = $2, updated_at = now() WHERE referral_key = $1', [
    key,
    careStartOn,
  ]);
}

/** Deletes reporting facts older than REPORT_RETENTION_DAYS: trajectories by their last date, referrals by theirs. */
export async function purgeReportFacts(db: Db, before: string): Promise<number> {
  return db.transaction(async (tx) => {
    const old = `SELECT trajectory_key FROM report_trajectory WHERE COALESCE(closed_on, start_date) < $1`;
    await tx.query(`DELETE FROM report_contact WHERE trajectory_key IN (${old})`, [before]);
    const t = await tx.query(`DELETE FROM report_trajectory WHERE COALESCE(closed_on, start_date) < $1 RETURNING 1`, [
      before,
    ]);
    const r = await tx.query(`DELETE FROM report_referral WHERE referred_on < $1 RETURNING 1`, [before]);
    const u = await tx.query(`DELETE FROM report_uncounted_trajectory WHERE start_date < $1 RETURNING 1`, [before]);
    return t.length + r.length + u.length;
  });
}

/** Runs the reporting store's retention now and then every RETENTION_INTERVAL_MS; returns a stop function. */
export function startReportRetention(ctx: Pick<PipelineContext, 'db' | 'config' | 'log'>): () => Promise<void> {
  return startPeriodic(
    ctx.config.RETENTION_INTERVAL_MS,
    async () => {
      const before = new Date(Date.now() - ctx.config.REPORT_RETENTION_DAYS * 86_400_000).toISOString().slice(0, 10);
      const n = await purgeReportFacts(ctx.db, before);
      if (n > 0) {
        ctx.log.info({ rows: n }, 'reporting facts past retention deleted');
      }
    },
    ctx.log,
    'reporting retention failed',
  );
}
