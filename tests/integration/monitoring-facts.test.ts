import type pg from 'pg';
import { purgeReportFacts } from '../../src/event/monitoring-writer';
import { buildRegistry } from '../../src/event/registry';
import {
  buildAgreement,
  buildConsentEvent,
  buildContactEvent,
  buildWithdrawalEvent,
  buildReferralEvent,
  MUNICIPALITY,
  OTHER_PRACTICE_AGB,
  PRACTICE_AGB,
} from '../helpers/builders';
import { getPseudonymiser } from '../../src/event/report-pseudonym';
import { amsterdamDay } from '../../src/kernel/dutch-time';
import { sendMapped, startAppWithClient, stopAppWithClient, type AppWithClient } from '../helpers/mapped-events';
import type { TestApp } from '../helpers/test-runtime';

/** A municipality whose only agreement with the practice (monitoring, no consent needed) ended yesterday. */
const ENDED_MUNICIPALITY = 'GM0344';
const daysAgo = (n: number): string => amsterdamDay(new Date(Date.now() - n * 86_400_000));

/**
 * Which events count in the reporting store, through the real map stage: the agreement's
 * `monitoring.aggregateWithoutConsent` against the family's consent, objections, and counting each contact once.
 */
describe('monitoring facts written at the map stage', () => {
  let app: TestApp;
  let client: pg.Client;
  let started: AppWithClient | undefined;
  const monitoring = (aggregateWithoutConsent: boolean) => ({
    aggregateWithoutConsent,
    q: 9500,
    professionalCost: { amount: 72_000, per: 'year' as const },
    k: 5,
  });

  beforeAll(async () => {
    // Both practices share data on consent; only the other practice's agreement counts aggregates without it.
    const registry = buildRegistry({
      agreements: [
        buildAgreement({ legalBasis: 'consent', monitoring: monitoring(false) }),
        buildAgreement({
          id: 'test-agreement-other',
          practice: { agb: OTHER_PRACTICE_AGB },
          legalBasis: 'consent',
          monitoring: monitoring(true),
        }),
        buildAgreement({
          id: 'test-agreement-ended',
          municipality: { code: ENDED_MUNICIPALITY, name: 'Lingewaard' },
          validTo: daysAgo(1),
          monitoring: monitoring(true),
        }),
      ],
      destinations: [],
    });
    started = await startAppWithClient(registry);
    ({ app, client } = started);
  });

  afterAll(async () => {
    await stopAppWithClient(started);
  });

  /** Sends events as one practice and waits until each has finished the map stage; answers their ids. */
  const send = (key: 'practice' | 'otherPractice', events: Record<string, unknown>[]): Promise<string[]> =>
    sendMapped({ app, client }, key, events);

  const forPractice = (event: Record<string, unknown>, agb: string): Record<string, unknown> => ({
    ...event,
    practice: { agb },
    trajectory: { ...(event.trajectory as object), startDate: '2026-10-01' },
  });

  const trajectories = async (practice: string) =>
    Number(
      (await client.query('SELECT count(*) AS n FROM report_trajectory WHERE practice = $1', [practice])).rows[0]?.n,
    );

  const consent = (
    event: Record<string, unknown>,
    decision: 'permit' | 'deny',
    period: { start: string; end?: string } = { start: '2026-01-01' },
  ) =>
    buildConsentEvent(event, {
      decision,
      givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
      purposes: ['monitoring'],
      dataClasses: ['EpisodeOfCare'],
      period,
    });

  it('counts a child without consent only where the agreement says aggregates need none', async () => {
    await send('practice', [forPractice(buildContactEvent(), PRACTICE_AGB)]);
    await send('otherPractice', [forPractice(buildContactEvent(), OTHER_PRACTICE_AGB)]);
    expect(await trajectories(PRACTICE_AGB)).toBe(0);
    expect(await trajectories(OTHER_PRACTICE_AGB)).toBe(1);
  });

  it('counts a child whose family consented to monitoring', async () => {
    const contact = forPractice(buildContactEvent(), PRACTICE_AGB);
    await send('practice', [consent(contact, 'permit'), contact]);
    expect(await trajectories(PRACTICE_AGB)).toBe(1);
  });

  it('honours an objection even where aggregates need no consent, and takes the trajectory out again', async () => {
    const contact = forPractice(buildContactEvent(), OTHER_PRACTICE_AGB);
    await send('otherPractice', [contact]);
    expect(await trajectories(OTHER_PRACTICE_AGB)).toBe(2);
    const later = {
      ...contact,
      eventId: `${String(contact.eventId)}-2`,
      contact: { ...(contact.contact as object), id: 'c2' },
    };
    await send('otherPractice', [consent(contact, 'deny'), later]);
    expect(await trajectories(OTHER_PRACTICE_AGB)).toBe(1);
  });

  it('counts a contact sent twice (a corrected record) once', async () => {
    const contact = forPractice(buildContactEvent(), OTHER_PRACTICE_AGB);
    const again = { ...contact, eventId: `${String(contact.eventId)}-again` };
    await send('otherPractice', [contact]);
    await send('otherPractice', [again]);
    const rows = await client.query<{ contact_count: number }>(
      `SELECT contact_count FROM report_trajectory WHERE practice = $1 ORDER BY updated_at DESC LIMIT 1`,
      [OTHER_PRACTICE_AGB],
    );
    expect(rows.rows[0]?.contact_count).toBe(1);
  });

  it('counts a contact denied for want of consent once the consent arrives, once however often it is decided again', async () => {
    const counts = async () => {
      const { rows } = await client.query<{ trajectories: number; contacts: number }>(
        `SELECT count(DISTINCT t.trajectory_key)::int AS trajectories, count(c.contact_key)::int AS contacts
         FROM report_trajectory t LEFT JOIN report_contact c USING (trajectory_key) WHERE t.practice = $1`,
        [PRACTICE_AGB],
      );
      return rows[0];
    };
    const before = await counts();
    const contact = forPractice(buildContactEvent(), PRACTICE_AGB);
    const [id] = await send('practice', [contact]);
    const [denied] = (
      await client.query<{ state: string; state_reason: string }>(
        'SELECT state, state_reason FROM inbox WHERE id = $1',
        [id],
      )
    ).rows;
    expect(denied).toEqual({ state: 'denied', state_reason: expect.stringMatching(/consent-missing/) });
    expect(await counts()).toEqual(before);

    // A consent to register the contact and to count it: the contact is decided again and permitted (it stays
    // denied only for want of a destination here, so the next consent decides it once more).
    const covering = {
      decision: 'permit' as const,
      givenBy: [{ kind: 'child' as const }, { kind: 'guardian' as const, guardianId: 'g1' }],
      purposes: ['contact-registration', 'monitoring'],
      dataClasses: ['Patient', 'RelatedPerson', 'EpisodeOfCare', 'Encounter'],
    };
    await send('practice', [buildConsentEvent(contact, covering)]);
    await send('practice', [buildConsentEvent(contact, covering)]);
    const decisions = await client.query<{ outcome: string }>(
      `SELECT outcome FROM audit_event WHERE tenant = $1 AND subtype = 'AuthZ-Consent' AND $2 = ANY(entities)
       ORDER BY seq`,
      [PRACTICE_AGB, `inbox/${id}`],
    );
    expect(decisions.rows.map((d) => d.outcome)).toEqual(['4', '0', '0']);
    expect(await counts()).toEqual({ trajectories: before!.trajectories + 1, contacts: before!.contacts + 1 });
  });

  /** The trajectories and referrals counted for one child at a practice (by the event's child), and their contacts. */
  const childFacts = async (event: Record<string, unknown>) => {
    const bsn = (event.child as { bsn: string }).bsn;
    const childPseudonym = getPseudonymiser(app.rt.ctx.config).pseudonym(MUNICIPALITY, `bsn/${bsn}`);
    const { rows } = await client.query<{ trajectories: number; contacts: number; referrals: number }>(
      `SELECT (SELECT count(*)::int FROM report_trajectory WHERE child_pseudonym = $1) AS trajectories,
              (SELECT count(*)::int FROM report_contact c JOIN report_trajectory t USING (trajectory_key)
                WHERE t.child_pseudonym = $1) AS contacts,
              (SELECT count(*)::int FROM report_referral WHERE child_pseudonym = $1) AS referrals`,
      [childPseudonym],
    );
    return rows[0];
  };

  /** A referral of the same child and trajectory as `contact`, made on `authoredOn`. */
  const referralOf = (contact: Record<string, unknown>, authoredOn: string): Record<string, unknown> => {
    const referral = buildReferralEvent({ practice: contact.practice, child: contact.child });
    return { ...referral, referral: { ...(referral.referral as object), authoredOn } };
  };

  it('takes out every fact of a child whose events were permitted when an objection is recorded, audited', async () => {
    const contact = forPractice(buildContactEvent(), PRACTICE_AGB);
    const covering = {
      decision: 'permit' as const,
      givenBy: [{ kind: 'child' as const }, { kind: 'guardian' as const, guardianId: 'g1' }],
      purposes: ['referral', 'contact-registration', 'monitoring'],
      dataClasses: ['Patient', 'RelatedPerson', 'ServiceRequest', 'EpisodeOfCare', 'Encounter'],
    };
    await send('practice', [buildConsentEvent(contact, covering), contact]);
    await send('practice', [referralOf(contact, '2026-11-20T10:00:00+01:00')]);
    expect(await childFacts(contact)).toEqual({ trajectories: 1, contacts: 1, referrals: 1 });

    const [objection] = await send('practice', [consent(contact, 'deny')]);
    expect(await childFacts(contact)).toEqual({ trajectories: 0, contacts: 0, referrals: 0 });
    // The consequence of the objection is in the practice's audit chain, as the decisions a consent causes are.
    const audited = await client.query<{ outcome: string; entities: string[] }>(
      `SELECT outcome, entities FROM audit_event WHERE tenant = $1 AND subtype = 'AuthZ-Consent' AND $2 = ANY(entities)`,
      [PRACTICE_AGB, `inbox/${objection}`],
    );
    expect(audited.rows).toEqual([
      { outcome: '4', entities: expect.arrayContaining([`inbox/${objection}`, 'monitoring-facts']) },
    ]);
    const description = await client.query<{ text: string }>(
      `SELECT e->>'description' AS text FROM audit_event, jsonb_array_elements(resource::jsonb->'entity') AS e
       WHERE tenant = $1 AND $2 = ANY(entities) AND e->'what'->>'reference' = 'monitoring-facts'`,
      [PRACTICE_AGB, `inbox/${objection}`],
    );
    expect(description.rows).toEqual([{ text: 'removed from the monitoring figures: 1 trajectory, 1 referral' }]);

    // Sent again, the contact does not count again.
    await send('practice', [{ ...contact, eventId: `${String(contact.eventId)}-resent` }]);
    expect(await childFacts(contact)).toEqual({ trajectories: 0, contacts: 0, referrals: 0 });
  });

  it('takes the facts out for an objection to monitoring whatever data classes it names', async () => {
    const contact = forPractice(buildContactEvent(), PRACTICE_AGB);
    await send('practice', [consent(contact, 'permit'), contact]);
    await send('practice', [referralOf(contact, '2026-11-20T10:00:00+01:00')]);
    expect(await childFacts(contact)).toEqual({ trajectories: 1, contacts: 1, referrals: 1 });
    // The mother objects to monitoring of the child and the referral, naming no EpisodeOfCare (xregress H2).
    const objection = buildConsentEvent(contact, {
      decision: 'deny',
      givenBy: [{ kind: 'guardian', guardianId: 'g1' }],
      purposes: ['monitoring'],
      dataClasses: ['Patient', 'ServiceRequest'],
      period: { start: '2026-01-01' },
    });
    await send('practice', [objection]);
    expect(await childFacts(contact)).toEqual({ trajectories: 0, contacts: 0, referrals: 0 });
  });

  it('takes out the facts of a child whose consent is withdrawn where aggregates need consent, for good', async () => {
    const contact = forPractice(buildContactEvent(), PRACTICE_AGB);
    const given = consent(contact, 'permit');
    await send('practice', [given, contact]);
    expect(await childFacts(contact)).toEqual({ trajectories: 1, contacts: 1, referrals: 0 });
    await send('practice', [buildWithdrawalEvent(given, [{ kind: 'child' }])]);
    expect(await childFacts(contact)).toEqual({ trajectories: 0, contacts: 0, referrals: 0 });
    await send('practice', [{ ...contact, eventId: `${String(contact.eventId)}-resent` }]);
    expect(await childFacts(contact)).toEqual({ trajectories: 0, contacts: 0, referrals: 0 });
  });

  it('keeps the facts of a child whose consent is withdrawn where aggregates need none', async () => {
    const contact = forPractice(buildContactEvent(), OTHER_PRACTICE_AGB);
    const given = consent(contact, 'permit');
    await send('otherPractice', [given, contact]);
    await send('otherPractice', [buildWithdrawalEvent(given, [{ kind: 'child' }])]);
    expect(await childFacts(contact)).toEqual({ trajectories: 1, contacts: 1, referrals: 0 });
  });

  it('counts a fact by the consent valid on its own day, however late it is registered', async () => {
    // The consent covered October 2026 only; it has ended by the time these are registered.
    const october = { start: '2026-10-01', end: '2026-10-31' };
    const within = forPractice(buildContactEvent({ start: '2026-10-05T10:00:00+02:00' }), PRACTICE_AGB);
    await send('practice', [consent(within, 'permit', october)]);
    await send('practice', [within]);
    expect(await childFacts(within)).toEqual({ trajectories: 1, contacts: 1, referrals: 0 });
    // A contact of another child after the consent ended does not count.
    const after = forPractice(buildContactEvent({ start: '2026-11-05T10:00:00+01:00' }), PRACTICE_AGB);
    await send('practice', [consent(after, 'permit', october)]);
    await send('practice', [after]);
    expect(await childFacts(after)).toEqual({ trajectories: 0, contacts: 0, referrals: 0 });
  });

  it('takes the facts out for an objection recorded after the agreement with the municipality ended', async () => {
    // A contact of ten days ago, while the agreement (public task, objections honoured) was in force: it counts.
    const event = buildContactEvent({ start: `${daysAgo(10)}T10:00:00+01:00` });
    const contact = {
      ...event,
      child: { ...(event.child as object), municipality: ENDED_MUNICIPALITY },
      trajectory: { ...(event.trajectory as object), startDate: daysAgo(20) },
    };
    const { bsn } = event.child as { bsn: string };
    const childPseudonym = getPseudonymiser(app.rt.ctx.config).pseudonym(ENDED_MUNICIPALITY, `bsn/${bsn}`);
    const counted = async () =>
      Number(
        (
          await client.query(
            'SELECT count(*) AS n FROM report_trajectory WHERE municipality = $1 AND child_pseudonym = $2',
            [ENDED_MUNICIPALITY, childPseudonym],
          )
        ).rows[0]?.n,
      );
    await send('practice', [contact]);
    expect(await counted()).toBe(1);
    // The agreement ended yesterday; today the child objects to monitoring. Its past figures must lose the child.
    const objection = buildConsentEvent(contact, {
      decision: 'deny',
      givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
      recipient: { municipality: ENDED_MUNICIPALITY, name: 'Lingewaard' },
      recordedAt: new Date().toISOString(),
      purposes: ['monitoring'],
      dataClasses: ['EpisodeOfCare'],
      period: { start: daysAgo(0) },
    });
    const [recorded] = await send('practice', [objection]);
    expect(await counted()).toBe(0);
    // Audited as any objection's removal is, naming the agreement it was honoured under.
    const audited = await client.query<{ entities: string[] }>(
      `SELECT entities FROM audit_event WHERE tenant = $1 AND subtype = 'AuthZ-Consent' AND $2 = ANY(entities)
         AND 'monitoring-facts' = ANY(entities)`,
      [PRACTICE_AGB, `inbox/${recorded}`],
    );
    expect(audited.rows).toHaveLength(1);
    expect(JSON.stringify(audited.rows)).toContain('test-agreement-ended');
  });

  it('deletes facts past REPORT_RETENTION_DAYS, contacts with their trajectory', async () => {
    expect(await purgeReportFacts(app.rt.ctx.db, '2026-09-30')).toBe(0);
    expect(await purgeReportFacts(app.rt.ctx.db, '2026-12-31')).toBeGreaterThan(0);
    const left = await client.query(
      'SELECT (SELECT count(*) FROM report_trajectory) + (SELECT count(*) FROM report_contact) AS n',
    );
    expect(Number(left.rows[0]?.n)).toBe(0);
  });

  it('counts a trajectory the intervention team referred under its own sub-type, as the municipality’s (COD327 01)', async () => {
    // report-xpolicy L3: the referrers of the Overbetuwe report (seed 003, "Verwijzers") include the social team's
    // intervention team; it could only be counted as the municipality.
    const contact = forPractice(buildContactEvent(), OTHER_PRACTICE_AGB);
    await send('otherPractice', [
      { ...contact, trajectory: { ...(contact.trajectory as object), referrerSubtype: 'intervention-team' } },
    ]);
    const { rows } = await client.query(
      `SELECT t.referrer_type, t.referrer_subtype FROM report_trajectory t
        WHERE t.practice = $1 AND t.referrer_subtype = 'intervention-team'`,
      [OTHER_PRACTICE_AGB],
    );
    expect(rows).toEqual([{ referrer_type: '01', referrer_subtype: 'intervention-team' }]);
  });
});
