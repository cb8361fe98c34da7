import fs from 'node:fs';
import { Redis } from 'ioredis';
import type { Bundle, Consent, Parameters } from '@medplum/fhirtypes';
import { Webhook } from 'standardwebhooks';
import {
  BSNS,
  buildAgreement,
  buildConsentEvent,
  buildReferralEvent,
  buildWithdrawalEvent,
  MUNICIPALITY,
} from '../helpers/builders';
import { openConsole } from '../helpers/console-client';
import { TEST_REDIS_URL } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';
import { contractDestination, useDeliveryApp } from '../unit/delivery/support/adapter-contract';

// A municipality told by signed webhook, and one whose iSamenleving-style system has no message for a notice.
const SECRET = `whsec_${Buffer.from('withdrawal-notices-shared-secret').toString('base64')}`;
process.env.TEST_WITHDRAWAL_WEBHOOK_SECRET = SECRET;
const WEBHOOK_MUNICIPALITY = 'GM0344';
const ISAMENLEVING_MUNICIPALITY = 'GM0202';
const RESOURCE_ID_SYSTEM = 'https://jeugdbrug.nl/fhir/NamingSystem/resource-id';
const REASON_TEXT = 'Zorgen over gedrag thuis en op school';

/** A referral of a fresh child of `municipality`. */
function referralIn(municipality: string): Record<string, unknown> {
  const r = buildReferralEvent();
  return { ...r, child: { ...(r.child as object), municipality } };
}

/** The child and its guardian g1 consent (a 14-year-old: both must) to referral data for `municipality`. */
function consentOf(referral: Record<string, unknown>, municipality: string): Record<string, unknown> {
  return buildConsentEvent(referral, {
    givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
    recipient: { municipality, name: 'Gemeente' },
  });
}

/** Every key and value under `prefix` (the test app's queues and notes), as text. */
async function redisTextUnder(prefix: string): Promise<string> {
  const redis = new Redis(TEST_REDIS_URL);
  try {
    const parts: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        parts.push(key);
        if (type === 'string') {
          parts.push((await redis.get(key)) ?? '');
        } else if (type === 'hash') {
          parts.push(JSON.stringify(await redis.hgetall(key)));
        } else if (type === 'list') {
          parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
        }
      }
    } while (cursor !== '0');
    return parts.join('\n');
  } finally {
    redis.disconnect();
  }
}

