import type { Bundle, Parameters, Resource } from '@medplum/fhirtypes';
import { toTransactionBundle } from '../../../mappings/municipality/fhir-rest/to-transaction';
import { referralAddressOf } from '../../../mappings/his/fhir-bundle/referral-address';
import { toServiceRequestStatus } from '../../../mappings/practice/to-task';
import { RESOURCE_ID_SYSTEM, rewriteReferences } from '../../../mappings/municipality/shared/resource-identifier';
import { buildContactEvent } from '../../helpers/builders';
import { mapped, minimised } from './support/resources';

const KEY = 'key-123';

function identityOf(r: Resource | undefined): string | undefined {
  return (r as { identifier?: { system?: string; value?: string }[] } | undefined)?.identifier?.find(
    (i) => i.system === RESOURCE_ID_SYSTEM,
  )?.value;
}

describe('fhir-rest mapping: a transaction of conditional creates', () => {
  // Golden change (contactfix): the contact's Encounter was a conditional create too, so a corrected contact (the
  // practice's same contact id in a later event) never replaced the copy the receiver held.
  it.each([
    ['an open trajectory', {}, 'POST'],
    ['a trajectory the contact closes', { closedOn: '2026-11-25', outcome: 'closed-without-referral' }, 'PUT'],
  ])(
    'sends a contact of %s with the child as a conditional create and the contact as a conditional update, without our id',
    (_, closure, episodeMethod) => {
      const contact = buildContactEvent();
      const event = { ...contact, trajectory: { ...(contact.trajectory as object), ...closure } };
      const resources = minimised(mapped(event));
      const bundle = toTransactionBundle(resources, KEY, 'contact.recorded');
      expect(bundle.type).toBe('transaction');
      expect(bundle.identifier?.value).toBe(KEY);
      // The child and guardians are the municipality's records once received; the contact is the practice's.
      const methodOf: Record<string, string> = {
        Patient: 'POST',
        RelatedPerson: 'POST',
        EpisodeOfCare: episodeMethod,
        Encounter: 'PUT',
      };
      expect(new Set(resources.map((r) => r.resourceType))).toEqual(new Set(Object.keys(methodOf)));
      expect(bundle.entry).toHaveLength(resources.length);
      bundle.entry!.forEach((entry, i) => {
        const id = resources[i]!.id!;
        const type = resources[i]!.resourceType;
        expect(entry.fullUrl).toBe(`urn:uuid:${id}`);
        expect(entry.resource?.id).toBeUndefined();
        expect(identityOf(entry.resource)).toBe(id);
        expect(entry.request).toEqual(
          methodOf[type] === 'PUT'
            ? { method: 'PUT', url: `${type}?identifier=${RESOURCE_ID_SYSTEM}|${id}` }
            : { method: 'POST', url: type, ifNoneExist: `identifier=${RESOURCE_ID_SYSTEM}|${id}` },
        );
      });
    },
  );

  it('sends a referral as a conditional update, so a corrected referral replaces the copy the receiver holds', () => {
    const resources = minimised(mapped());
    const bundle = toTransactionBundle(resources, KEY, 'referral.created');
    const sr = bundle.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!;
    const id = resources.find((r) => r.resourceType === 'ServiceRequest')!.id!;
    expect(sr.request).toEqual({ method: 'PUT', url: `ServiceRequest?identifier=${RESOURCE_ID_SYSTEM}|${id}` });
    expect(sr.resource?.id).toBeUndefined();
    // The child, guardians and the rest are the municipality's records once received: created, never overwritten.
    const others = bundle.entry!.filter((e) => e !== sr);
    expect(others.length).toBe(resources.length - 1);
    expect(others.every((e) => e.request?.method === 'POST' && e.request.ifNoneExist)).toBe(true);
  });

  it('is deterministic: the same event maps to the same Bundle, so a replay matches what the receiver holds', () => {
    const event = mapped();
    expect(toTransactionBundle(minimised(event), KEY)).toEqual(toTransactionBundle(minimised(event), KEY));
  });

  it('points references at fullUrls inside the Bundle and at conditional references outside it', () => {
    const event = mapped(buildContactEvent());
    const all = minimised(event);
    // Leave the EpisodeOfCare out, as if it had been sent with an earlier contact.
    const withoutEpisode = all.filter((r) => r.resourceType !== 'EpisodeOfCare');
    const episodeId = all.find((r) => r.resourceType === 'EpisodeOfCare')!.id!;
    const patientId = all.find((r) => r.resourceType === 'Patient')!.id!;
    const bundle: Bundle = toTransactionBundle(withoutEpisode, KEY, 'contact.recorded');
    const encounter = bundle.entry!.find((e) => e.resource?.resourceType === 'Encounter')!.resource as {
      subject: { reference: string };
      episodeOfCare: { reference: string }[];
    };
    expect(encounter.subject.reference).toBe(`urn:uuid:${patientId}`);
    expect(encounter.episodeOfCare[0]!.reference).toBe(`EpisodeOfCare?identifier=${RESOURCE_ID_SYSTEM}|${episodeId}`);
  });

  it('does not change the resources it is given', () => {
    const resources = minimised(mapped());
    const copy = structuredClone(resources);
    toTransactionBundle(resources, KEY);
    expect(resources).toEqual(copy);
  });

  // A cancellation carries identifiers and status only (policy, `permitted-as-cancellation`): as a conditional update
  // it replaced the receiver's copy of the referral with that, and the referral's category, code and dates were gone.
  it("sends a cancelled referral as a patch of its copy's status, the rest still as conditional creates", () => {
    const resources = minimised(mapped());
    const bundle = toTransactionBundle(resources, KEY, 'referral.cancelled');
    const id = resources.find((r) => r.resourceType === 'ServiceRequest')!.id!;
    const patch = bundle.entry!.find((e) => e.request?.method === 'PATCH')!;
    expect(patch.request).toEqual({ method: 'PATCH', url: `ServiceRequest?identifier=${RESOURCE_ID_SYSTEM}|${id}` });
    expect(patch.resource).toEqual({
      resourceType: 'Parameters',
      parameter: [
        {
          name: 'operation',
          part: [
            { name: 'type', valueCode: 'replace' },
            { name: 'path', valueString: 'ServiceRequest.status' },
            { name: 'value', valueCode: resources.find((r) => r.resourceType === 'ServiceRequest')!.status },
          ],
        },
      ],
    });
    expect(bundle.entry!.some((e) => e.request?.method === 'PUT')).toBe(false);
    expect(bundle.entry!.filter((e) => e.request?.method === 'POST')).toHaveLength(resources.length - 1);
  });

  it('patches only the status of the practice’s own ServiceRequest for a status update', () => {
    const request: Resource = {
      resourceType: 'ServiceRequest',
      id: '7b4c7a4e-6d36-5b6e-9a4e-1f0c2a8f0c11',
      identifier: [{ system: 'urn:agb:01234567:referral', value: 'ref-1' }],
      status: 'revoked',
      intent: 'order',
      subject: { identifier: { system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: '111222333' } },
    };
    const bundle = toTransactionBundle([request], KEY, 'referral.status');
    const entry = bundle.entry![0]!;
    expect(entry.request).toEqual({
      method: 'PATCH',
      url: 'ServiceRequest?identifier=urn:agb:01234567:referral|ref-1',
    });
    const patch = entry.resource as Parameters;
    expect(patch.parameter?.[0]?.part).toEqual([
      { name: 'type', valueCode: 'replace' },
      { name: 'path', valueString: 'ServiceRequest.status' },
      { name: 'value', valueCode: 'revoked' },
    ]);
    expect(JSON.stringify(bundle)).not.toContain('111222333');
  });

  it('patches a fhir-bundle HIS’s ServiceRequest by its own id when it carries no identifier', () => {
    const ownAddress = toServiceRequestStatus({
      id: '7b4c7a4e-6d36-5b6e-9a4e-1f0c2a8f0c11',
      identifier: { system: 'urn:agb:01234567:referral', value: 'ref-1' },
      hisAddress: { id: 'ref-1', identifiers: [] },
      patientBsn: '111222333',
      status: 'rejected',
    });
    const byId = toTransactionBundle([ownAddress], KEY, 'referral.status').entry![0]!;
    expect(byId.request).toEqual({ method: 'PATCH', url: 'ServiceRequest/ref-1' });
    const own = { system: 'https://his.example.nl/verwijzing', value: 'V-1' };
    const byIdentifier = toServiceRequestStatus({
      id: '7b4c7a4e-6d36-5b6e-9a4e-1f0c2a8f0c11',
      identifier: { system: 'urn:agb:01234567:referral', value: 'ref-1' },
      hisAddress: { id: 'ref-1', identifiers: [own] },
      patientBsn: '111222333',
      status: 'rejected',
    });
    expect(toTransactionBundle([byIdentifier], KEY, 'referral.status').entry![0]!.request).toEqual({
      method: 'PATCH',
      url: 'ServiceRequest?identifier=https://his.example.nl/verwijzing|V-1',
    });
  });

  it('reads a fhir-bundle HIS’s own address of its ServiceRequest: none for a urn:uuid fullUrl only', () => {
    const bundle = (resource: Record<string, unknown>, fullUrl: string) => ({
      value: {
        resourceType: 'Bundle',
        entry: [{ fullUrl, resource: { resourceType: 'ServiceRequest', ...resource } }],
      },
      location: '',
    });
    expect(referralAddressOf(bundle({ id: 'ref-1' }, 'https://his.example.nl/fhir/ServiceRequest/ref-1'))).toEqual({
      id: 'ref-1',
      identifiers: [],
    });
    expect(
      referralAddressOf(
        bundle(
          { identifier: [{ system: 's', value: 'v' }, { value: 'no system' }] },
          'urn:uuid:1b9f3c2e-0000-4000-8000-000000000001',
        ),
      ),
    ).toEqual({ identifiers: [{ system: 's', value: 'v' }] });
    expect(referralAddressOf(bundle({}, 'urn:uuid:1b9f3c2e-0000-4000-8000-000000000001'))).toBeUndefined();
  });

  it('rewrites references at any depth into a copy that shares nothing with the resource it came from', () => {
    const encounter = {
      resourceType: 'Encounter',
      status: 'finished',
      subject: { reference: 'Patient/a' },
      episodeOfCare: [{ reference: 'EpisodeOfCare/b' }, { reference: 'EpisodeOfCare/c', display: 'kept' }],
      extension: [
        { url: 'x', valueReference: { reference: 'Patient/a' } },
        { url: 'y', valueInteger: 0 },
      ],
      meta: { tag: [{ code: 'reference' }] },
    } as unknown as Resource;
    const before = structuredClone(encounter);
    const copy = rewriteReferences(encounter, (r) => (r === 'EpisodeOfCare/c' ? undefined : `new:${r}`)) as unknown as {
      subject: object;
      episodeOfCare: object[];
      extension: { valueReference?: object }[];
    };
    expect(copy).toEqual({
      ...before,
      subject: { reference: 'new:Patient/a' },
      episodeOfCare: [{ reference: 'new:EpisodeOfCare/b' }, { reference: 'EpisodeOfCare/c', display: 'kept' }],
      extension: [
        { url: 'x', valueReference: { reference: 'new:Patient/a' } },
        { url: 'y', valueInteger: 0 },
      ],
    });
    expect(encounter).toEqual(before);
    const original = encounter as unknown as typeof copy;
    expect(copy.episodeOfCare).not.toBe(original.episodeOfCare);
    expect(copy.episodeOfCare[1]).not.toBe(original.episodeOfCare[1]);
    expect(copy.extension[1]).not.toBe(original.extension[1]);
  });
});
