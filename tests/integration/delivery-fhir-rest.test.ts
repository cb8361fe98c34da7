import type { Bundle, Encounter, EpisodeOfCare, Patient } from '@medplum/fhirtypes';
import { resourceIds } from '../../mappings/his/shared/resource-ids';
import { getAdapter } from '../../mappings/municipality/index';
import { RESOURCE_ID_SYSTEM } from '../../mappings/municipality/shared/resource-identifier';
import { codesOf, EXTENSION, TRAJECTORY_OUTCOME_SYSTEM } from '../../src/kernel/fhir/terminology';
import { SUPERSEDED_BY_CORRECTION } from '../../src/event/states';
import { buildAgreement, buildContactEvent, buildDestination, buildReferralEvent } from '../helpers/builders';
import { waitFor } from '../helpers/wait-for';
import {
  contractDestination,
  deadContactThenCorrection,
  describeAdapterContract,
  replayOfCorrectedContact,
  useDeliveryApp,
} from '../unit/delivery/support/adapter-contract';

process.env.TEST_FHIR_OAUTH_SECRET = 'client-secret-for-tests';
const OAUTH_MUNICIPALITY = 'GM0344';
const STRICT_MUNICIPALITY = 'GM0345';
/** A municipality whose agreement lets a contact's duration and a trajectory's help questions through. */
const WIDE_MUNICIPALITY = 'GM0346';