describe('withdrawal notices to municipalities that received data under a consent', () => {
  const h = useDeliveryApp({
    destination: (r) => contractDestination(r.url('/fhir'), {}),
    extraDestinations: (r) => [
      contractDestination(r.url('/hook'), {
        id: 'gm0344',
        municipality: WEBHOOK_MUNICIPALITY,
        adapter: 'webhook',
        auth: { type: 'hmac', secretEnv: 'TEST_WITHDRAWAL_WEBHOOK_SECRET' },
      }),
      contractDestination(r.url('/isam'), {
        id: 'gm0202',
        municipality: ISAMENLEVING_MUNICIPALITY,
        adapter: 'isamenleving',
      }),
    ],
    // Consent is the legal basis at GM0226 and GM0202; GM0344 shares as a public task, where an objection still blocks.
    agreement: buildAgreement({ legalBasis: 'consent' }),
    extraAgreements: [
      buildAgreement({ id: 'public-task', municipality: { code: WEBHOOK_MUNICIPALITY, name: 'Arnhem' } }),
      buildAgreement({
        id: 'isamenleving',
        legalBasis: 'consent',
        municipality: { code: ISAMENLEVING_MUNICIPALITY, name: 'Apeldoorn' },
      }),
    ],
    prepareReceiver: (r) => {
      r.webhookSecret = SECRET;
      r.webhookSignedUnder = '/hook';
    },
  });

  const deliveriesOf = (id: string) =>
    h.app.rt.ctx.db.query<{
      id: string;
      destination: string;
      state: string;
      idempotency_key: string;
      last_error: string;
    }>('SELECT * FROM delivery WHERE inbox_id = $1 ORDER BY destination', [id]);

  const auditOf = (reference: string) =>
    h.app.rt.ctx.db.query<{ type: string; subtype: string; outcome: string; agents: string[]; entities: string[] }>(
      `SELECT type, subtype, outcome, agents, entities FROM audit_event WHERE $1 = ANY(entities) ORDER BY seq`,
      [reference],
    );

  /** A referral delivered under the child's and guardian's consent; returns the events and the ServiceRequest id. */
  async function deliveredUnderConsent(municipality: string) {
    const referral = referralIn(municipality);
    const consent = consentOf(referral, municipality);
    const consentId = await h.submit(consent);
    await h.reachesState(consentId, 'completed');
    const referralId = await h.submit(referral);
    await h.reachesState(referralId, 'delivered').catch(async (e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(await h.state(referralId))}`);
    });
    return { referral, consent, consentId, referralId };
  }

  it('tells a FHIR REST municipality that a consent was withdrawn, naming the referral it received, once', async () => {
    const { referral, consent, referralId } = await deliveredUnderConsent(MUNICIPALITY);
    const sent = h.receiver.hitsFor((await h.delivery(referralId)).idempotency_key)[0]!.body as Bundle;
    const request = sent.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.resource as {
      identifier: { system: string; value: string }[];
    };
    const serviceRequestId = request.identifier.find((i) => i.system === RESOURCE_ID_SYSTEM)!.value;

    // The first attempt meets a busy receiver: the notice takes the retries every delivery takes.
    h.receiver.script = [{ kind: 'status', status: 503 }];
    const withdrawalId = await h.submit(buildWithdrawalEvent(consent, []));
    await h.reachesState(withdrawalId, 'delivered');

    const [notice, ...others] = await deliveriesOf(withdrawalId);
    expect(others).toEqual([]);
    expect(notice).toEqual(expect.objectContaining({ destination: 'gm0226', state: 'delivered' }));
    const hits = h.receiver.hitsFor(notice!.idempotency_key);
    expect(hits).toHaveLength(2);
    expect(hits[0]!.idempotencyKey).toBe(hits[1]!.idempotencyKey);
    expect(hits[1]!.path).toBe('/fhir');
    const bundle = hits[1]!.body as Bundle;
    expect(bundle.type).toBe('transaction');
    expect(bundle.entry).toHaveLength(1);
    const entry = bundle.entry![0]!;
    const told = entry.resource as Consent;
    expect(told.resourceType).toBe('Consent');
    expect(told.status).toBe('inactive');
    expect(entry.request).toEqual(expect.objectContaining({ method: 'POST', url: 'Consent' }));
    expect(told.provision?.actor?.[0]?.reference?.identifier?.value).toBe(MUNICIPALITY);
    expect(told.provision?.purpose?.map((p) => p.code)).toEqual(['referral']);
    // The referral as the municipality knows it: by jeugdbrug's resource id, and the practice's referral identifier.
    const data = told.provision?.data ?? [];
    const referralRef = data.find((d) => d.reference.reference?.startsWith('ServiceRequest'));
    expect(referralRef?.reference.reference).toBe(
      `ServiceRequest?identifier=${RESOURCE_ID_SYSTEM}|${serviceRequestId}`,
    );
    const own = (referral.referral as { id: string }).id;
    expect(referralRef?.reference.identifier?.value).toBe(own);
    expect(told.patient?.reference).toMatch(/^Patient\?identifier=/);
    // No more than needed: neither the referral's text nor any BSN.
    const raw = hits[1]!.raw;
    expect(raw).not.toContain(REASON_TEXT);
    expect(raw).not.toContain((referral.child as { bsn: string }).bsn);
    expect(raw).not.toContain(BSNS[1]);

    // The consent event's life shows the notice where deliveries are shown.
    const timeline = (await h.state(withdrawalId)) as unknown as {
      state: string;
      stateReason: string;
      history: { state: string }[];
      deliveries: { destination: string; state: string }[];
    };
    expect(timeline.history.map((s) => s.state)).toEqual(['received', 'mapped', 'decided', 'delivered']);
    expect(timeline.deliveries).toEqual([expect.objectContaining({ destination: 'gm0226', state: 'delivered' })]);

    // Audited as a disclosure of the notice to the municipality (BALP Export/disclose), about the referral's event.
    // And the referral's own life says that the municipality was told, and by which consent event.
    const referralLife = (await h.state(referralId)) as unknown as {
      withdrawalNotices: { id: string; consentEvent: string; destination: string; state: string }[];
    };
    expect(referralLife.withdrawalNotices).toEqual([
      expect.objectContaining({
        id: notice!.id,
        consentEvent: withdrawalId,
        destination: 'gm0226',
        state: 'delivered',
      }),
    ]);

    // A conditional create by its own resource id: a notice repeated (a retry, a replay) creates nothing twice.
    const noticeId = told.identifier?.find((i) => i.system === RESOURCE_ID_SYSTEM)?.value ?? '';
    expect(entry.request?.ifNoneExist).toBe(`identifier=${RESOURCE_ID_SYSTEM}|${noticeId}`);
    const audit = await auditOf(`Consent/${noticeId}`);
    expect(audit.map((a) => [a.type, a.subtype, a.outcome])).toEqual([['110106', 'disclose', '0']]);
    expect(audit[0]!.agents).toContain(`https://jeugdbrug.nl/fhir/NamingSystem/cbs-gemeentecode|${MUNICIPALITY}`);
    expect(audit[0]!.entities).toEqual(expect.arrayContaining([`ServiceRequest/${serviceRequestId}`]));
    // What it is to an auditor: a notice (a Consent) sent under the agreement the referral was disclosed under,
    // naming the referral it withdraws without disclosing it again, caused by the withdrawn consent (no legal basis).
    const bsnOfChild = (referral.child as { bsn: string }).bsn;
    const overview = (await (
      await h.app.request(`/audit/v1/overview?patient=${bsnOfChild}`, { key: 'auditor' })
    ).json()) as { entries: Record<string, unknown>[] };
    const referralDisclosure = overview.entries.find(
      (e) => e.kind === 'disclosure' && e.event === `inbox/${referralId}`,
    );
    const noticeDisclosure = overview.entries.find(
      (e) => e.kind === 'disclosure' && e.event === `inbox/${withdrawalId}`,
    );
    expect(referralDisclosure).toEqual(expect.objectContaining({ sent: 'data', refersTo: [], reasonConsents: [] }));
    expect(referralDisclosure!.agreement).toBeDefined();
    expect(noticeDisclosure).toEqual(
      expect.objectContaining({
        sent: 'withdrawal-notice',
        dataTypes: ['Consent'],
        resources: [`Consent/${noticeId}`],
        refersTo: expect.arrayContaining([`ServiceRequest/${serviceRequestId}`]),
        agreement: referralDisclosure!.agreement,
        consents: [],
        reasonConsents: [expect.any(String)],
      }),
    );
    expect(noticeDisclosure!.reasonConsents).not.toContain(noticeId);
    // The reason is cited as the version of the consent that withdrew it (the withdrawal, version 2), which reads the
    // same however the consent changes later: in the notice's audit row and in the overview.
    const [reasonId] = noticeDisclosure!.reasonConsents as string[];
    expect(audit[0]!.entities).toContain(`Consent/${reasonId}/_history/2`);
    expect(noticeDisclosure!.reasonConsentVersions).toEqual([{ id: reasonId, version: 2 }]);
    // The notice cites that version too: as a logical reference by identifier, the receiver holding none of our
    // consents (a conditional or absolute reference would fail a strict server's transaction).
    expect(told.sourceReference).toEqual({
      type: 'Consent',
      identifier: { system: 'https://jeugdbrug.nl/fhir/NamingSystem/resource-id', value: reasonId },
      display: `Consent/${reasonId}/_history/2`,
    });
    const withdrawing = (await (
      await h.app.request(`/fhir/Consent/${reasonId}/_history/2`, { key: 'auditor' })
    ).json()) as Consent;
    expect(withdrawing.status).toBe('inactive');
    // "Everything sent under this agreement" finds the notice too.
    const agreementId = (referralDisclosure!.agreement as { id: string }).id;
    const byAgreement = (await (
      await h.app.request(`/fhir/AuditEvent?entity=Agreement/${agreementId}&subtype=disclose`, { key: 'auditor' })
    ).json()) as Bundle;
    const found = (byAgreement.entry ?? []).map((x) => JSON.stringify(x.resource));
    expect(found.some((x) => x.includes(`Consent/${noticeId}`) && x.includes('withdrawal notice'))).toBe(true);
    // And the decision that the referral's data is no longer covered, on the referral's event.
    const decisions = await auditOf(`inbox/${referralId}`);
    const withdrawnDecision = decisions.find((a) => a.type === '110113' && a.outcome !== '0');
    expect(withdrawnDecision).toBeDefined();
    // Under the agreement it was disclosed under, as every other consent decision names it.
    expect(withdrawnDecision!.entities.some((e) => e.startsWith('Agreement/'))).toBe(true);

    // Neither the notice's jobs and notes in Redis nor the log lines name the child.
    const bsn = (referral.child as { bsn: string }).bsn;
    expect(fs.readFileSync(h.app.testEnv.logFile, 'utf8')).toContain('withdrawal notice');
    expect(fs.readFileSync(h.app.testEnv.logFile, 'utf8')).not.toContain(bsn);
    const redisText = await redisTextUnder(h.app.testEnv.prefix);
    expect(redisText).toContain(h.app.testEnv.prefix);
    expect(redisText).not.toContain(bsn);

    // A second consent event for the child finds nothing the municipality was not told about already.
    const again = await h.submit(buildWithdrawalEvent(consent, [{ kind: 'child' }]));
    await h.reachesState(again, 'completed');
    expect(await deliveriesOf(again)).toEqual([]);
  });

  it('tells a webhook municipality of an objection under a public task, signed, with a deny provision', async () => {
    const referral = referralIn(WEBHOOK_MUNICIPALITY);
    const referralId = await h.submit(referral);
    await h.reachesState(referralId, 'delivered');
    const objection = buildConsentEvent(referral, {
      decision: 'deny',
      givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
      recipient: { municipality: WEBHOOK_MUNICIPALITY, name: 'Arnhem' },
    });
    const objectionId = await h.submit(objection);
    await h.reachesState(objectionId, 'delivered');
    const [notice] = await deliveriesOf(objectionId);
    expect(notice?.destination).toBe('gm0344');
    const hit = h.receiver.hitsFor(notice!.idempotency_key)[0]!;
    expect(hit.path).toBe('/hook');
    expect(hit.signatureValid).toBe(true);
    expect(new Webhook(SECRET).verify(hit.raw, hit.headers)).toEqual(hit.body);
    const bundle = hit.body as Bundle;
    const status = bundle.entry![0]!.resource as Parameters;
    expect(status.parameter!.find((p) => p.name === 'topic')?.valueCanonical).toBe(
      'https://jeugdbrug.nl/fhir/SubscriptionTopic/consent.recorded',
    );
    const told = bundle.entry![1]!.resource as Consent;
    expect(told.status).toBe('active');
    expect(told.provision?.type).toBe('deny');
    expect(told.provision?.data?.some((d) => d.reference.reference?.startsWith('ServiceRequest/'))).toBe(true);
    // The objection it restates, by the version the objection wrote (its first), as the notice's audit row cites it:
    // relative, at the Bundle's base (the webhook's resources keep jeugdbrug's ids).
    const cited = told.sourceReference?.reference ?? '';
    expect(cited).toMatch(/^Consent\/[0-9a-f-]{36}\/_history\/1$/);
    expect((await auditOf(`Consent/${told.id ?? ''}`))[0]?.entities).toContain(cited);
    expect(hit.raw).not.toContain(REASON_TEXT);
    expect(hit.raw).not.toContain((referral.child as { bsn: string }).bsn);
  });

  it('says so in a dead letter when the format cannot carry a notice, without pausing the destination', async () => {
    const { consent } = await deliveredUnderConsent(ISAMENLEVING_MUNICIPALITY);
    const withdrawalId = await h.submit(buildWithdrawalEvent(consent, []));
    await h.reachesState(withdrawalId, 'dead');
    const [notice] = await deliveriesOf(withdrawalId);
    expect(notice?.destination).toBe('gm0202');
    expect(notice?.last_error).toContain('isamenleving format has no message for a withdrawal notice');
    expect(h.receiver.hitsFor(notice!.idempotency_key)).toEqual([]);
    // Where operators look for what did not go out.
    const letters = (await (await h.app.request('/admin/v1/dead-letters', { key: 'operator' })).json()) as {
      deadLetters: { id: string; inboxId: string }[];
    };
    expect(letters.deadLetters).toContainEqual(expect.objectContaining({ id: notice!.id, inboxId: withdrawalId }));
    const [health] = await h.app.rt.ctx.db.query<{ consecutive_failures: number }>(
      'SELECT consecutive_failures FROM destination_state WHERE destination = $1',
      ['gm0202'],
    );
    expect(health?.consecutive_failures ?? 0).toBe(0);
    // The practice and the auditor see that this municipality was not told.
    await waitFor('the failed notice to be audited', async () => {
      const rows = await h.app.rt.ctx.db.query<{ outcome: string; subtype: string }>(
        `SELECT outcome, subtype FROM audit_event WHERE $1 = ANY(entities) AND subtype = 'disclose'`,
        [`inbox/${withdrawalId}`],
      );
      return rows.length === 1 && rows[0]!.outcome === '8';
    });
  });

  it("refuses to replay that dead letter (409, saying why) and offers no replay in the console, with the reason in the page's language", async () => {
    const { consent } = await deliveredUnderConsent(ISAMENLEVING_MUNICIPALITY);
    const withdrawalId = await h.submit(buildWithdrawalEvent(consent, []));
    await h.reachesState(withdrawalId, 'dead');
    const [notice] = await deliveriesOf(withdrawalId);
    const replay = await h.app.request(`/admin/v1/dead-letters/${notice!.id}/replay`, {
      key: 'operator',
      method: 'POST',
    });
    expect(replay.status).toBe(409);
    expect(JSON.stringify(await replay.json())).toMatch(
      /isamenleving format has no message for a withdrawal notice.*a replay would fail the same way/,
    );
    // Nothing was revived: still dead, in the same round.
    const [after] = await h.app.rt.ctx.db.query<{ state: string; round: number }>(
      'SELECT state, round FROM delivery WHERE id = $1',
      [notice!.id],
    );
    expect(after).toEqual({ state: 'dead', round: 0 });
    // "Replay all" of the API leaves it, and says so.
    const all = await h.app.request('/admin/v1/dead-letters/replay', {
      key: 'operator',
      json: { destination: 'gm0202' },
    });
    expect(all.status).toBe(202);
    const answer = (await all.json()) as { replayed: string[]; notCarried?: string[] };
    expect(answer.replayed).not.toContain(notice!.id);
    expect(answer.notCarried).toContain(notice!.id);

    const console = await openConsole(h.app, 'operator');
    const page = await (await console.get('/console/operator/dead-letters?destination=gm0202')).text();
    expect(page).toContain('niet verstuurd: het formaat isamenleving kent geen bericht van intrekking');
    expect(page).not.toContain('isamenleving format has no message');
    expect(page).not.toContain(`/console/operator/dead-letters/${notice!.id}/replay`);
    expect(page).toContain('Opnieuw versturen zou opnieuw mislukken');
    const english = await (
      await console.get('/console/operator/dead-letters?destination=gm0202', { cookie: 'jb_lang=en' })
    ).text();
    expect(english).toContain('isamenleving format has no message for a withdrawal notice');
    expect(english).toContain('A replay would fail the same way');
    const refused = await console.post(`/console/operator/dead-letters/${notice!.id}/replay`, {});
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain('Opnieuw versturen zou opnieuw mislukken');
  });

  // "Replay all" counted these notices among what it would send, and the API's `remaining` never reached 0 while
  // one was left: a client calling again until it did looped for ever, and one whose `limit` the oldest notices
  // filled replayed nothing at all.
  it('counts only what a bulk replay sends, says how many it leaves and why, and is not held up by them', async () => {
    const { consent } = await deliveredUnderConsent(ISAMENLEVING_MUNICIPALITY);
    const withdrawalId = await h.submit(buildWithdrawalEvent(consent, []));
    await h.reachesState(withdrawalId, 'dead');
    // A referral to the same destination that the receiver refused: a dead letter a replay does send.
    const refused = referralIn(ISAMENLEVING_MUNICIPALITY);
    await h.reachesState(await h.submit(consentOf(refused, ISAMENLEVING_MUNICIPALITY)), 'completed');
    h.receiver.mode = { kind: 'status', status: 422 };
    const referralId = await h.submit(refused);
    await h.reachesState(referralId, 'dead');
    h.receiver.mode = { kind: 'ok' };
    const replayable = (await h.delivery(referralId)).id;
    const [{ n: notices } = { n: 0 }] = await h.app.rt.ctx.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM delivery d JOIN inbox i ON i.id = d.inbox_id
        WHERE d.destination = 'gm0202' AND d.state = 'dead' AND i.event_type LIKE 'consent.%'`,
    );
    expect(notices).toBeGreaterThanOrEqual(1);

    // The console offers to send again the one it will send, and says how many it leaves and why.
    const console = await openConsole(h.app, 'operator');
    const page = await (await console.get('/console/operator/dead-letters?destination=gm0202')).text();
    expect(page).toContain('Alle 1 overeenkomende opnieuw versturen');
    expect(page).toContain(
      `${notices} niet opnieuw te versturen: intrekkingsberichten aan een formaat dat er geen bericht voor kent (opnieuw versturen zou opnieuw mislukken)`,
    );
    const english = await (
      await console.get('/console/operator/dead-letters?destination=gm0202', { cookie: 'jb_lang=en' })
    ).text();
    expect(english).toContain('Replay all 1 matching');
    expect(english).toContain(
      `${notices} not to be replayed: withdrawal notices to a format that has no message for one`,
    );

    // The API's bulk replay: the oldest `limit` of what it can send, not of every dead letter (the notices are
    // older); `remaining` counts what a next call would send; what it leaves is counted with the reason.
    const all = await h.app.request('/admin/v1/dead-letters/replay', {
      key: 'operator',
      json: { destination: 'gm0202', limit: 1 },
    });
    expect(all.status).toBe(202);
    const answer = (await all.json()) as {
      replayed: string[];
      remaining: number;
      notCarried?: string[];
      skipped?: { reason: string; count: number; details: string }[];
    };
    expect(answer.replayed).toEqual([replayable]);
    expect(answer.remaining).toBe(0);
    // The ids of the oldest `limit` of them; their count says how many there are.
    expect(answer.notCarried).toHaveLength(1);
    expect(answer.skipped).toEqual([
      {
        reason: 'not-carried',
        count: notices,
        details: expect.stringMatching(/withdrawal notices to a format that has no message for one.*fail the same way/),
      },
    ]);
    await h.reachesState(referralId, 'delivered');
    // Again: nothing left to send, the notices still counted as left.
    const again = (await (
      await h.app.request('/admin/v1/dead-letters/replay', { key: 'operator', json: { destination: 'gm0202' } })
    ).json()) as typeof answer;
    expect(again).toEqual(expect.objectContaining({ replayed: [], remaining: 0 }));
    expect(again.skipped?.[0]?.count).toBe(notices);
    expect(again.notCarried).toHaveLength(notices);
    // The console offers nothing to send, and says why.
    const after = await (await console.get('/console/operator/dead-letters?destination=gm0202')).text();
    expect(after).not.toContain('overeenkomende opnieuw versturen');
    expect(after).toContain(`${notices} niet opnieuw te versturen: intrekkingsberichten`);
  });

  it('sends nothing when a withdrawal leaves what was disclosed covered, or nothing was disclosed', async () => {
    // Shared as a public task: withdrawing a consent changes nothing for what the municipality holds.
    const referral = referralIn(WEBHOOK_MUNICIPALITY);
    const consent = consentOf(referral, WEBHOOK_MUNICIPALITY);
    await h.reachesState(await h.submit(consent), 'completed');
    await h.reachesState(await h.submit(referral), 'delivered');
    const withdrawalId = await h.submit(buildWithdrawalEvent(consent, []));
    await h.reachesState(withdrawalId, 'completed');
    expect(await deliveriesOf(withdrawalId)).toEqual([]);
    // A child of whom nothing was delivered.
    const other = consentOf(referralIn(MUNICIPALITY), MUNICIPALITY);
    await h.reachesState(await h.submit(other), 'completed');
    const none = await h.submit(buildWithdrawalEvent(other, []));
    await h.reachesState(none, 'completed');
    expect(await deliveriesOf(none)).toEqual([]);
  });
});
