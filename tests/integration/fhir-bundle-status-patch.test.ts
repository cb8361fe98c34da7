import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import type { Bundle, BundleEntry, Identifier, Parameters, Task } from '@medplum/fhirtypes';
import { buildRegistry } from '../../src/event/registry';
import { RESOURCE_ID_SYSTEM } from '../../mappings/municipality/shared/resource-identifier';
import { buildAgreement, buildDestination, MUNICIPALITY, PRACTICE_AGB } from '../helpers/builders';
import { cleanupTestEnv, createTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';
import { DeliveryReceiver } from '../helpers/delivery-receiver';

/** The stand-in HIS's port (this helper's range). */
const HIS_PORT = 19301;
const HIS_IDENTIFIER_SYSTEM = 'https://his.example.nl/fhir/NamingSystem/verwijzing';

interface HeldServiceRequest {
  id: string;
  identifier: Identifier[];
  status: string;
}

/**
 * A FHIR HIS as HAPI or Medplum behaves: it holds its ServiceRequests under its own ids and identifiers, applies a
 * transaction only when every entry finds what it addresses (a PATCH by `ServiceRequest/<id>` or by a conditional
 * `identifier=<system>|<value>` it holds; a Task's `focus.reference` must resolve), and else answers 404 (no id) or
 * 412 (no match of a conditional patch) for the whole transaction.
 */
class StandInHis {
  readonly held = new Map<string, HeldServiceRequest>();
  readonly tasks: Task[] = [];
  readonly answers: number[] = [];
  readonly patchUrls: string[] = [];
  private server: Server | undefined;

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const { status, body } = this.transaction(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Bundle);
        this.answers.push(status);
        res.writeHead(status, { 'content-type': 'application/fhir+json' });
        res.end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(HIS_PORT, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve));
  }

  private find(url: string): HeldServiceRequest | undefined {
    const byId = /^ServiceRequest\/([^/?]+)$/.exec(url);
    if (byId) {
      return this.held.get(byId[1]!);
    }
    const byIdentifier = /^ServiceRequest\?identifier=([^|]*)\|(.+)$/.exec(url);
    return [...this.held.values()].find((sr) =>
      sr.identifier.some((i) => i.system === byIdentifier?.[1] && i.value === byIdentifier?.[2]),
    );
  }

  private transaction(bundle: Bundle): { status: number; body: unknown } {
    const patches: [HeldServiceRequest, string][] = [];
    const tasks: Task[] = [];
    for (const entry of bundle.entry ?? ([] as BundleEntry[])) {
      const { method, url } = entry.request!;
      if (method === 'PATCH') {
        this.patchUrls.push(url);
        const target = this.find(url);
        if (!target) {
          return { status: url.includes('?') ? 412 : 404, body: { resourceType: 'OperationOutcome', issue: [] } };
        }
        const status = (entry.resource as Parameters).parameter?.[0]?.part?.find((p) => p.name === 'value');
        patches.push([target, status?.valueCode ?? '']);
      } else if (method === 'POST' && entry.resource?.resourceType === 'Task') {
        const task = entry.resource;
        const focus = task.focus?.reference;
        if (focus && !this.find(focus)) {
          return { status: 404, body: { resourceType: 'OperationOutcome', issue: [] } };
        }
        tasks.push(task);
      }
    }
    patches.forEach(([target, status]) => (target.status = status));
    this.tasks.push(...tasks);
    return { status: 200, body: { resourceType: 'Bundle', type: 'transaction-response', entry: [] } };
  }
}

/** The fhir-bundle fixture, with its own event and referral ids and the HIS's identifiers given. */
function referralBundle(eventId: string, referralId: string, identifier?: Identifier[]): Bundle {
  const fixture = path.join(__dirname, '../fixtures/fhir-bundle/referral-created-ggz.input.json');
  const bundle = JSON.parse(readFileSync(fixture, 'utf8')) as Bundle;
  bundle.identifier!.value = eventId;
  for (const entry of bundle.entry!) {
    if (entry.resource?.resourceType === 'ServiceRequest') {
      entry.resource.id = referralId;
      entry.fullUrl = `https://his.example.nl/fhir/ServiceRequest/${referralId}`;
      if (identifier) {
        entry.resource.identifier = identifier;
      }
    }
  }
  return bundle;
}

