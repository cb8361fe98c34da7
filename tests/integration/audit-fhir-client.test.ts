import type Client from 'fhir-kit-client';
import { disclosure, SYSTEM_WORKER } from '../../src/audit/audit-events';
import { MUNICIPALITY, PRACTICE_AGB } from '../helpers/builders';
import { asSearchset, fhirClient } from '../helpers/fhir-client';
import { useTestApp } from '../helpers/test-runtime';

/** A FHIR client written by others talks to /fhir as to any FHIR server: search, then follow the next links. */
describe('a third-party FHIR client (fhir-kit-client) on /fhir/AuditEvent', () => {
  const app = useTestApp();
  const seeded: string[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 12; i++) {
      const e = disclosure({
        actor: SYSTEM_WORKER,
        outcome: '0',
        patientBsn: '111222333',
        inboxId: `fkc-${i}`,
        municipality: MUNICIPALITY,
        destination: 'gm0226',
        purpose: 'referral',
        resources: ['Patient/p'],
        consentIds: ['fkc-consent'],
      });
      seeded.push(e.id!);
      await app.rt.ctx.audit.append(PRACTICE_AGB, {
        ...e,
        recorded: new Date(Date.UTC(2025, 5, 1, 9, i)).toISOString(),
      });
    }
  });

  function client(key: 'auditor' | 'practice' | 'otherPractice'): Client {
    return fhirClient(app, key);
  }

  it('searches and pages through every result with nextPage', async () => {
    const fhir = client('auditor');
    const pages = [
      asSearchset(
        await fhir.search({ resourceType: 'AuditEvent', searchParams: { entity: 'Consent/fkc-consent', _count: 5 } }),
      ),
    ];
    for (;;) {
      // The client answers undefined when a Bundle has no next link.
      const next: unknown = await fhir.nextPage({ bundle: pages.at(-1)! });
      if (!next) {
        break;
      }
      pages.push(asSearchset(next));
      expect(pages.length).toBeLessThan(10);
    }
    expect(pages.map((p) => p.entry?.length ?? 0)).toEqual([5, 5, 2]);
    expect(pages[0]).toEqual(expect.objectContaining({ resourceType: 'Bundle', type: 'searchset', total: 12 }));
    expect(pages.flatMap((p) => (p.entry ?? []).map((e) => e.resource.id))).toEqual(seeded);
    // And back again from the last page.
    const previous = asSearchset(await fhir.prevPage({ bundle: pages[2]! }));
    expect(previous.entry?.map((e) => e.resource.id)).toEqual(seeded.slice(5, 10));
  });

  it('reads one AuditEvent by id, and finds nothing of another practice', async () => {
    const read: unknown = await client('auditor').read({ resourceType: 'AuditEvent', id: seeded[3]! });
    expect(read).toEqual(expect.objectContaining({ resourceType: 'AuditEvent', id: seeded[3] }));
    const other = asSearchset(
      await client('otherPractice').search({
        resourceType: 'AuditEvent',
        searchParams: { entity: 'Consent/fkc-consent' },
      }),
    );
    expect(other.total).toBe(0);
    expect(other.entry ?? []).toEqual([]);
  });
});