describe('fhir-rest delivery adapter', () => {
  const h = useDeliveryApp({
    destination: (r) => contractDestination(r.url('/fhir'), { adapter: 'fhir-rest' }),
    extraDestinations: (r) => [
      buildDestination(r.url('/oauth-fhir'), {
        id: 'gm0344',
        municipality: OAUTH_MUNICIPALITY,
        auth: {
          type: 'oauth2-client-credentials',
          tokenUrl: r.url('/oauth/token'),
          clientId: 'jeugdbrug',
          clientSecretEnv: 'TEST_FHIR_OAUTH_SECRET',
          scope: 'system/*.write',
        },
        pauseAfterFailures: 0,
      }),
      // Its own retry policy: 2 attempts (the test default is 4), 1.5 s apart (the test default is 0.1 s).
      buildDestination(r.url('/strict-fhir'), {
        id: 'gm0345',
        municipality: STRICT_MUNICIPALITY,
        retry: { maxAttempts: 2, backoffBaseMs: 1500, backoffMaxMs: 1500 },
        pauseAfterFailures: 0,
      }),
      buildDestination(r.url('/fhir'), { id: 'gm0346', municipality: WIDE_MUNICIPALITY, pauseAfterFailures: 0 }),
    ],
    extraAgreements: [
      buildAgreement({ id: 'oauth-agreement', municipality: { code: OAUTH_MUNICIPALITY, name: 'Lingewaard' } }),
      buildAgreement({ id: 'strict-agreement', municipality: { code: STRICT_MUNICIPALITY, name: 'Neder-Betuwe' } }),
      buildAgreement({
        id: 'wide-agreement',
        municipality: { code: WIDE_MUNICIPALITY, name: 'Buren' },
        dataClasses: {
          ...buildAgreement().dataClasses,
          Encounter: { fields: ['status', 'class', 'type', 'subject', 'period', 'episodeOfCare', 'length'] },
          EpisodeOfCare: { fields: ['status', 'type', 'patient', 'period', EXTENSION.trajectoryOutcome] },
        },
      }),
    ],
    prepareReceiver: (r) => {
      r.requireIssuedTokenUnder = '/oauth-fhir';
    },
  });

  describeAdapterContract(h, '/fhir');

  it('sends a transaction of conditional creates and updates that a replay cannot duplicate', async () => {
    const id = await h.submit(buildReferralEvent());
    await h.reachesState(id, 'delivered');
    const hit = h.receiver.hitsFor((await h.delivery(id)).idempotency_key)[0]!;
    const bundle = hit.body as Bundle;
    expect(bundle.type).toBe('transaction');
    expect(hit.headers['content-type']).toContain('application/fhir+json');
    const fullUrls = new Set(bundle.entry!.map((e) => e.fullUrl));
    for (const entry of bundle.entry!) {
      const resource = entry.resource as { id?: string; identifier?: { system: string; value: string }[] };
      const ours = resource.identifier?.find((i) => i.system === RESOURCE_ID_SYSTEM);
      expect(resource.id).toBeUndefined();
      expect(ours?.value).toMatch(/^[0-9a-f-]{36}$/);
      // The referral itself replaces what the receiver holds under its identity (a corrected referral lands).
      expect(entry.request).toEqual(
        entry.resource!.resourceType === 'ServiceRequest'
          ? { method: 'PUT', url: `ServiceRequest?identifier=${RESOURCE_ID_SYSTEM}|${ours!.value}` }
          : {
              method: 'POST',
              url: entry.resource!.resourceType,
              ifNoneExist: `identifier=${RESOURCE_ID_SYSTEM}|${ours!.value}`,
            },
      );
      expect(entry.fullUrl).toBe(`urn:uuid:${ours!.value}`);
    }
    // References inside the Bundle point at fullUrls, which the server resolves to the ids it assigns or finds.
    const request = bundle.entry!.find((e) => e.resource!.resourceType === 'ServiceRequest')!.resource as {
      subject: { reference: string };
    };
    expect(fullUrls.has(request.subject.reference)).toBe(true);
  });

  it('sends a corrected referral as a conditional update of the same ServiceRequest', async () => {
    const created = buildReferralEvent();
    const createdId = await h.submit(created);
    await h.reachesState(createdId, 'delivered');
    const referral = { ...(created.referral as object), reasonText: 'Gecorrigeerd: zorgen over gedrag op school' };
    const correctedId = await h.submit({ ...buildReferralEvent(), child: created.child, referral });
    await h.reachesState(correctedId, 'delivered');
    const srOf = async (id: string) =>
      (h.receiver.hitsFor((await h.delivery(id)).idempotency_key)[0]!.body as Bundle).entry!.find(
        (e) => e.resource!.resourceType === 'ServiceRequest',
      )!;
    const [first, corrected] = [await srOf(createdId), await srOf(correctedId)];
    expect(corrected.request).toEqual({ method: 'PUT', url: first.request!.url });
  });

  // A corrected contact (the practice's same contact id, a new event) was a conditional create of an Encounter the
  // receiver already held: it kept the first duration while the event said `delivered`.
  it('changes the Encounter the receiver holds when the practice corrects the contact', async () => {
    const first = contactEvent({ durationMinutes: 30 });
    const contact = first.contact as { id: string };
    const firstId = await h.submit(first);
    await h.reachesState(firstId, 'delivered');
    const corrected = {
      ...first,
      eventId: `${String(first.eventId)}-corrected`,
      contact: { ...contact, durationMinutes: 45, mode: '2' },
    };
    const correctedId = await h.submit(corrected);
    await h.reachesState(correctedId, 'delivered');

    const held = heldEncountersOf(first, contact.id);
    expect(held).toHaveLength(1);
    expect(held[0]!.length?.value).toBe(45);
    expect(held[0]!.type?.[0]?.coding?.[0]?.code).toBe('2');
    // One child at the receiver, created by the first event (a conditional create: the municipality's record).
    const patientId = held[0]!.subject!.reference!.replace('urn:uuid:', '');
    expect(
      h.receiver.fhir
        .held<Patient>('Patient')
        .filter((p) => p.identifier?.some((i) => i.system === RESOURCE_ID_SYSTEM && i.value === patientId)),
    ).toHaveLength(1);
  });

  // The last delivered won: the dead letter of a contact, replayed after its correction was delivered, put the older
  // duration back at the receiver with a conditional update while both events said `delivered`.
  it('does not send a contact older than a correction the receiver holds, and says why', async () => {
    const first = contactEvent({ durationMinutes: 30 });
    const { firstId } = await deadContactThenCorrection(h, first);
    await replayOfCorrectedContact(h, firstId);
    // The correction's duration stays at the receiver.
    const held = heldEncountersOf(first, (first.contact as { id: string }).id);
    expect(held.map((e) => e.length?.value)).toEqual([45]);
  });

  it('does not redeliver a contact whose correction the receiver holds', async () => {
    const first = contactEvent({ durationMinutes: 30 });
    const contact = first.contact as { id: string };
    const firstId = await h.submit(first);
    await h.reachesState(firstId, 'delivered');
    const d = await h.delivery(firstId);
    await deliver({
      ...first,
      eventId: `${String(first.eventId)}-corrected`,
      contact: { ...contact, durationMinutes: 45 },
    });

    const asked = await h.app.request(`/admin/v1/deliveries/${d.id}/redeliver`, {
      key: 'operator',
      json: { reason: 'the municipality restored a backup' },
    });
    expect(asked.status).toBe(202);
    const ended = await waitFor('the redelivery to end', async () => {
      const again = await h.delivery(firstId);
      return again.round === 1 && again.state !== 'pending' ? again : undefined;
    });
    expect(ended.state).toBe('cancelled');
    // It did reach the receiver once: the event stays delivered, saying why this round sent nothing.
    expect(await h.state(firstId)).toEqual(
      expect.objectContaining({ state: 'delivered', stateReason: SUPERSEDED_BY_CORRECTION }),
    );
    expect(h.receiver.hitsFor(d.idempotency_key)).toHaveLength(1);
    expect(heldEncountersOf(first, contact.id).map((e) => e.length?.value)).toEqual([45]);
  });

  it('keeps a closed trajectory closed at the receiver when a contact of it arrives after the closure', async () => {
    const contact = contactEvent();
    const trajectory = { ...(contact.trajectory as { id: string }), helpQuestion: 'school' };
    const open: Record<string, unknown> = { ...contact, trajectory };
    await deliver(open);
    const closed = { ...open, eventId: `${String(open.eventId)}-closed`, eventType: 'trajectory.closed' };
    delete (closed as Record<string, unknown>).contact;
    delete (closed as Record<string, unknown>).professional;
    await deliver({ ...closed, trajectory: { ...trajectory, closedOn: '2026-11-25', outcome: closedOutcome() } });
    // A late contact of the trajectory (or a redelivery of an earlier one) carries it as it was: open.
    const late = {
      ...open,
      eventId: `${String(open.eventId)}-late`,
      contact: { ...(open.contact as object), id: `${(open.contact as { id: string }).id}-late` },
    };
    await deliver(late);
    const held = heldEpisodesOf(contact, trajectory.id);
    expect(held).toHaveLength(1);
    expect(held[0]!.status).toBe('finished');
    expect(held[0]!.period?.end).toBe('2026-11-25');
  });

  it('changes the trajectory the receiver holds when a contact closes it with a corrected help question', async () => {
    const contact = contactEvent();
    const trajectory = { ...(contact.trajectory as { id: string }), helpQuestion: 'school' };
    await deliver({ ...contact, trajectory });
    const closing = {
      ...contact,
      eventId: `${String(contact.eventId)}-closing`,
      trajectory: { ...trajectory, helpQuestion: 'parenting', closedOn: '2026-11-25', outcome: closedOutcome() },
      contact: { ...(contact.contact as object), id: `${(contact.contact as { id: string }).id}-last` },
    };
    await deliver(closing);
    const held = heldEpisodesOf(contact, trajectory.id);
    expect(held).toHaveLength(1);
    expect(held[0]!.status).toBe('finished');
    expect(held[0]!.type?.[0]?.coding?.[0]?.code).toBe('parenting');
  });

  it("sends a cancellation as a patch of the status of the receiver's copy of the ServiceRequest", async () => {
    const created = buildReferralEvent();
    const referralId = (created.referral as { id: string }).id;
    const createdId = await h.submit(created);
    await h.reachesState(createdId, 'delivered');
    const cancelled = buildReferralEvent({ eventType: 'referral.cancelled', referral: { id: referralId } });
    const cancelledId = await h.submit({ ...cancelled, child: created.child, guardians: created.guardians });
    await h.reachesState(cancelledId, 'delivered');
    const bundle = h.receiver.hitsFor((await h.delivery(cancelledId)).idempotency_key)[0]!.body as Bundle;
    const first = h.receiver.hitsFor((await h.delivery(createdId)).idempotency_key)[0]!.body as Bundle;
    const sr = bundle.entry!.find((e) => e.request!.url.startsWith('ServiceRequest'))!;
    const firstSr = first.entry!.find((e) => e.resource!.resourceType === 'ServiceRequest')!;
    // Only the status: the cancellation carries identifiers and status alone, and an update would erase the rest.
    expect(sr.request!.method).toBe('PATCH');
    expect(bundle.entry!.some((e) => e.request!.method === 'PUT')).toBe(false);
    // The same identity as the referral: the cancellation lands on the copy the receiver already holds.
    expect(sr.request!.url).toBe(firstSr.request!.url);
    expect(sr.request!.url).toMatch(/^ServiceRequest\?identifier=/);
    expect(JSON.stringify(sr.resource)).toContain('"valueCode":"revoked"');
  });

  it('authenticates with an OAuth2 client-credentials token, fetched once and reused until near expiry', async () => {
    const event = () =>
      buildReferralEvent({
        child: { ...(buildReferralEvent().child as object), municipality: OAUTH_MUNICIPALITY },
      });
    const tokensBefore = h.receiver.issuedTokens.length;
    const ids = [await h.submit(event()), await h.submit(event()), await h.submit(event())];
    for (const id of ids) {
      await h.reachesState(id, 'delivered');
    }
    const hits = await Promise.all(ids.map(async (id) => h.receiver.hitsFor((await h.delivery(id)).idempotency_key)));
    expect(hits.every((x) => x.length === 1 && x[0]!.path === '/oauth-fhir')).toBe(true);
    expect(h.receiver.issuedTokens.length - tokensBefore).toBe(1);
    const token = h.receiver.hits.find((x) => x.path === '/oauth/token')!;
    expect(token.raw).toContain('grant_type=client_credentials');
    expect(token.headers.authorization).toBe(
      `Basic ${Buffer.from('jeugdbrug:client-secret-for-tests').toString('base64')}`,
    );
    expect(hits[0]![0]!.headers.authorization).toBe(`Bearer ${h.receiver.issuedTokens.at(-1)}`);
  });

  it('probes a FHIR receiver with GET <base>/metadata', async () => {
    const destination = h.app.rt.ctx.registry.destinations.find((d) => d.id === 'gm0226')!;
    expect(await getAdapter('fhir-rest').probe(destination, 1000)).toEqual({ up: true, detail: 'GET HTTP 200' });
    expect(h.receiver.probes.at(-1)).toEqual(expect.objectContaining({ method: 'GET', path: '/fhir/metadata' }));
    h.receiver.probeStatus = 503;
    expect((await getAdapter('fhir-rest').probe(destination, 1000)).up).toBe(false);
  });

  it('applies a destination’s own retry policy: its attempts and its backoff', async () => {
    h.receiver.mode = { kind: 'status', status: 503 };
    const id = await h.submit(
      buildReferralEvent({ child: { ...(buildReferralEvent().child as object), municipality: STRICT_MUNICIPALITY } }),
    );
    await h.reachesState(id, 'dead');
    const d = await h.delivery(id);
    expect(d.attempts).toBe(2);
    expect((await h.state(id)).stateReason).toContain('retries exhausted');
    const hits = h.receiver.hitsFor(d.idempotency_key);
    expect(hits).toHaveLength(2);
    expect(hits[1]!.at - hits[0]!.at).toBeGreaterThanOrEqual(1150);
  });

  /** A contact of a child of the municipality whose agreement shares durations and help questions. */
  function contactEvent(contact: Record<string, unknown> = {}): Record<string, unknown> {
    const event = buildContactEvent(contact);
    return { ...event, child: { ...(event.child as object), municipality: WIDE_MUNICIPALITY } };
  }

  async function deliver(event: Record<string, unknown>): Promise<void> {
    await h.reachesState(await h.submit(event), 'delivered');
  }

  /** What the receiver holds of the resource with our deterministic id `id`, by the identifier it was sent with. */
  function heldOf<T extends Encounter | EpisodeOfCare>(type: T['resourceType'], id: string): T[] {
    return h.receiver.fhir
      .held<T>(type)
      .filter((r) => r.identifier?.some((i) => i.system === RESOURCE_ID_SYSTEM && i.value === id));
  }
  const agbOf = (event: Record<string, unknown>) => (event.practice as { agb: string }).agb;
  const heldEncountersOf = (event: Record<string, unknown>, contactId: string) =>
    heldOf<Encounter>('Encounter', resourceIds.encounter(agbOf(event), contactId));
  const heldEpisodesOf = (event: Record<string, unknown>, trajectoryId: string) =>
    heldOf<EpisodeOfCare>('EpisodeOfCare', resourceIds.episodeOfCare(agbOf(event), trajectoryId));
});

/** Any code of the trajectory-outcome table. */
function closedOutcome(): string {
  return codesOf(TRAJECTORY_OUTCOME_SYSTEM)[0]!;
}
