import path from 'node:path';
import type { Bundle, Parameters, Task } from '@medplum/fhirtypes';
import { RESOURCE_ID_SYSTEM } from '../../mappings/municipality/shared/resource-identifier';
import { resourceIds } from '../../mappings/his/shared/resource-ids';
import { addressOldReferrals, clearFinishedFeedbackAnswers } from '../../src/event/event-store';
import { reconcileOnce } from '../../src/event/reconciler';
import { purgeExpired } from '../../src/event/retention';
import { buildRegistry } from '../../src/event/registry';
import { amsterdamDay } from '../../src/kernel/dutch-time';
import { daysBetween } from '../../src/reports/referral-timeline/timeline';
import {
  buildAgreement,
  buildConsentEvent,
  buildDestination,
  buildReferralEvent,
  MUNICIPALITY,
  OTHER_PRACTICE_AGB,
  PRACTICE_AGB,
} from '../helpers/builders';
import { cleanupTestEnv, createTestEnv, startTestApp, type KeyName, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';
import { expectOverviewToShowWhatSearchFinds } from '../helpers/overview-vs-search';
import { DeliveryReceiver, type Hit } from '../helpers/delivery-receiver';

const HOOK_SECRET = 'practice-hook-secret-for-tests';
/** The municipality of the test key `otherMunicipality`. */
const OTHER_MUNICIPALITY = 'GM0344';
process.env.TEST_PRACTICE_HOOK_SECRET = HOOK_SECRET;

interface StatusView {
  id: string;
  status: string;
  serviceRequestStatus: string;
  task: Task;
  delivery: { state: string; attempts: number; lastStatus: number | null };
}

describe('feedback: a municipality’s status on a referral goes back to the practice', () => {
  let municipality: DeliveryReceiver;
  let practiceFhir: DeliveryReceiver;
  let practiceHook: DeliveryReceiver;
  let app: TestApp;
  const testEnv = createTestEnv();

  beforeAll(async () => {
    municipality = await new DeliveryReceiver().start();
    practiceFhir = await new DeliveryReceiver().start();
    practiceHook = await new DeliveryReceiver().start();
    practiceHook.webhookSecret = HOOK_SECRET;
    const configDir = path.join(testEnv.dataDir, 'config');
    const practices = [
      { agb: PRACTICE_AGB, adapter: 'fhir-rest', baseUrl: practiceFhir.url('/his/fhir') },
      {
        agb: OTHER_PRACTICE_AGB,
        adapter: 'webhook',
        baseUrl: practiceHook.url('/his/hook'),
        auth: { type: 'hmac', secretEnv: 'TEST_PRACTICE_HOOK_SECRET' },
      },
    ];
    app = await startTestApp({
      testEnv,
      env: { CONFIG_DIR: configDir },
      registry: buildRegistry({
        agreements: [
          buildAgreement(),
          buildAgreement({ id: 'other-practice', practice: { agb: OTHER_PRACTICE_AGB } }),
          buildAgreement({
            id: 'other-practice-other-municipality',
            practice: { agb: OTHER_PRACTICE_AGB },
            municipality: { code: OTHER_MUNICIPALITY, name: 'Utrecht' },
          }),
        ],
        destinations: [
          buildDestination(municipality.url('/fhir')),
          buildDestination(municipality.url('/fhir-gm0344'), { id: 'gm0344', municipality: OTHER_MUNICIPALITY }),
        ],
        practices,
      }),
    });
  });

  afterAll(async () => {
    await app.close();
    await Promise.all([municipality.stop(), practiceFhir.stop(), practiceHook.stop()]);
    await cleanupTestEnv(testEnv);
  });

  beforeEach(() => {
    for (const r of [municipality, practiceFhir, practiceHook]) {
      r.mode = { kind: 'ok' };
      r.script = [];
    }
  });

  /**
   * Submits a referral (with the practice's referral id `referralId` and for a child of `municipality` when given)
   * and waits until the municipality has it; returns its jeugdbrug id and the practice's referral id.
   */
  async function deliveredReferral(
    practice: 'practice' | 'otherPractice' = 'practice',
    given: { referralId?: string; municipality?: string; child?: unknown; reasonText?: string } = {},
  ): Promise<{ id: string; referralId: string; child: unknown }> {
    const event = referralEvent(practice, given);
    const res = await app.request('/his/v1/events', { json: event, key: practice });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    await reachesState(id, 'delivered');
    return { id, referralId: (event.referral as { id: string }).id, child: event.child };
  }

  /** A referral event of `practice`; `given.child` sends it for a child of an earlier one (a correction). */
  function referralEvent(
    practice: 'practice' | 'otherPractice',
    given: { referralId?: string; municipality?: string; child?: unknown; reasonText?: string },
  ): Record<string, unknown> {
    const base = buildReferralEvent(
      practice === 'practice' ? {} : { practice: { agb: OTHER_PRACTICE_AGB, name: 'Praktijk Zuid' } },
    );
    return {
      ...base,
      child: given.child ?? { ...(base.child as object), municipality: given.municipality ?? MUNICIPALITY },
      referral: {
        ...(base.referral as object),
        ...(given.referralId ? { id: given.referralId } : {}),
        ...(given.reasonText ? { reasonText: given.reasonText } : {}),
      },
    };
  }

  const reachesState = (id: string, state: string) =>
    waitFor(`event ${id} to be ${state}`, async () => {
      const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [id]);
      return row?.state === state;
    });

  const postStatus = (id: string, body: unknown, key: KeyName = 'municipality', headers: Record<string, string> = {}) =>
    app.request(`/municipality/v1/referrals/${id}/status`, { json: body, key, headers });

  /** The fields a 422 OperationOutcome names. */
  async function unprocessableFields(res: Response): Promise<string[]> {
    expect(res.status).toBe(422);
    const outcome = (await res.json()) as { resourceType: string; issue: { expression?: string[] }[] };
    expect(outcome.resourceType).toBe('OperationOutcome');
    return outcome.issue.flatMap((i) => i.expression ?? []);
  }

  const arrivalAt = (receiver: DeliveryReceiver, feedbackId: string): Promise<Hit> =>
    waitFor(`status update ${feedbackId} to reach the practice`, () => receiver.stored.get(`fb-${feedbackId}`));

  function entries(bundle: Bundle) {
    const task = bundle.entry!.find((e) => e.resource?.resourceType === 'Task')!;
    const patch = bundle.entry!.find((e) => e.request?.method === 'PATCH')!;
    return { task, patch, taskResource: task.resource as Task, patchValue: valueOf(patch.resource as Parameters) };
  }

  function valueOf(patch: Parameters): string | undefined {
    return patch.parameter?.[0]?.part?.find((p) => p.name === 'value')?.valueCode;
  }

  it('round trip: referral out, municipality accepts, the practice’s HIS receives the Task and the new status', async () => {
    const { id, referralId } = await deliveredReferral();
    const res = await postStatus(id, { status: 'accepted' });
    expect(res.status).toBe(202);
    const view = (await res.json()) as StatusView;
    expect(view).toEqual(expect.objectContaining({ status: 'accepted', serviceRequestStatus: 'active' }));

    const hit = await arrivalAt(practiceFhir, view.id);
    expect(hit.path).toBe('/his/fhir');
    const bundle = hit.body as Bundle;
    expect(bundle.type).toBe('transaction');
    const { task, patch, taskResource, patchValue } = entries(bundle);
    expect(task.request).toEqual({
      method: 'POST',
      url: 'Task',
      ifNoneExist: `identifier=${RESOURCE_ID_SYSTEM}|${view.id}`,
    });
    expect(taskResource.status).toBe('accepted');
    expect(taskResource.businessStatus?.coding?.[0]?.code).toBe('accepted');
    expect(taskResource.focus).toEqual({
      type: 'ServiceRequest',
      identifier: { system: `urn:agb:${PRACTICE_AGB}:referral`, value: referralId },
    });
    expect(taskResource.requester?.identifier?.value).toBe(MUNICIPALITY);
    expect(patch.request?.url).toBe(`ServiceRequest?identifier=urn:agb:${PRACTICE_AGB}:referral|${referralId}`);
    expect(patchValue).toBe('active');

    await waitFor('the update to show as delivered', async () => {
      const list = (await (
        await app.request(`/municipality/v1/referrals/${id}/status`, { key: 'municipality' })
      ).json()) as {
        statusUpdates: StatusView[];
      };
      return list.statusUpdates.find((u) => u.id === view.id)?.delivery.state === 'delivered';
    });
    // Received from the municipality (Import), decided (AuthZ-Consent) and disclosed to the practice (Export), all in
    // the practice's chain (feedback-agreement.test.ts: under the agreement the referral went there under).
    const audit = await app.rt.ctx.db.query<{ type: string; subtype: string; outcome: string; agents: string[] }>(
      `SELECT type, subtype, outcome, agents FROM audit_event WHERE tenant = $1 AND $2 = ANY(entities) ORDER BY seq`,
      [PRACTICE_AGB, `Task/${view.id}`],
    );
    // All exist by the time the update shows as delivered: the disclosure is audited before it is recorded.
    expect(audit.map((a) => [a.type, a.subtype, a.outcome])).toEqual([
      ['110107', 'receive', '0'],
      ['110113', 'AuthZ-Consent', '0'],
      ['110106', 'disclose', '0'],
    ]);
    expect(audit[0]!.agents).toContain(`https://jeugdbrug.nl/fhir/NamingSystem/cbs-gemeentecode|${MUNICIPALITY}`);
    expect(audit[1]!.agents).toContain(`http://fhir.nl/fhir/NamingSystem/agb-z|${PRACTICE_AGB}`);
    expect(audit[2]!.agents).toContain(`http://fhir.nl/fhir/NamingSystem/agb-z|${PRACTICE_AGB}`);
    // The child's overview shows the status received as well: everything a search by the child finds.
    const [{ bsn } = { bsn: '' }] = await app.rt.ctx.db.query<{ bsn: string }>(
      'SELECT patient_bsn AS bsn FROM audit_event WHERE $1 = ANY(entities)',
      [`Task/${view.id}`],
    );
    for (const key of ['auditor', 'practice', 'municipality'] as const) {
      await expectOverviewToShowWhatSearchFinds(app, bsn, key);
    }
  });

  it('tells the practice’s HIS the day each status took effect, so two accepted Tasks can be told apart', async () => {
    const { id } = await deliveredReferral();
    const sent: [Record<string, unknown>, string][] = [
      [{ status: 'received', date: '2026-11-21' }, '2026-11-21'],
      [{ status: 'accepted', date: '2026-11-23' }, '2026-11-23'],
      [{ status: 'accepted', date: '2026-11-24' }, '2026-11-24'],
      [{ status: 'accepted' }, amsterdamDay(new Date())],
    ];
    for (const [body, day] of sent) {
      const res = await postStatus(id, body);
      expect([body, res.status]).toEqual([body, 202]);
      const view = (await res.json()) as StatusView;
      const { taskResource } = entries((await arrivalAt(practiceFhir, view.id)).body as Bundle);
      const statusDate = taskResource.output?.find((o) => o.type.coding?.[0]?.code === 'status-date');
      expect([body, statusDate?.valueDate]).toEqual([body, day]);
    }
  });

  it('puts allocation details (provider, product category, start date) in Task.output', async () => {
    const { id } = await deliveredReferral();
    const res = await postStatus(id, {
      status: 'allocated',
      productCategory: '54',
      provider: { agb: '12345678', name: 'Jeugdhulp Betuwe' },
      startDate: '2026-12-01',
    });
    expect(res.status).toBe(202);
    const view = (await res.json()) as StatusView;
    const { taskResource, patchValue } = entries((await arrivalAt(practiceFhir, view.id)).body as Bundle);
    expect(taskResource.status).toBe('in-progress');
    expect(patchValue).toBe('active');
    expect(taskResource.owner).toEqual(expect.objectContaining({ display: 'Jeugdhulp Betuwe' }));
    const out = (code: string) => taskResource.output?.find((o) => o.type.coding?.[0]?.code === code);
    expect(out('product-category')?.valueCodeableConcept?.coding?.[0]?.code).toBe('54');
    expect(out('provider')?.valueReference?.identifier?.value).toBe('12345678');
    expect(out('start-date')?.valueDate).toBe('2026-12-01');
    // The start of care also reaches the reporting store, for the waiting time from referral to care.
    const counted = await app.rt.ctx.db.query<{ days: number }>(
      `SELECT care_start_on - referred_on AS days FROM report_referral WHERE care_start_on IS NOT NULL`,
    );
    expect(counted.map((r) => r.days)).toEqual([11]);
  });

  it('counts care-started, with its startDate, as the start of care in the waiting time from referral to care', async () => {
    const careStarts = async () =>
      new Map(
        (
          await app.rt.ctx.db.query<{ referral_key: string; days: number }>(
            `SELECT referral_key, care_start_on - referred_on AS days FROM report_referral
              WHERE care_start_on IS NOT NULL`,
          )
        ).map((r) => [r.referral_key, r.days]),
      );
    const before = await careStarts();
    const { id } = await deliveredReferral();
    const res = await postStatus(id, {
      status: 'care-started',
      provider: { agb: '12345678' },
      startDate: '2026-12-04',
    });
    expect(res.status).toBe(202);
    const added = [...(await careStarts())].filter(([key]) => !before.has(key)).map(([, days]) => days);
    // Referred on 2026-11-20 (the builder's authoredOn): 14 days to the start of care.
    expect(added).toEqual([14]);
  });

  it.each([
    ['rejected', 'revoked', 'rejected'],
    ['closed', 'completed', 'completed'],
  ])('maps %s to ServiceRequest %s and Task %s', async (status, srStatus, taskStatus) => {
    const { id } = await deliveredReferral();
    // A rejection carries its coded reason (required), the text beside it either way.
    const reasonCode = status === 'rejected' ? { reasonCode: 'other' } : {};
    const res = await postStatus(id, { status, reason: 'Past beter bij het wijkteam', ...reasonCode });
    expect(res.status).toBe(202);
    const view = (await res.json()) as StatusView;
    const { taskResource, patchValue } = entries((await arrivalAt(practiceFhir, view.id)).body as Bundle);
    expect(patchValue).toBe(srStatus);
    expect(taskResource.status).toBe(taskStatus);
    expect(taskResource.statusReason?.text).toBe('Past beter bij het wijkteam');
  });

  it('sends the status to a practice with a webhook endpoint as a signed notification', async () => {
    const { id } = await deliveredReferral('otherPractice');
    const view = (await (await postStatus(id, { status: 'accepted' })).json()) as StatusView;
    const hit = await arrivalAt(practiceHook, view.id);
    expect(hit.signatureValid).toBe(true);
    const bundle = hit.body as Bundle;
    expect(bundle.type).toBe('history');
    expect(bundle.entry!.map((e) => e.resource?.resourceType)).toEqual(['Parameters', 'ServiceRequest', 'Task']);
    const sr = bundle.entry![1]!.resource as { status: string; identifier: { system: string }[] };
    expect(sr.status).toBe('active');
    expect(sr.identifier[0]!.system).toBe(`urn:agb:${OTHER_PRACTICE_AGB}:referral`);
  });

  it('treats a repeated request with the same Idempotency-Key as one status update', async () => {
    const { id } = await deliveredReferral();
    const first = await postStatus(id, { status: 'accepted' }, 'municipality', { 'idempotency-key': 'gm-req-1' });
    const second = await postStatus(id, { status: 'accepted' }, 'municipality', { 'idempotency-key': 'gm-req-1' });
    expect([first.status, second.status]).toEqual([202, 200]);
    const a = (await first.json()) as StatusView;
    const b = (await second.json()) as StatusView;
    expect(b.id).toBe(a.id);
    await arrivalAt(practiceFhir, a.id);
    const count = await app.rt.ctx.db.query('SELECT 1 FROM feedback WHERE inbox_id = $1', [id]);
    expect(count).toHaveLength(1);
  });

  it('refuses an Idempotency-Key sent again with another update (422) and still answers the first for the same one', async () => {
    const { id } = await deliveredReferral();
    const key = { 'idempotency-key': 'gm-req-2' };
    const first = await postStatus(id, { status: 'accepted', date: '2026-11-23' }, 'municipality', key);
    expect(first.status).toBe(202);
    const firstId = ((await first.json()) as StatusView).id;
    for (const other of [
      { status: 'rejected', reasonCode: 'other-municipality' },
      { status: 'accepted', date: '2026-11-24' },
      { status: 'accepted' },
    ]) {
      const res = await postStatus(id, other, 'municipality', key);
      expect(await unprocessableFields(res)).toEqual(['Idempotency-Key']);
    }
    // The same update with its fields in another order is the same request.
    const again = await postStatus(id, { date: '2026-11-23', status: 'accepted' }, 'municipality', key);
    expect(again.status).toBe(200);
    expect(((await again.json()) as StatusView).id).toBe(firstId);
    const stored = await app.rt.ctx.db.query<{ status: string }>('SELECT status FROM feedback WHERE inbox_id = $1', [
      id,
    ]);
    expect(stored.map((r) => r.status)).toEqual(['accepted']);
  });

  it('makes a status update the practice refuses a dead letter that an operator replays', async () => {
    const { id } = await deliveredReferral();
    // The practice's HIS answers with the referral's child in its text, as an error page echoing a request may.
    const echoed = 'BSN 123456782 onbekend in dit HIS';
    practiceFhir.script = [
      {
        kind: 'status',
        status: 400,
        body: JSON.stringify({
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: 'not-found', diagnostics: echoed, expression: ['Task.for'] }],
        }),
      },
    ];
    const view = (await (await postStatus(id, { status: 'closed' })).json()) as StatusView;
    const listed = await waitFor('the status update to be a dead letter', async () => {
      const text = await (await app.request('/admin/v1/feedback', { key: 'operator' })).text();
      return text.includes(view.id) ? text : undefined;
    });
    const dead = (JSON.parse(listed) as { feedback: { id: string }[] }).feedback.find((f) => f.id === view.id);
    // The answer as operators see it: its issues' codes, not its text (receiver-answer.ts).
    expect(dead).toEqual(
      expect.objectContaining({
        lastStatus: 400,
        answer: {
          contentType: 'application/json',
          size: expect.any(Number),
          issues: [{ severity: 'error', code: 'not-found', expression: ['Task.for'] }],
        },
      }),
    );
    expect(listed).not.toContain('123456782');
    const [row] = await app.rt.ctx.db.query<{ row: string }>('SELECT f::text AS row FROM feedback f WHERE id = $1', [
      view.id,
    ]);
    expect(row?.row).not.toContain('123456782');
    const replay = await app.request(`/admin/v1/feedback/${view.id}/replay`, { key: 'operator', method: 'POST' });
    expect(replay.status).toBe(202);
    await arrivalAt(practiceFhir, view.id);
    // Same key on the replay: the practice's HIS can tell it is the same update.
    expect(practiceFhir.hitsFor(`fb-${view.id}`)).toHaveLength(2);
    const again = await app.request(`/admin/v1/feedback/${view.id}/replay`, { key: 'operator', method: 'POST' });
    expect(again.status).toBe(409);
  });

  // A decision (beschikking) takes up to eight weeks and the end of care months: later than the payload's 30 days.
  // Until 6 December every status after the payload retention was refused 409 "no longer held (retention)".
  it('takes a status after the payload retention removed the referral’s content, until the identity retention', async () => {
    const { id, referralId, child } = await deliveredReferral();
    const bsn = (child as { bsn: string }).bsn;
    const day = 24 * 3600_000;
    const settings = { auditRetentionDays: 100_000, inboxPayloadRetentionDays: 30, intervalMs: day };
    const contentOf = async () =>
      (
        await app.rt.ctx.db.query<{ canonical: Buffer | null; payload: Buffer | null; identity: Buffer | null }>(
          'SELECT canonical, payload, referral_identity AS identity FROM inbox WHERE id = $1',
          [id],
        )
      )[0]!;
    // 31 days on: the content goes, the identity stays (sealed, not the BSN in plain text).
    await purgeExpired(app.rt.ctx, new Date(Date.now() + 31 * day), {
      ...settings,
      referralIdentityRetentionDays: 730,
    });
    const kept = await contentOf();
    expect([kept.canonical, kept.payload]).toEqual([null, null]);
    expect(kept.identity).not.toBeNull();
    expect(kept.identity!.toString('latin1')).not.toContain(bsn);

    const res = await postStatus(id, { status: 'accepted' });
    expect(res.status).toBe(202);
    const view = (await res.json()) as StatusView;
    const { taskResource, patchValue } = entries((await arrivalAt(practiceFhir, view.id)).body as Bundle);
    expect(taskResource.focus?.identifier).toEqual({ system: `urn:agb:${PRACTICE_AGB}:referral`, value: referralId });
    expect(patchValue).toBe('active');

    // Two years on: the identity goes too, and with it the last thing a status could be sent with.
    await purgeExpired(app.rt.ctx, new Date(Date.now() + 731 * day), {
      ...settings,
      referralIdentityRetentionDays: 730,
    });
    expect((await contentOf()).identity).toBeNull();
    const late = await postStatus(id, { status: 'closed' });
    expect(late.status).toBe(409);
    expect(JSON.stringify(await late.json())).toContain('no longer held (retention)');
  });

  it("removes the practice's answer to a status update once the payload retention has passed, keeping its summary", async () => {
    const { id } = await deliveredReferral();
    const view = (await (await postStatus(id, { status: 'accepted' })).json()) as StatusView;
    await arrivalAt(practiceFhir, view.id);
    const answerOf = async () =>
      (
        await app.rt.ctx.db.query<{ state: string; sealed: Buffer | null; summary: unknown }>(
          'SELECT state, response_sealed AS sealed, response_summary AS summary FROM feedback WHERE id = $1',
          [view.id],
        )
      )[0];
    const delivered = await waitFor('the delivery to be recorded', async () => {
      const row = await answerOf();
      return row?.state === 'delivered' ? row : undefined;
    });
    expect(delivered.sealed).not.toBeNull();
    // Not yet past the retention period: kept.
    await clearFinishedFeedbackAnswers(app.rt.ctx.db, new Date(Date.now() - 30 * 24 * 3600_000), 1000);
    expect((await answerOf())?.sealed).not.toBeNull();
    await clearFinishedFeedbackAnswers(app.rt.ctx.db, new Date(Date.now() + 1000), 1000);
    expect(await answerOf()).toEqual({
      state: 'delivered',
      sealed: null,
      summary: { contentType: 'application/json', size: expect.any(Number) },
    });
  });

  describe("a municipality's free-text reason", () => {
    const REASON = 'Zoelientje is al bekend bij Veilig Thuis (REASON-SECRET)';
    /** The whole stored row as text: the reason must be in none of its columns in readable form. */
    const storedRowText = async (id: string) =>
      (
        await app.rt.ctx.db.query<{ row: string }>('SELECT row_to_json(f)::text AS row FROM feedback f WHERE id = $1', [
          id,
        ])
      )[0]?.row ?? '';
    const statusesOf = async (referral: string) =>
      (
        (await (
          await app.request(`/municipality/v1/referrals/${referral}/status`, { key: 'municipality' })
        ).json()) as {
          statusUpdates: StatusView[];
        }
      ).statusUpdates;

    it('is stored encrypted, shown to the municipality and delivered to the practice as sent', async () => {
      const { id } = await deliveredReferral();
      const res = await postStatus(id, { status: 'rejected', reasonCode: 'other', reason: REASON });
      expect(res.status).toBe(202);
      const view = (await res.json()) as StatusView;
      expect(view.task.statusReason?.text).toBe(REASON);
      const { taskResource } = entries((await arrivalAt(practiceFhir, view.id)).body as Bundle);
      expect(taskResource.statusReason?.text).toBe(REASON);
      expect(await storedRowText(view.id)).not.toContain('REASON-SECRET');
      expect((await statusesOf(id)).map((u) => u.task.statusReason?.text)).toEqual([REASON]);
    });

    it('goes with the payload retention once the delivery ended, keeping the reason code', async () => {
      const { id } = await deliveredReferral();
      const view = (await (
        await postStatus(id, { status: 'rejected', reasonCode: 'other', reason: REASON })
      ).json()) as StatusView;
      await arrivalAt(practiceFhir, view.id);
      await waitFor('the delivery to be recorded', async () => {
        const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM feedback WHERE id = $1', [
          view.id,
        ]);
        return row?.state === 'delivered';
      });
      await clearFinishedFeedbackAnswers(app.rt.ctx.db, new Date(Date.now() - 30 * 24 * 3600_000), 1000);
      expect((await statusesOf(id))[0]?.task.statusReason?.text).toBe(REASON);
      await clearFinishedFeedbackAnswers(app.rt.ctx.db, new Date(Date.now() + 1000), 1000);
      const [kept] = await statusesOf(id);
      expect(kept?.task.statusReason?.text).toBeUndefined();
      expect(kept?.task.statusReason?.coding?.[0]?.code).toBe('other');
    });

    it('written in plaintext by an older release is shown, and sealed by the next reconciler round', async () => {
      const { id } = await deliveredReferral();
      const view = (await (await postStatus(id, { status: 'rejected', reasonCode: 'other' })).json()) as StatusView;
      await arrivalAt(practiceFhir, view.id);
      // As the release before stored it: the text inside the Task's JSON.
      await app.rt.ctx.db.query(
        `UPDATE feedback SET task = jsonb_set(task, '{statusReason,text}', to_jsonb($2::text)) WHERE id = $1`,
        [view.id, REASON],
      );
      expect((await statusesOf(id))[0]?.task.statusReason?.text).toBe(REASON);
      await reconcileOnce(app.rt.ctx);
      expect(await storedRowText(view.id)).not.toContain('REASON-SECRET');
      expect((await statusesOf(id))[0]?.task.statusReason?.text).toBe(REASON);
    });

    it('written in plaintext and never sealed still goes with the payload retention', async () => {
      const { id } = await deliveredReferral();
      const view = (await (await postStatus(id, { status: 'rejected', reasonCode: 'other' })).json()) as StatusView;
      await arrivalAt(practiceFhir, view.id);
      await waitFor('the delivery to be recorded', async () => {
        const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM feedback WHERE id = $1', [
          view.id,
        ]);
        return row?.state === 'delivered';
      });
      await app.rt.ctx.db.query(
        `UPDATE feedback SET task = jsonb_set(task, '{statusReason,text}', to_jsonb($2::text)) WHERE id = $1`,
        [view.id, REASON],
      );
      await clearFinishedFeedbackAnswers(app.rt.ctx.db, new Date(Date.now() + 1000), 1000);
      expect(await storedRowText(view.id)).not.toContain('REASON-SECRET');
    });
  });

  describe('a referral identifier that more than one practice sent', () => {
    let seq = 0;
    const sharedId = () => `r-shared-${Date.now().toString(36)}-${++seq}`;
    const systemOf = (agb: string) => `urn:agb:${agb}:referral`;
    const byIdentifier = (system: string | undefined, value: string) =>
      encodeURIComponent(system ? `${system}|${value}` : value);

    async function conflictOf(res: Response): Promise<{ expression: string[]; text: string }> {
      expect(res.status).toBe(409);
      const outcome = (await res.json()) as {
        resourceType: string;
        issue: { expression?: string[]; details?: { text?: string } }[];
      };
      expect(outcome.resourceType).toBe('OperationOutcome');
      return { expression: outcome.issue[0]?.expression ?? [], text: outcome.issue[0]?.details?.text ?? '' };
    }

    it('answers 409 to a bare value, naming each practice’s system|value, and records nothing', async () => {
      const referralId = sharedId();
      const ours = await deliveredReferral('practice', { referralId });
      const theirs = await deliveredReferral('otherPractice', { referralId });

      const post = await conflictOf(await postStatus(byIdentifier(undefined, referralId), { status: 'accepted' }));
      expect(post.expression).toEqual(['identifier']);
      expect(post.text).toContain(`${systemOf(PRACTICE_AGB)}|${referralId}`);
      expect(post.text).toContain(`${systemOf(OTHER_PRACTICE_AGB)}|${referralId}`);
      const get = await app.request(`/municipality/v1/referrals/${byIdentifier(undefined, referralId)}/status`, {
        key: 'municipality',
      });
      expect((await conflictOf(get)).expression).toEqual(['identifier']);
      const stored = await app.rt.ctx.db.query('SELECT 1 FROM feedback WHERE inbox_id = ANY($1)', [
        [ours.id, theirs.id],
      ]);
      expect(stored).toHaveLength(0);
    });

    it('answers 409 to a Task search by a bare value two practices sent, as the status routes do', async () => {
      const referralId = sharedId();
      await deliveredReferral('practice', { referralId });
      await deliveredReferral('otherPractice', { referralId });
      const bare = await app.request(`/fhir/Task?focus:identifier=${encodeURIComponent(referralId)}`, {
        key: 'municipality',
      });
      const conflict = await conflictOf(bare);
      expect(conflict.expression).toEqual(['focus:identifier']);
      expect(conflict.text).toContain(`${systemOf(PRACTICE_AGB)}|${referralId}`);
      // system|value names one practice's referral: a searchset.
      const named = await app.request(
        `/fhir/Task?focus:identifier=${byIdentifier(systemOf(PRACTICE_AGB), referralId)}`,
        { key: 'municipality' },
      );
      expect(named.status).toBe(200);
    });

    it('records the status on exactly the practice that system|value names', async () => {
      const referralId = sharedId();
      const ours = await deliveredReferral('practice', { referralId });
      const theirs = await deliveredReferral('otherPractice', { referralId });
      const toOurs = await postStatus(byIdentifier(systemOf(PRACTICE_AGB), referralId), { status: 'accepted' });
      expect(toOurs.status).toBe(202);
      expect(((await toOurs.json()) as { referral: string }).referral).toBe(ours.id);
      const toTheirs = await postStatus(byIdentifier(systemOf(OTHER_PRACTICE_AGB), referralId), {
        status: 'rejected',
        reasonCode: 'other-municipality',
      });
      expect(toTheirs.status).toBe(202);
      expect(((await toTheirs.json()) as { referral: string }).referral).toBe(theirs.id);
      const list = await app.request(
        `/municipality/v1/referrals/${byIdentifier(systemOf(PRACTICE_AGB), referralId)}/status`,
        { key: 'municipality' },
      );
      const view = (await list.json()) as { referral: string; statusUpdates: StatusView[] };
      expect([view.referral, view.statusUpdates.map((u) => u.status)]).toEqual([ours.id, ['accepted']]);
    });

    it('keeps taking the newest event when one practice sent the referral more than once', async () => {
      const referralId = sharedId();
      const { child } = await deliveredReferral('practice', { referralId });
      const resent = await deliveredReferral('practice', { referralId, child });
      const res = await postStatus(byIdentifier(undefined, referralId), { status: 'accepted' });
      expect(res.status).toBe(202);
      expect(((await res.json()) as { referral: string }).referral).toBe(resent.id);
    });

    it('counts only the referrals delivered to the caller’s municipality, and all of them for an operator', async () => {
      const referralId = sharedId();
      const ours = await deliveredReferral('practice', { referralId });
      const utrecht = await deliveredReferral('otherPractice', { referralId, municipality: OTHER_MUNICIPALITY });
      const bare = byIdentifier(undefined, referralId);
      const mine = await postStatus(bare, { status: 'received' });
      expect(mine.status).toBe(202);
      expect(((await mine.json()) as { referral: string }).referral).toBe(ours.id);
      const theirs = await postStatus(bare, { status: 'received' }, 'otherMunicipality');
      expect(theirs.status).toBe(202);
      expect(((await theirs.json()) as { referral: string }).referral).toBe(utrecht.id);
      // An operator sees both municipalities' referrals, so for it the bare value names two practices. (It reads the
      // status; since 6 December only a municipality may post one.)
      const read = await app.request(`/municipality/v1/referrals/${bare}/status`, { key: 'operator' });
      expect((await conflictOf(read)).text).toContain(`${systemOf(OTHER_PRACTICE_AGB)}|${referralId}`);
    });
  });

  it("answers an operator scoped to one practice 404 for another practice's referral statuses, the refusal on record", async () => {
    const ours = await deliveredReferral('practice');
    const theirs = await deliveredReferral('otherPractice');
    // otherOperator: practice OTHER_PRACTICE_AGB only, every municipality.
    const refused = await app.request(`/municipality/v1/referrals/${ours.id}/status`, { key: 'otherOperator' });
    expect(refused.status).toBe(404);
    const byIdentifierOfOurs = await app.request(
      `/municipality/v1/referrals/${encodeURIComponent(`urn:agb:${PRACTICE_AGB}:referral|${ours.referralId}`)}/status`,
      { key: 'otherOperator' },
    );
    expect(byIdentifierOfOurs.status).toBe(404);
    const own = await app.request(`/municipality/v1/referrals/${theirs.id}/status`, { key: 'otherOperator' });
    expect(own.status).toBe(200);
    await app.rt.ctx.audit.flush();
    const refusals = await app.rt.ctx.db.query(
      `SELECT 1 FROM audit_event WHERE tenant = $1 AND outcome = '4' AND entities @> ARRAY[$2]`,
      [PRACTICE_AGB, `inbox/${ours.id}`],
    );
    expect(refusals.length).toBeGreaterThan(0);
  });

  it('answers 409 on a referral that has not reached the municipality yet', async () => {
    municipality.mode = { kind: 'status', status: 503 };
    const res = await app.request('/his/v1/events', { json: buildReferralEvent() });
    const id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    // 409 once it is on its way to the municipality's destination (a pending delivery): it will arrive.
    await waitFor('the delivery to be pending', async () => {
      const rows = await app.rt.ctx.db.query<{ attempts: number }>(
        `SELECT attempts FROM delivery WHERE inbox_id = $1 AND state = 'pending'`,
        [id],
      );
      return (rows[0]?.attempts ?? 0) > 0;
    });
    expect((await postStatus(id, { status: 'accepted' })).status).toBe(409);
    municipality.mode = { kind: 'ok' };
  });

  it('answers 409 to a status on a referral whose cancellation reached the municipality, by either way of naming it', async () => {
    const { id, referralId, child } = await deliveredReferral();
    expect((await postStatus(id, { status: 'received' })).status).toBe(202);
    const cancel = buildReferralEvent({ eventType: 'referral.cancelled', child, referral: { id: referralId } });
    const res = await app.request('/his/v1/events', { json: cancel });
    const cancelId = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    await waitFor('the cancellation to reach the municipality', async () => {
      const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [cancelId]);
      return row?.state === 'delivered';
    });
    for (const key of [id, referralId, `urn:agb:${PRACTICE_AGB}:referral|${referralId}`]) {
      const refused = await postStatus(encodeURIComponent(key), { status: 'accepted' });
      expect(refused.status).toBe(409);
      expect(JSON.stringify(await refused.json())).toContain('cancelled');
    }
    // What was sent before the cancellation can still be read.
    const read = await app.request(`/municipality/v1/referrals/${id}/status`, { key: 'municipality' });
    expect(read.status).toBe(200);
    // The practice sending the referral again opens it again, with a history of its own: the status sent before the
    // cancellation is not the current one, so the same status on the same day is new, not a repeat.
    const { id: again } = await deliveredReferral('practice', { referralId, child });
    const reopened = await app.request(`/municipality/v1/referrals/${id}/status`, { key: 'municipality' });
    expect(((await reopened.json()) as { timeline: { current: string | null } }).timeline.current).toBeNull();
    expect((await postStatus(again, { status: 'received' })).status).toBe(202);
    expect((await postStatus(encodeURIComponent(referralId), { status: 'accepted' })).status).toBe(202);
  });

  it('refuses other municipalities, practices, unknown referrals and events that are not referrals', async () => {
    const { id } = await deliveredReferral();
    // Another municipality is not told that the referral exists: the same answer as for an unknown one.
    const elsewhere = await postStatus(id, { status: 'accepted' }, 'otherMunicipality');
    expect(elsewhere.status).toBe(404);
    expect(((await elsewhere.json()) as { issue: { expression?: string[] }[] }).issue[0]?.expression).toEqual([
      'identifier',
    ]);
    expect((await postStatus(id, { status: 'accepted' }, 'practice')).status).toBe(403);
    expect((await postStatus('00000000-0000-4000-8000-000000000000', { status: 'accepted' })).status).toBe(404);
    expect((await postStatus('not-an-id', { status: 'accepted' })).status).toBe(404);
    const cancel = buildReferralEvent({ eventType: 'referral.cancelled', referral: { id: 'ref-x' } });
    const cancelRes = await app.request('/his/v1/events', { json: cancel });
    const cancelId = ((await cancelRes.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    expect((await postStatus(cancelId, { status: 'accepted' })).status).toBe(404);
  });

  it.each([
    [{ status: 'approved' }, 'status'],
    [{ status: 'allocated', provider: { agb: '123', name: 'X' } }, 'provider.agb'],
    [{ status: 'allocated', provider: {} }, 'provider.name'],
    [{ status: 'allocated', productCategory: '99' }, 'productCategory'],
    [{ status: 'allocated', startDate: '2026-02-30' }, 'startDate'],
    [{ status: 'accepted', colour: 'blue' }, 'colour'],
    // A rejection reaches the practice as the answer to its referral: never without the reason, which cannot be
    // given later (nothing but closed follows a rejection).
    [{ status: 'rejected', date: '2026-11-23' }, 'reasonCode'],
    [{ status: 'rejected', reason: 'Past beter bij het wijkteam' }, 'reasonCode'],
  ])('answers 422 naming the field for %j', async (body, field) => {
    const { id } = await deliveredReferral();
    expect(await unprocessableFields(await postStatus(id, body))).toContain(field);
  });

  describe('a referral, over its corrections and by every name the municipality received', () => {
    const systemOf = (agb: string) => `urn:agb:${agb}:referral`;
    const timelineOf = async (key: string) => {
      const res = await app.request(`/municipality/v1/referrals/${encodeURIComponent(key)}/status`, {
        key: 'municipality',
      });
      expect(res.status).toBe(200);
      return (await res.json()) as {
        statusUpdates: StatusView[];
        timeline: { current: string | null; steps: { status: string }[] };
      };
    };

    it('keeps the status history of a referral the practice corrected, and a closed referral stays closed', async () => {
      const { id, referralId, child } = await deliveredReferral();
      expect((await postStatus(id, { status: 'accepted', date: '2026-11-23' })).status).toBe(202);
      // The correction the product's own 409 asks for: a new event id, the same referral id, for the same child.
      const corrected = await deliveredReferral('practice', { referralId, child, reasonText: 'Aangevuld verslag' });
      expect((await postStatus(id, { status: 'closed', date: '2026-11-24' })).status).toBe(202);
      const named = `${systemOf(PRACTICE_AGB)}|${referralId}`;
      for (const key of [named, referralId, id, corrected.id]) {
        const reopened = await postStatus(encodeURIComponent(key), { status: 'accepted', date: '2026-11-25' });
        expect(reopened.status).toBe(409);
        expect(JSON.stringify(await reopened.json())).toContain('current status is closed');
      }
      for (const key of [named, corrected.id, id]) {
        const view = await timelineOf(key);
        expect(view.timeline.steps.map((s) => s.status)).toEqual(['accepted', 'closed']);
        expect(view.timeline.current).toBe('closed');
        expect(view.statusUpdates.map((u) => u.status)).toEqual(['accepted', 'closed']);
      }
    });

    it('names the referral by its current event throughout a status answer, and each update by its own event', async () => {
      const { id, referralId, child } = await deliveredReferral();
      expect((await postStatus(id, { status: 'accepted' })).status).toBe(202);
      const corrected = await deliveredReferral('practice', { referralId, child, reasonText: 'Aangevuld verslag' });
      expect((await postStatus(id, { status: 'care-ended', endDate: '2026-11-24' })).status).toBe(202);
      const view = (await timelineOf(referralId)) as unknown as {
        referral: string;
        statusUpdates: { status: string; referral: string; recordedOn: string }[];
      };
      expect(view.referral).toBe(corrected.id);
      expect(view.statusUpdates.map((u) => [u.status, u.referral, u.recordedOn])).toEqual([
        ['accepted', corrected.id, id],
        ['care-ended', corrected.id, corrected.id],
      ]);
    });

    it.each([
      ['closed', [{ status: 'accepted' }, { status: 'closed', date: '2026-11-24' }], 'completed'],
      ['rejected', [{ status: 'rejected', reasonCode: 'other-municipality', date: '2026-11-24' }], 'revoked'],
      [
        'care-ended',
        [{ status: 'accepted' }, { status: 'care-ended', endDate: '2026-11-24', date: '2026-11-24' }],
        'completed',
      ],
    ])(
      'refuses a correction of a referral the municipality ended (%s), storing nothing, until the practice cancels it',
      async (ended, statuses, serviceRequestStatus) => {
        const first = referralEvent('practice', {});
        const firstRes = await app.request('/his/v1/events', { json: first });
        const id = ((await firstRes.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
        await reachesState(id, 'delivered');
        for (const body of statuses) {
          const res = await postStatus(id, body);
          expect([body.status, res.status]).toEqual([body.status, 202]);
        }
        const view = await timelineOf(id);
        expect(view.statusUpdates.at(-1)?.serviceRequestStatus).toBe(serviceRequestStatus);
        const referralId = (first.referral as { id: string }).id;
        const correction = referralEvent('practice', { referralId, child: first.child, reasonText: 'Aangevuld' });
        const res = await app.request('/his/v1/events', { json: correction });
        expect(res.status).toBe(409);
        const outcome = (await res.json()) as {
          issue: { code: string; expression: string[]; details: { text: string } }[];
        };
        expect(outcome.issue[0]).toEqual(expect.objectContaining({ code: 'conflict', expression: ['referral.id'] }));
        const text = outcome.issue[0]!.details.text;
        for (const part of [referralId, ended, '2026-11-24', 'referral id of its own']) {
          expect(text).toContain(part);
        }
        const stored = await app.rt.ctx.db.query('SELECT 1 FROM inbox WHERE tenant = $1 AND source_event_id = $2', [
          PRACTICE_AGB,
          correction.eventId,
        ]);
        expect(stored).toHaveLength(0);
        // In a batch only that event is refused, at its place; the referral's first event sent again is a duplicate.
        const batch = await app.request('/his/v1/events', { json: [buildReferralEvent(), correction, first] });
        const receipts = ((await batch.json()) as { receipts: { status: string; outcome?: unknown }[] }).receipts;
        expect(receipts.map((r) => r.status)).toEqual(['accepted', 'rejected', 'duplicate']);
        expect(JSON.stringify(receipts[1]!.outcome)).toContain('"[1].referral.id"');
        // Once the practice's cancellation reached the municipality, sending the referral again opens it anew.
        const cancel = buildReferralEvent({
          eventType: 'referral.cancelled',
          child: first.child,
          referral: { id: referralId },
        });
        const cancelRes = await app.request('/his/v1/events', { json: cancel });
        await reachesState(((await cancelRes.json()) as { receipts: { id: string }[] }).receipts[0]!.id, 'delivered');
        const again = await app.request('/his/v1/events', { json: correction });
        expect(again.status).toBe(202);
      },
    );

    it('answers 404, as for an unknown id, for a referral never delivered to the caller’s municipality', async () => {
      // Delivered to another municipality.
      const utrecht = await deliveredReferral('otherPractice', { municipality: OTHER_MUNICIPALITY });
      // Denied: the child objects to the referral, so it is never sent.
      const denied = referralEvent('practice', {});
      const objection = buildConsentEvent(denied, { decision: 'deny', givenBy: [{ kind: 'child' }] });
      expect((await app.request('/his/v1/events', { json: objection })).status).toBe(202);
      const deniedRes = await app.request('/his/v1/events', { json: denied });
      const deniedId = ((await deniedRes.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
      await reachesState(deniedId, 'denied');
      const unknown = await postStatus('no-such-referral', { status: 'accepted' });
      expect(unknown.status).toBe(404);
      const unknownBody = await unknown.json();
      for (const key of [
        utrecht.id,
        utrecht.referralId,
        `${systemOf(OTHER_PRACTICE_AGB)}|${utrecht.referralId}`,
        deniedId,
        (denied.referral as { id: string }).id,
      ]) {
        const post = await postStatus(encodeURIComponent(key), { status: 'accepted' });
        expect([key, post.status]).toEqual([key, 404]);
        expect(await post.json()).toEqual(unknownBody);
        const get = await app.request(`/municipality/v1/referrals/${encodeURIComponent(key)}/status`, {
          key: 'municipality',
        });
        expect([key, get.status]).toEqual([key, 404]);
      }
      // Its own municipality, and an operator, still reach the referral delivered to Utrecht.
      expect((await postStatus(utrecht.id, { status: 'received' }, 'otherMunicipality')).status).toBe(202);
    });

    it('addresses a referral whose id contains a bar, by its value and by system|value', async () => {
      const { referralId } = await deliveredReferral('practice', { referralId: `R|13|${Date.now().toString(36)}` });
      const bare = await postStatus(encodeURIComponent(referralId), { status: 'received' });
      expect(bare.status).toBe(202);
      const named = `${systemOf(PRACTICE_AGB)}|${referralId}`;
      expect((await postStatus(encodeURIComponent(named), { status: 'accepted' })).status).toBe(202);
      expect((await timelineOf(named)).timeline.current).toBe('accepted');
    });

    it('addresses a referral by the ServiceRequest id each destination format carries', async () => {
      const { id, referralId } = await deliveredReferral();
      const serviceRequestId = resourceIds.serviceRequest(PRACTICE_AGB, referralId);
      // As fhir-rest's resource-id identifier, the webhook's focus (and its fullUrl), iSamenleving's referentie.
      const keys = [
        `${RESOURCE_ID_SYSTEM}|${serviceRequestId}`,
        `ServiceRequest/${serviceRequestId}`,
        `https://jeugdbrug.nl/fhir/ServiceRequest/${serviceRequestId}`,
        serviceRequestId,
      ];
      const statuses = ['received', 'accepted', 'decision-issued', 'closed'];
      for (const [i, key] of keys.entries()) {
        const body =
          statuses[i] === 'decision-issued'
            ? {
                status: 'decision-issued',
                decision: { number: 'B-7', date: '2026-11-26', productCategory: '45', period: { start: '2026-12-01' } },
              }
            : { status: statuses[i] };
        const res = await postStatus(encodeURIComponent(key), body);
        expect([key, res.status]).toEqual([key, 202]);
        expect(((await res.json()) as { referral: string }).referral).toBe(id);
      }
      // The short form the README and OpenAPI write, `resource-id|<id>`, names it as well (encoded or not).
      for (const key of [encodeURIComponent(`resource-id|${serviceRequestId}`), `resource-id|${serviceRequestId}`]) {
        const read = await app.request(`/municipality/v1/referrals/${key}/status`, { key: 'municipality' });
        expect([key, read.status]).toEqual([key, 200]);
        expect(((await read.json()) as { referral: string }).referral).toBe(id);
      }
      // Another municipality learns nothing by it either.
      expect((await postStatus(serviceRequestId, { status: 'closed' }, 'otherMunicipality')).status).toBe(404);
    });

    it('addresses by its ServiceRequest id a referral an older release stored after migration 024 (reconciler round)', async () => {
      // An API process of the release before 024, still running in a rolling window, stores the identifier without
      // the ServiceRequest id, the child's id and the referral id's owner row: as this test leaves it.
      const { id, referralId } = await deliveredReferral();
      const { db } = app.rt.ctx;
      await db.query(
        'UPDATE referral_identifier SET service_request_id = NULL, patient_id = NULL WHERE inbox_id = $1',
        [id],
      );
      await db.query(
        `DELETE FROM referral_owner o USING referral_identifier r
          WHERE r.inbox_id = $1 AND o.tenant = r.tenant AND o.system = r.system AND o.value = r.value`,
        [id],
      );
      const serviceRequestId = resourceIds.serviceRequest(PRACTICE_AGB, referralId);
      const key = encodeURIComponent(`ServiceRequest/${serviceRequestId}`);
      expect((await postStatus(key, { status: 'received' })).status).toBe(404);

      await reconcileOnce(app.rt.ctx);
      const res = await postStatus(key, { status: 'received' });
      expect(res.status).toBe(202);
      expect(((await res.json()) as { referral: string }).referral).toBe(id);
      const owners = await db.query(
        `SELECT o.patient_id FROM referral_owner o JOIN referral_identifier r
           ON o.tenant = r.tenant AND o.system = r.system AND o.value = r.value WHERE r.inbox_id = $1`,
        [id],
      );
      expect(owners).toEqual([{ patient_id: null }]);
      // Nothing left to fill: the next round, and every start-up, finds nothing.
      expect(await addressOldReferrals(db)).toBe(0);
    });

    it('refuses a referral id the practice used before for another child (409 at referral.id), keeping the first', async () => {
      const { id, referralId } = await deliveredReferral();
      const reused = referralEvent('practice', { referralId });
      const res = await app.request('/his/v1/events', { json: reused });
      expect(res.status).toBe(409);
      const outcome = (await res.json()) as { issue: { code: string; expression: string[] }[] };
      expect(outcome.issue[0]).toEqual(expect.objectContaining({ code: 'conflict', expression: ['referral.id'] }));
      const stored = await app.rt.ctx.db.query('SELECT 1 FROM inbox WHERE tenant = $1 AND source_event_id = $2', [
        PRACTICE_AGB,
        reused.eventId,
      ]);
      expect(stored).toHaveLength(0);
      // In a batch only that event is refused; the status route still names the first child's referral.
      const batch = await app.request('/his/v1/events', { json: [buildReferralEvent(), reused] });
      expect(batch.status).toBe(202);
      const receipts = ((await batch.json()) as { receipts: { status: string; outcome?: Record<string, unknown> }[] })
        .receipts;
      expect(receipts.map((r) => r.status)).toEqual(['accepted', 'rejected']);
      expect(JSON.stringify(receipts[1]!.outcome)).toContain('"[1].referral.id"');
      const answer = await postStatus(encodeURIComponent(referralId), { status: 'received' });
      expect(((await answer.json()) as { referral: string }).referral).toBe(id);
    });

    it('answers the current status sent again for the same day with 200 and the update recorded, sending nothing', async () => {
      const { id } = await deliveredReferral();
      const first = await postStatus(id, { status: 'accepted' });
      expect(first.status).toBe(202);
      const recorded = (await first.json()) as StatusView;
      const today = amsterdamDay(new Date());
      for (const again of [{ status: 'accepted' }, { status: 'accepted', date: today }]) {
        const res = await postStatus(id, again);
        expect(res.status).toBe(200);
        expect(((await res.json()) as StatusView).id).toBe(recorded.id);
      }
      // Another day, or other details on the same day, is a new update.
      const care = { status: 'care-started', provider: { agb: '12345678' }, startDate: '2026-11-28' };
      expect((await postStatus(id, care)).status).toBe(202);
      expect((await postStatus(id, care)).status).toBe(200);
      expect((await postStatus(id, { ...care, provider: { agb: '87654321' } })).status).toBe(202);
      const stored = await app.rt.ctx.db.query<{ status: string }>(
        'SELECT status FROM feedback WHERE inbox_id = $1 ORDER BY created_at',
        [id],
      );
      expect(stored.map((r) => r.status)).toEqual(['accepted', 'care-started', 'care-started']);
      await arrivalAt(practiceFhir, recorded.id);
      expect(practiceFhir.hitsFor(`fb-${recorded.id}`)).toHaveLength(1);
    });
  });

  describe('the days of a status update', () => {
    // The test referral was written on 2026-11-20 (Amsterdam).
    const tomorrow = amsterdamDay(new Date(Date.now() + 86_400_000));
    const decision = (date: string, period = { start: '2026-12-07', end: '2027-06-07' }) => ({
      number: 'B-1',
      date,
      productCategory: '45',
      period,
    });

    it.each([
      [{ status: 'accepted', date: '2026-11-19' }, 'date'],
      [{ status: 'accepted', date: tomorrow }, 'date'],
      [{ status: 'decision-issued', decision: decision('2026-11-19') }, 'decision.date'],
      [{ status: 'decision-issued', decision: decision(tomorrow) }, 'decision.date'],
      [
        { status: 'decision-issued', decision: decision('2026-12-01', { start: '2026-12-07', end: '2026-12-06' }) },
        'decision.period.end',
      ],
      [{ status: 'care-started', provider: { agb: '12345678' }, startDate: tomorrow }, 'startDate'],
      [{ status: 'allocated', productCategory: '54', startDate: '2026-11-01' }, 'startDate'],
      [{ status: 'care-ended', endDate: tomorrow }, 'endDate'],
      [{ status: 'care-ended', startDate: '2026-11-28', endDate: '2026-11-25' }, 'endDate'],
    ])('answers 422 naming the field for %j, and stores nothing', async (body, field) => {
      const { id } = await deliveredReferral();
      expect(await unprocessableFields(await postStatus(id, body))).toEqual([field]);
      expect(await app.rt.ctx.db.query('SELECT 1 FROM feedback WHERE inbox_id = $1', [id])).toHaveLength(0);
    });

    it('takes the referral’s own day and today, and a decision whose period lies ahead', async () => {
      const { id } = await deliveredReferral();
      const today = amsterdamDay(new Date());
      expect((await postStatus(id, { status: 'accepted', date: '2026-11-20' })).status).toBe(202);
      expect(
        (
          await postStatus(id, {
            status: 'decision-issued',
            decision: decision(today, { start: tomorrow, end: tomorrow }),
          })
        ).status,
      ).toBe(202);
      const view = (await (
        await app.request(`/municipality/v1/referrals/${id}/status`, { key: 'municipality' })
      ).json()) as {
        timeline: { waitingDays: Record<string, number> };
      };
      expect(view.timeline.waitingDays).toEqual({
        referralToAccepted: 0,
        acceptedToDecision: daysBetween('2026-11-20', today),
        referralToDecision: daysBetween('2026-11-20', today),
      });
    });

    it('refuses an end of care before the start an earlier update reported', async () => {
      const { id } = await deliveredReferral();
      const started = await postStatus(id, {
        status: 'care-started',
        provider: { agb: '12345678' },
        startDate: '2026-11-28',
      });
      expect(started.status).toBe(202);
      const early = await postStatus(id, { status: 'care-ended', endDate: '2026-11-27' });
      expect(early.status).toBe(422);
      const outcome = (await early.json()) as { issue: { expression: string[]; details: { text: string } }[] };
      expect(outcome.issue.flatMap((i) => i.expression)).toEqual(['endDate']);
      expect(outcome.issue[0]?.details.text).toContain('2026-11-28');
      expect((await postStatus(id, { status: 'care-ended', endDate: '2026-11-28' })).status).toBe(202);
    });
  });
});