describe('a fhir-bundle HIS gets status updates addressed as it holds its ServiceRequest', () => {
  let municipality: DeliveryReceiver;
  let his: StandInHis;
  let app: TestApp;
  const testEnv = createTestEnv();

  beforeAll(async () => {
    municipality = await new DeliveryReceiver().start();
    his = await new StandInHis().start();
    app = await startTestApp({
      testEnv,
      registry: buildRegistry({
        agreements: [buildAgreement()],
        destinations: [buildDestination(municipality.url('/fhir'))],
        practices: [{ agb: PRACTICE_AGB, adapter: 'fhir-rest', baseUrl: `http://127.0.0.1:${HIS_PORT}/fhir` }],
      }),
    });
    // The fixture's child (14 at the referral): consent of the child and both parents.
    const consent = await app.request('/his/v1/events', {
      key: 'practice',
      json: {
        eventId: 'evt-consent-patchfix',
        eventType: 'consent.recorded',
        occurredAt: '2025-04-01T09:00:00+02:00',
        practice: { agb: PRACTICE_AGB },
        child: { id: 'pat-1002', bsn: '234567892', birthDate: '2010-11-20', municipality: MUNICIPALITY },
        guardians: [
          { id: 'rel-2003', relationship: 'mother', hasAuthority: true },
          { id: 'rel-2004', relationship: 'father', hasAuthority: true },
        ],
        consent: {
          id: 'cons-patchfix',
          recordedAt: '2025-04-01T09:00:00+02:00',
          decision: 'permit',
          recipient: { municipality: MUNICIPALITY },
          purposes: ['referral'],
          dataClasses: ['Patient', 'RelatedPerson', 'ServiceRequest'],
          period: { start: '2025-01-01' },
          givenBy: [
            { kind: 'child' },
            { kind: 'guardian', guardianId: 'rel-2003' },
            { kind: 'guardian', guardianId: 'rel-2004' },
          ],
        },
      },
    });
    expect(consent.status).toBe(202);
  });

  afterAll(async () => {
    await app.close();
    await Promise.all([municipality.stop(), his.stop()]);
    await cleanupTestEnv(testEnv);
  });

  /** Sends the referral Bundle, waits for the municipality to have it, and rejects it; waits for the HIS's answer. */
  async function rejectReferral(bundle: Bundle): Promise<{ feedbackId: string }> {
    const res = await app.request('/his/v1/events', {
      key: 'practice',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify(bundle),
      method: 'POST',
    });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    await waitFor(`referral ${id} delivered`, async () => {
      const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [id]);
      return row?.state === 'delivered';
    });
    const answered = his.answers.length;
    const status = await app.request(`/municipality/v1/referrals/${id}/status`, {
      key: 'municipality',
      json: { status: 'rejected', reasonCode: 'other', reason: 'Past beter bij het wijkteam' },
    });
    expect(status.status).toBe(202);
    const feedbackId = ((await status.json()) as { id: string }).id;
    await waitFor('the HIS to answer the status update', () => Promise.resolve(his.answers.length > answered));
    return { feedbackId };
  }

  const feedbackState = async (id: string) =>
    (await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM feedback WHERE id = $1', [id]))[0]?.state;

  it('patches ServiceRequest/<its id> and points the Task at it when the HIS sent an id and no identifier', async () => {
    his.held.set('ref-7001', { id: 'ref-7001', identifier: [], status: 'active' });
    const { feedbackId } = await rejectReferral(referralBundle('evt-7001', 'ref-7001'));

    expect(his.answers.at(-1)).toBe(200);
    expect(his.patchUrls.at(-1)).toBe('ServiceRequest/ref-7001');
    expect(his.held.get('ref-7001')!.status).toBe('revoked');
    const task = his.tasks.at(-1)!;
    expect(task.focus).toMatchObject({ type: 'ServiceRequest', reference: 'ServiceRequest/ref-7001' });
    await waitFor('the status update delivered', async () => (await feedbackState(feedbackId)) === 'delivered');
  });

  it('patches by the HIS’s own identifier when it sent one', async () => {
    const own = { system: HIS_IDENTIFIER_SYSTEM, value: 'V-2025-0042' };
    his.held.set('ref-7002', { id: 'ref-7002', identifier: [own], status: 'active' });
    const { feedbackId } = await rejectReferral(referralBundle('evt-7002', 'ref-7002', [own]));

    expect(his.answers.at(-1)).toBe(200);
    expect(his.patchUrls.at(-1)).toBe(`ServiceRequest?identifier=${HIS_IDENTIFIER_SYSTEM}|V-2025-0042`);
    expect(his.held.get('ref-7002')!.status).toBe('revoked');
    expect(his.tasks.at(-1)!.focus?.identifier).toEqual(own);
    await waitFor('the status update delivered', async () => (await feedbackState(feedbackId)) === 'delivered');
  });
  /** The ServiceRequests the municipality received for the HIS's referral `referralId`, in the order received. */
  function receivedServiceRequests(referralId: string): { request?: { url: string }; identifier: Identifier[] }[] {
    return municipality.hits.flatMap((h) =>
      ((h.body as Bundle | undefined)?.entry ?? []).flatMap((e) =>
        e.resource?.resourceType === 'ServiceRequest' &&
        e.resource.identifier?.some((i) => i.system === `urn:agb:${PRACTICE_AGB}:referral` && i.value === referralId)
          ? [{ request: e.request, identifier: e.resource.identifier }]
          : [],
      ),
    );
  }

  it('forwards the HIS’s own identifier to the municipality, after the one it is addressed by', async () => {
    const own = { system: HIS_IDENTIFIER_SYSTEM, value: 'V-2025-0043' };
    his.held.set('ref-7003', { id: 'ref-7003', identifier: [own], status: 'active' });
    await rejectReferral(referralBundle('evt-7003', 'ref-7003', [own]));

    const [received] = receivedServiceRequests('ref-7003');
    expect(received?.identifier.filter((i) => i.system !== RESOURCE_ID_SYSTEM)).toEqual([
      { system: `urn:agb:${PRACTICE_AGB}:referral`, value: 'ref-7003' },
      own,
    ]);
    // The conditional update addresses the municipality's copy as before, so a correction or a cancellation finds it.
    expect(received?.request?.url).toMatch(new RegExp(`^ServiceRequest\\?identifier=${RESOURCE_ID_SYSTEM}\\|`));
  });

  it('lets the HIS find its Tasks by the focus it was sent: its identifier, its value alone, its ServiceRequest id', async () => {
    const own = { system: HIS_IDENTIFIER_SYSTEM, value: 'V-2025-0044' };
    his.held.set('ref-7004', { id: 'ref-7004', identifier: [own], status: 'active' });
    const { feedbackId } = await rejectReferral(referralBundle('evt-7004', 'ref-7004', [own]));
    const focus = his.tasks.at(-1)!.focus!;
    expect(focus).toMatchObject({ reference: 'ServiceRequest/ref-7004', identifier: own });

    for (const query of [
      `focus:identifier=${encodeURIComponent(`${own.system}|${own.value}`)}`,
      `focus:identifier=${own.value}`,
      `focus=${encodeURIComponent(focus.reference!)}`,
    ]) {
      const res = await app.request(`/fhir/Task?${query}`, { key: 'practice' });
      expect([query, res.status]).toEqual([query, 200]);
      const found = (await res.json()) as Bundle<Task>;
      expect([query, found.entry?.map((e) => e.resource?.id)]).toEqual([query, [feedbackId]]);
    }
  });
});
