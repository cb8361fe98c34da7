import type { Bundle } from '@medplum/fhirtypes';
import { getAdapter } from '../../mappings/municipality/index';
import { RESOURCE_ID_SYSTEM } from '../../mappings/municipality/shared/resource-identifier';
import { buildAgreement, buildDestination, buildReferralEvent } from '../helpers/builders';
import {
  contractDestination,
  describeAdapterContract,
  useDeliveryApp,
} from '../unit/delivery/support/adapter-contract';

process.env.TEST_FHIR_OAUTH_SECRET = 'client-secret-for-tests';
const OAUTH_MUNICIPALITY = 'GM0344';
const STRICT_MUNICIPALITY = 'GM0345';

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
    ],
    extraAgreements: [
      buildAgreement({ id: 'oauth-agreement', municipality: { code: OAUTH_MUNICIPALITY, name: 'Lingewaard' } }),
      buildAgreement({ id: 'strict-agreement', municipality: { code: STRICT_MUNICIPALITY, name: 'Neder-Betuwe' } }),
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
});
