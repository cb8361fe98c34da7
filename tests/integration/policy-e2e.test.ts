import type { OperationOutcome } from '@medplum/fhirtypes';
import { buildRegistry } from '../../src/event/registry';
import {
  buildAgreement,
  buildConsentEvent,
  buildDestination,
  buildReferralEvent,
  buildWithdrawalEvent,
} from '../helpers/builders';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/** A 14-year-old (on any day until 2026-03-04 + 2 years): both the child and guardians with authority consent. */
function referralFor14YearOld(): Record<string, unknown> {
  const event = buildReferralEvent();
  const child = event.child as Record<string, unknown>;
  return {
    ...event,
    child: { ...child, birthDate: `${new Date().getFullYear() - 14}-01-01` },
    guardians: [
      { id: 'g1', bsn: '123456782', relationship: 'mother', hasAuthority: true },
      { id: 'g2', relationship: 'father', hasAuthority: false },
    ],
  };
}

/** A referral for a child of `age`, with two guardians who both hold parental authority. */
function referralAged(age: number): Record<string, unknown> {
  const event = buildReferralEvent();
  const child = event.child as Record<string, unknown>;
  return {
    ...event,
    child: { ...child, birthDate: `${new Date().getFullYear() - age}-01-01` },
    guardians: [
      { id: 'g1', bsn: '123456782', relationship: 'mother', hasAuthority: true },
      { id: 'g2', relationship: 'father', hasAuthority: true },
    ],
  };
}

function enteredInError(consentEvent: Record<string, unknown>): Record<string, unknown> {
  const consent = consentEvent.consent as { id: string };
  return {
    ...consentEvent,
    eventId: `${String(consentEvent.eventId)}-void`,
    eventType: 'consent.entered-in-error',
    consent: { id: consent.id, enteredInErrorAt: new Date().toISOString() },
  };
}

const ALLOWED_SERVICE_REQUEST_FIELDS = ['identifier', 'status', 'intent', 'code', 'subject', 'authoredOn', 'requester'];

