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

describe('decisions a practice can act on', () => {
  let receiver: TestReceiver;
  let app: TestApp;

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    const agreement = buildAgreement({ legalBasis: 'consent' });
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
    const body = (await res.json()) as { receipts: { id: string; status: string }[] };
    expect(body.receipts[0]?.status).toBe('accepted');
    return body.receipts[0]!.id;
  }

  type View = { state: string; stateReason: string; history: { state: string; reason: string | null }[] };

  async function finalState(id: string): Promise<View> {
    return waitFor(`event ${id} to finish`, async () => {
      const v = (await (await app.request(`/his/v1/events/${id}`)).json()) as View;
      return ['delivered', 'denied', 'dead', 'failed', 'completed'].includes(v.state) ? v : undefined;
    });
  }

  it("names the missing guardian by the HIS's own id, relationship and authority", async () => {
    const referral = referralAged(10);
    await finalState(await submit(buildConsentEvent(referral, { givenBy: [{ kind: 'guardian', guardianId: 'g1' }] })));
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
    expect(done.stateReason).toContain(
      'no consent from guardian g1 (mother, has authority): the consent was recorded in error',
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
