import type { AuditEvent, Bundle, CapabilityStatement, Consent } from '@medplum/fhirtypes';
import { buildAgreement, buildConsentEvent, buildReferralEvent, buildRefusalEvent } from '../helpers/builders';
import type { KeyName } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';
import { contractDestination, useDeliveryApp } from '../unit/delivery/support/adapter-contract';

/**
 * A consent recorded again under the same id (here: the guardian now refuses) must not erase what a disclosure
 * rested on. Every version of a Consent is kept (FHIR vread and history), and the decisions and disclosures cite the
 * version they read, so an auditor can show which consent text covered a disclosure after it was withdrawn.
 */
describe('consent versions cited by decisions and disclosures', () => {
  const h = useDeliveryApp({
    destination: (r) => contractDestination(r.url('/fhir'), {}),
    agreement: buildAgreement({ legalBasis: 'consent' }),
  });

  const read = async (path: string, key: KeyName) => {
    const res = await h.app.request(path, { key });
    return { status: res.status, etag: res.headers.get('etag'), body: await res.json() };
  };

  /** A referral delivered under the child's and guardian's consent, then the guardian refusing under the same id. */
  async function permittedThenRefused() {
    const referral = buildReferralEvent();
    const consent = buildConsentEvent(referral, {
      givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
    });
    await h.reachesState(await h.submit(consent), 'completed');
    const referralId = await h.submit(referral);
    await h.reachesState(referralId, 'delivered');

    const refusal = buildRefusalEvent(consent);
    const refusalId = await h.submit(refusal);
    await waitFor('the refusal to be handled', async () =>
      ['completed', 'delivered'].includes((await h.state(refusalId)).state),
    );

    const bsn = (referral.child as { bsn: string }).bsn;
    const search = (await read(`/fhir/Consent?patient=${bsn}`, 'auditor')).body as Bundle<Consent>;
    expect(search.entry).toHaveLength(1);
    return { bsn, referralId, consent: search.entry![0]!.resource! };
  }

  it('keeps the permit as version 1 and the disclosure cites it after the refusal', async () => {
    const { referralId, consent } = await permittedThenRefused();
    const id = consent.id!;
    // The registry reads the refusal now, as version 2.
    expect(consent.meta?.versionId).toBe('2');
    expect(consent.provision?.type).toBe('deny');

    // The disclosure and the decision before it cite version 1, the one they read.
    const found = (await read(`/fhir/AuditEvent?entity=inbox/${referralId}&_count=100`, 'auditor'))
      .body as Bundle<AuditEvent>;
    const events = found.entry!.map((e) => e.resource!);
    const disclosure = events.find((e) => e.subtype?.[0]?.code === 'disclose' && e.outcome === '0');
    expect(disclosure?.entity?.map((e) => e.what?.reference)).toContain(`Consent/${id}/_history/1`);
    const decisions = events.filter((e) => e.subtype?.[0]?.code === 'AuthZ-Consent' && e.outcome === '0');
    expect(decisions.length).toBeGreaterThan(0);
    for (const d of decisions) {
      expect(d.entity?.map((e) => e.what?.reference)).toContain(`Consent/${id}/_history/1`);
    }
    // A search by the consent finds what cited any version of it.
    const byConsent = (await read(`/fhir/AuditEvent?entity=Consent/${id}&_count=100`, 'auditor'))
      .body as Bundle<AuditEvent>;
    expect(byConsent.entry!.map((e) => e.resource!.id)).toEqual(expect.arrayContaining([disclosure!.id]));
    const byVersion = (await read(`/fhir/AuditEvent?entity=Consent/${id}/_history/1&_count=100`, 'auditor'))
      .body as Bundle<AuditEvent>;
    expect(byVersion.entry!.map((e) => e.resource!.id)).toEqual(expect.arrayContaining([disclosure!.id]));

    // The recording of each version names the version it stored.
    const created = async (version: number) =>
      (
        await h.app.rt.ctx.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM audit_event WHERE subtype = 'create' AND $1 = ANY(entities)`,
          [`Consent/${id}/_history/${version}`],
        )
      )[0]?.n;
    expect([await created(1), await created(2)]).toEqual([1, 1]);

    // vread of version 1 shows the permit, as it was, with both who gave it.
    const v1 = await read(`/fhir/Consent/${id}/_history/1`, 'auditor');
    expect(v1.status).toBe(200);
    expect(v1.etag).toBe('W/"1"');
    const permit = v1.body as Consent;
    expect(permit.meta?.versionId).toBe('1');
    expect(permit.provision?.type).toBe('permit');
    expect(permit.performer).toHaveLength(2);
    const v2 = (await read(`/fhir/Consent/${id}/_history/2`, 'auditor')).body as Consent;
    expect(v2.provision?.type).toBe('deny');
    expect((await read(`/fhir/Consent/${id}/_history/3`, 'auditor')).status).toBe(404);
    expect((await read(`/fhir/Consent/${id}/_history/x`, 'auditor')).status).toBe(404);

    // The history lists both, newest first.
    const history = await read(`/fhir/Consent/${id}/_history`, 'auditor');
    expect(history.status).toBe(200);
    const bundle = history.body as Bundle<Consent>;
    expect(bundle.type).toBe('history');
    expect(bundle.total).toBe(2);
    expect(bundle.entry!.map((e) => [e.resource!.meta?.versionId, e.resource!.provision?.type])).toEqual([
      ['2', 'deny'],
      ['1', 'permit'],
    ]);
  });

  it('pages the history by _count with next links, newest first, and takes _since', async () => {
    const { consent } = await permittedThenRefused();
    const id = consent.id!;
    const first = (await read(`/fhir/Consent/${id}/_history?_count=1`, 'auditor')).body as Bundle<Consent>;
    expect(first.type).toBe('history');
    expect(first.total).toBe(2);
    expect(first.entry!.map((e) => e.resource!.meta?.versionId)).toEqual(['2']);
    const next = first.link?.find((l) => l.relation === 'next')?.url;
    expect(next).toMatch(new RegExp(`/fhir/Consent/${id}/_history\\?.*_count=1`));
    const second = (await read(next!.slice(next!.indexOf('/fhir/')), 'auditor')).body as Bundle<Consent>;
    expect(second.entry!.map((e) => e.resource!.meta?.versionId)).toEqual(['1']);
    expect(second.link?.find((l) => l.relation === 'next')).toBeUndefined();

    // _since: the versions recorded at or after it; none after now.
    const v2At = first.entry![0]!.resource!.meta!.lastUpdated!;
    const since = (await read(`/fhir/Consent/${id}/_history?_since=${encodeURIComponent(v2At)}`, 'auditor'))
      .body as Bundle<Consent>;
    expect(since.entry!.map((e) => e.resource!.meta?.versionId)).toEqual(['2']);
    const future = (await read(`/fhir/Consent/${id}/_history?_since=2999-01-01T00:00:00Z`, 'auditor'))
      .body as Bundle<Consent>;
    expect(future.total).toBe(0);
    expect(future.entry ?? []).toEqual([]);

    for (const bad of ['_count=ten', '_since=yesterday', '_page=xyz']) {
      const refused = await read(`/fhir/Consent/${id}/_history?${bad}`, 'auditor');
      expect([bad, refused.status]).toEqual([bad, 400]);
      expect(JSON.stringify(refused.body)).toContain(bad.split('=')[0]!);
    }
  });

  it('lets only the roles and practices that may read the consent read its versions', async () => {
    const { consent } = await permittedThenRefused();
    const id = consent.id!;
    for (const path of [`/fhir/Consent/${id}/_history`, `/fhir/Consent/${id}/_history/1`]) {
      expect((await read(path, 'practice')).status).toBe(200);
      expect((await read(path, 'operator')).status).toBe(200);
      // Another practice's consent looks absent; a municipality may not read consents at all.
      expect((await read(path, 'otherPractice')).status).toBe(404);
      expect((await read(path, 'otherOperator')).status).toBe(404);
      expect((await read(path, 'municipality')).status).toBe(403);
    }
    // The refused read is on record, as a refused read of the consent itself is.
    await waitFor('the refused vread on record', async () => {
      const rows = await h.app.rt.ctx.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM audit_event WHERE outcome = '4' AND $1 = ANY(entities)`,
        [`Consent/${id}/_history/1`],
      );
      return (rows[0]?.n ?? 0) >= 2;
    });
  });

  it('shows the cited version in the child overview', async () => {
    const { bsn, consent } = await permittedThenRefused();
    const overview = (await read(`/audit/v1/overview?patient=${bsn}`, 'auditor')).body as {
      entries: { kind: string; consents?: string[]; consentVersions?: { id: string; version?: number }[] }[];
    };
    const disclosure = overview.entries.find((e) => e.kind === 'disclosure');
    expect(disclosure?.consents).toEqual([consent.id]);
    expect(disclosure?.consentVersions).toEqual([{ id: consent.id, version: 1 }]);
  });

  it('declares vread and history-instance for Consent in the CapabilityStatement', async () => {
    const statement = (await read('/fhir/metadata', 'auditor')).body as CapabilityStatement;
    const consent = statement.rest![0]!.resource!.find((r) => r.type === 'Consent')!;
    expect(consent.interaction!.map((i) => i.code)).toEqual(
      expect.arrayContaining(['read', 'vread', 'history-instance', 'search-type']),
    );
    expect(consent.readHistory).toBe(true);
    expect(consent.versioning).toBe('versioned');
  });
});