describe('consent and agreement enforcement through the HTTP API', () => {
  let receiver: TestReceiver;
  let app: TestApp;

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    const agreement = buildAgreement({
      legalBasis: 'consent',
      dataClasses: {
        Patient: { fields: ['identifier', 'birthDate'] },
        RelatedPerson: { fields: ['patient'] },
        ServiceRequest: { fields: ALLOWED_SERVICE_REQUEST_FIELDS },
      },
    });
    app = await startTestApp({
      registry: buildRegistry({ agreements: [agreement], destinations: [buildDestination(receiver.url)] }),
    });
  });

  afterAll(async () => {
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  async function submit(event: unknown): Promise<string> {
    const res = await app.request('/his/v1/events', { json: event });
    const body = (await res.json()) as { receipts?: { id: string; status: string }[] };
    expect(res.status).toBe(202);
    expect(body.receipts?.[0]?.status).toBe('accepted');
    return body.receipts![0]!.id;
  }

  /** `$explain` by the practice, about a referral to GM0226 of a child described in the request. */
  function explainAsPractice(child: { bsn: string; birthDate: string }, more: Record<string, unknown>) {
    return app.request('/policy/v1/$explain', {
      key: 'practice',
      json: {
        practice: '01234567',
        municipality: 'GM0226',
        purpose: 'referral',
        child: { bsn: child.bsn, birthDate: child.birthDate },
        ...more,
      },
    });
  }

  type View = { state: string; stateReason: string; history: { state: string; reason: string | null }[] };

  async function finalState(id: string): Promise<View> {
    return waitFor(`event ${id} to finish`, async () => {
      const v = (await (await app.request(`/his/v1/events/${id}`)).json()) as View;
      return ['delivered', 'denied', 'dead', 'failed', 'completed'].includes(v.state) ? v : undefined;
    });
  }

  it('delivers a consented referral with only the allow-listed fields', async () => {
    const referral = referralFor14YearOld();
    const consentId = await submit(
      buildConsentEvent(referral, { givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }] }),
    );
    expect((await finalState(consentId)).state).toBe('completed');
    const before = receiver.stored.size;
    const id = await submit(referral);
    expect((await finalState(id)).state).toBe('delivered');
    expect(receiver.stored.size).toBe(before + 1);
    const bundle = [...receiver.stored.values()].at(-1)!.body as { entry: { resource: Record<string, unknown> }[] };
    const types = bundle.entry.map((e) => e.resource.resourceType);
    expect(types.sort()).toEqual(['Patient', 'RelatedPerson', 'RelatedPerson', 'ServiceRequest']);
    const sr = bundle.entry.find((e) => e.resource.resourceType === 'ServiceRequest')!.resource;
    for (const key of Object.keys(sr)) {
      expect(['resourceType', 'id', 'meta', ...ALLOWED_SERVICE_REQUEST_FIELDS]).toContain(key);
    }
    expect(JSON.stringify(bundle)).not.toContain('Zorgen over gedrag'); // the free-text reason stays home
    const patient = bundle.entry.find((e) => e.resource.resourceType === 'Patient')!.resource;
    expect(patient.name).toBeUndefined();
  });

  it('denies a referral for a 14-year-old whose own consent is missing, and names the reason', async () => {
    const referral = referralFor14YearOld();
    await submit(buildConsentEvent(referral, { givenBy: [{ kind: 'guardian', guardianId: 'g1' }] }));
    const hits = receiver.hits.length;
    const id = await submit(referral);
    const done = await finalState(id);
    expect(done.state).toBe('denied');
    expect(done.stateReason).toContain('consent-missing-child');
    expect(receiver.hits.length).toBe(hits);
  });

  it('stops the delivery when consent is withdrawn between mapping and delivery', async () => {
    const referral = referralFor14YearOld();
    const consent = buildConsentEvent(referral, {
      givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
    });
    await submit(consent);
    const queue = app.rt.ctx.queues.getDeliverQueue('gm0226');
    await queue.pause();
    try {
      const id = await submit(referral);
      await waitFor('the referral to be decided', async () => {
        const v = (await (await app.request(`/his/v1/events/${id}`)).json()) as { state: string };
        return v.state === 'decided';
      });
      const hits = receiver.hits.length;
      await submit(buildWithdrawalEvent(consent, [{ kind: 'child' }]));
      await queue.resume();
      const done = await finalState(id);
      expect(done.state).toBe('denied');
      expect(done.stateReason).toMatch(/denied at delivery: .*consent-withdrawn/);
      expect(receiver.hits.length).toBe(hits);
    } finally {
      await queue.resume();
    }
  });

  it('explains a decision for an event without sharing anything', async () => {
    const referral = referralFor14YearOld();
    const id = await submit(referral);
    await finalState(id);
    const res = await app.request('/policy/v1/$explain', { key: 'auditor', json: { eventId: id } });
    expect(res.status).toBe(200);
    // Sent without Express's res.json (no ETag for a POST's answer): still JSON, with its length.
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const text = await res.text();
    expect(Number(res.headers.get('content-length'))).toBe(Buffer.byteLength(text));
    const body = JSON.parse(text) as { decision: { effect: string; reasons: { code: string }[] } };
    expect(body.decision.effect).toBe('deny');
    expect(body.decision.reasons.map((r) => r.code)).toContain('consent-missing-child');
    expect(JSON.stringify(body)).not.toContain((referral.child as { bsn: string }).bsn);
  });

  it('explains a decision for a child described in the request', async () => {
    const referral = referralFor14YearOld();
    await submit(buildConsentEvent(referral, { givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }] }));
    const child = referral.child as { bsn: string; birthDate: string; id: string };
    const consents = (await (
      await app.request(`/fhir/Consent?patient:identifier=http://fhir.nl/fhir/NamingSystem/bsn|${child.bsn}`, {
        key: 'auditor',
      })
    ).json()) as { entry: { resource: { performer: { reference: string }[] } }[] };
    const guardianRef = consents.entry
      .flatMap((e) => e.resource.performer.map((p) => p.reference))
      .find((r) => r.startsWith('RelatedPerson/'))!;
    const res = await explainAsPractice(child, {
      dataClasses: ['Patient', 'ServiceRequest'],
      guardians: [{ relatedPersonId: guardianRef.replace('RelatedPerson/', ''), hasAuthority: true }],
    });
    const body = (await res.json()) as { decision: { effect: string } };
    expect(res.status).toBe(200);
    expect(body.decision.effect).toBe('permit');
  });

  // report-xpen 8: with no consent recorded for the described child, no consent names its Patient id, and the reason
  // said "No consent of Patient/ covers this disclosure".
  it('explains a missing consent of a described child with no consent on record in words, without an empty id', async () => {
    const child = referralFor14YearOld().child as { bsn: string; birthDate: string };
    const res = await explainAsPractice(child, { dataClasses: ['Patient', 'ServiceRequest'] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      decision: { effect: string; reasons: { code: string; detail: string; people?: { reference?: string }[] }[] };
    };
    expect(body.decision.effect).toBe('deny');
    const missing = body.decision.reasons.find((r) => r.code === 'consent-missing-child');
    expect(missing?.detail).toBe('No consent of the child covers this disclosure');
    expect(JSON.stringify(body.decision.reasons)).not.toMatch(/Patient\/(?![A-Za-z0-9])/);
  });

  it('explains from the consent as stored now: a withdrawal after an explanation shows in the next one', async () => {
    const referral = referralAged(17);
    const consent = buildConsentEvent(referral, { givenBy: [{ kind: 'child' }] });
    await submit(consent);
    const child = referral.child as { bsn: string; birthDate: string };
    // One moment for every answer, so that two answers from the same facts are the same answer.
    const at = new Date().toISOString();
    const explain = async () => {
      const res = await explainAsPractice(child, { at });
      expect(res.status).toBe(200);
      return (await res.json()) as {
        decision: { effect: string; reasons: { code: string }[] };
        considered: { consents: { id: string; status: string; performer: string[] }[] };
      };
    };
    const before = await explain();
    expect(before.decision.effect).toBe('permit');
    // Asked twice about the same stored consent: the second answer is the first's.
    expect(await explain()).toEqual(before);
    const [considered] = before.considered.consents;
    expect(considered?.status).toBe('active');
    expect(considered?.performer).toEqual([expect.stringMatching(/^Patient\//)]);

    await submit(buildWithdrawalEvent(consent, [{ kind: 'child' }]));
    const after = await explain();
    expect(after.decision.effect).toBe('deny');
    expect(after.decision.reasons.map((r) => r.code)).toContain('consent-withdrawn');
    expect(after.considered.consents.map((c) => c.id)).toEqual([considered?.id]);
  });

  it('accepts a withdrawal of a consent it does not hold with a warning naming consent.id, and keeps it', async () => {
    const referral = buildReferralEvent();
    const consent = buildConsentEvent(referral, { givenBy: [{ kind: 'child' }] });
    const early = await app.request('/his/v1/events', { json: buildWithdrawalEvent(consent, [{ kind: 'child' }]) });
    expect(early.status).toBe(202);
    const [receipt] = ((await early.json()) as { receipts: { status: string; outcome?: OperationOutcome }[] }).receipts;
    expect(receipt?.status).toBe('accepted');
    expect(receipt?.outcome?.issue).toEqual([
      expect.objectContaining({ severity: 'warning', code: 'not-found', expression: ['consent.id'] }),
    ]);
    // Its recording, arriving after it, does not undo it; nor does the recording warn.
    await submit(consent);
    const res = await app.request('/policy/v1/$explain', {
      json: { eventId: await submit(referral) },
    });
    expect(
      ((await res.json()) as { decision: { reasons: { code: string }[] } }).decision.reasons.map((r) => r.code),
    ).toContain('consent-withdrawn');
  });

  it.each([
    ['a municipality', 'municipality', 403],
    ['another practice', 'otherPractice', 403],
  ] as const)('refuses $explain for %s', async (_who, key, status) => {
    const res = await app.request('/policy/v1/$explain', {
      key,
      json: { practice: '01234567', municipality: 'GM0226', purpose: 'referral', child: { bsn: '111222333' } },
    });
    expect(res.status).toBe(status);
  });

  it('answers a malformed $explain with a 422 naming the field', async () => {
    const res = await app.request('/policy/v1/$explain', {
      key: 'auditor',
      json: { practice: '01234567', municipality: 'GM0226', purpose: 'referral', child: { bsn: '111222334' } },
    });
    expect(res.status).toBe(422);
    const body = (await res.json()) as { issue: { expression: string[] }[] };
    expect(body.issue.flatMap((i) => i.expression)).toContain('child.bsn');
    // An empty body is told what it lacks of the described form, not only that it is neither form.
    const empty = await app.request('/policy/v1/$explain', { key: 'auditor', json: {} });
    expect(empty.status).toBe(422);
    const lacking = ((await empty.json()) as { issue: { expression: string[] }[] }).issue.flatMap((i) => i.expression);
    expect(lacking).toEqual(expect.arrayContaining(['practice', 'municipality', 'purpose', 'child']));
  });

  it('returns the consent registry as a searchset Bundle, within the caller scope', async () => {
    const referral = referralFor14YearOld();
    await submit(buildConsentEvent(referral, { givenBy: [{ kind: 'child' }] }));
    const bsn = (referral.child as { bsn: string }).bsn;
    const url = `/fhir/Consent?patient:identifier=http://fhir.nl/fhir/NamingSystem/bsn|${bsn}`;
    const own = (await (await app.request(url)).json()) as { type: string; total: number };
    expect(own.type).toBe('searchset');
    expect(own.total).toBeGreaterThan(0);
    const other = (await (await app.request(url, { key: 'otherPractice' })).json()) as { total: number };
    expect(other.total).toBe(0);
    expect((await app.request(url, { key: 'municipality' })).status).toBe(403);
    expect((await app.request('/fhir/Consent?patient:identifier=nonsense')).status).toBe(400);
  });

  describe('decisions a practice can act on', () => {
    it("names the missing guardian by the HIS's own id, relationship and authority", async () => {
      const referral = referralAged(10);
      await finalState(
        await submit(buildConsentEvent(referral, { givenBy: [{ kind: 'guardian', guardianId: 'g1' }] })),
      );
      const done = await finalState(await submit(referral));
      expect(done.state).toBe('denied');
      expect(done.stateReason).toContain('consent-missing-guardian');
      expect(done.stateReason).toContain('no consent from guardian g2 (father, has authority)');
      expect(done.stateReason).not.toContain('g1');
      expect(done.stateReason).toContain('Agreement test-agreement v1');
    });

    it('no longer counts a consent entered in error, and says it was recorded in error', async () => {
      const referral = referralAged(10);
      const consent = buildConsentEvent(referral, {
        givenBy: [
          { kind: 'guardian', guardianId: 'g1' },
          { kind: 'guardian', guardianId: 'g2' },
        ],
      });
      await finalState(await submit(consent));
      await finalState(await submit(enteredInError(consent)));
      const done = await finalState(await submit(referral));
      expect(done.state).toBe('denied');
      expect(done.stateReason).toContain('consent-missing-guardian');
      // Both guardians of the voided joint consent, in one phrase (reason-words.ts merges reasons of one code).
      expect(done.stateReason).toContain(
        'no consent from guardian g1 (mother, has authority) and guardian g2 (father, has authority): ' +
          'the consent was recorded in error',
      );
      expect(done.stateReason).not.toContain('withdrawn');
    });

    it("keeps the other parties' permission when one party withdraws a joint consent", async () => {
      // At 17 the child alone decides; the mother signed the same consent.
      const referral = referralAged(17);
      const consent = buildConsentEvent(referral, {
        givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
      });
      await finalState(await submit(consent));
      await finalState(await submit(buildWithdrawalEvent(consent, [{ kind: 'guardian', guardianId: 'g1' }])));
      const done = await finalState(await submit(referral));
      expect(done.state).toBe('delivered');
      expect(done.history.find((h) => h.state === 'decided')?.reason).toContain(
        'permitted under Agreement test-agreement v1 with the consent of the child',
      );
    });

    it("removes the withdrawing party's own permission from a joint consent", async () => {
      const referral = referralAged(17);
      const consent = buildConsentEvent(referral, {
        givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
      });
      await finalState(await submit(consent));
      await finalState(await submit(buildWithdrawalEvent(consent, [{ kind: 'child' }])));
      const done = await finalState(await submit(referral));
      expect(done.state).toBe('denied');
      expect(done.stateReason).toContain('consent-withdrawn');
      const childId = (referral.child as { id: string }).id;
      expect(done.stateReason).toContain(`consent from the child ${childId} was withdrawn`);
    });
  });
});
