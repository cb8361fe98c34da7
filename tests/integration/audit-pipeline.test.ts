import { createHash } from 'node:crypto';
import type { AuditEvent } from '@medplum/fhirtypes';
import { canonicalizeJcs } from '../../src/audit/chain';
import { buildRegistry } from '../../src/event/registry';
import { verifyTenant } from '../../src/audit/verify';
import {
  buildAgreement,
  buildDestination,
  buildReferralEvent,
  MUNICIPALITY,
  OTHER_PRACTICE_AGB,
  PRACTICE_AGB,
} from '../helpers/builders';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

const BSN_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/bsn';
const MUNICIPALITY_TOKEN = `https://jeugdbrug.nl/fhir/NamingSystem/cbs-gemeentecode|${MUNICIPALITY}`;

/** The child's BSN in a built event (the builder draws a fresh one each time). */
const bsnOf = (event: Record<string, unknown>): string => (event.child as { bsn: string }).bsn;

/** One AuditEvent reduced to what these tests check. */
interface Trail {
  readonly seq: number;
  readonly kind: string;
  readonly outcome: string;
  readonly outcomeDesc: string | undefined;
  readonly entities: string[];
  readonly agents: string[];
  readonly description: string;
  /** What the Agreement entity says of the agreement: its version and the digest of its content. */
  readonly agreement: string | undefined;
}

describe('audit trail of the pipeline', () => {
  let receiver: TestReceiver;
  let app: TestApp;

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({
      registry: buildRegistry({
        agreements: [
          buildAgreement(),
          // The other practice's agreement covers monitoring only: its referrals are denied.
          buildAgreement({ id: 'monitoring-only', practice: { agb: OTHER_PRACTICE_AGB }, purposes: ['monitoring'] }),
        ],
        destinations: [buildDestination(receiver.url)],
      }),
    });
  });

  afterAll(async () => {
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  beforeEach(() => {
    receiver.mode = { kind: 'ok' };
  });

  /** Every AuditEvent about one inbox event, in chain order. */
  async function trailOf(inboxId: string): Promise<Trail[]> {
    const rows = await app.rt.ctx.db.query<{ seq: number; resource: AuditEvent; agents: string[]; entities: string[] }>(
      `SELECT seq::int AS seq, resource::json AS resource, agents, entities FROM audit_event WHERE entities @> ARRAY[$1] ORDER BY seq`,
      [`inbox/${inboxId}`],
    );
    return rows.map(({ seq, resource: e, agents, entities }) => ({
      seq,
      kind: `${e.type.code}/${e.subtype?.[0]?.code ?? ''}`,
      outcome: e.outcome ?? '',
      outcomeDesc: e.outcomeDesc,
      entities,
      agents,
      description: e.entity?.find((x) => x.what?.reference === `inbox/${inboxId}`)?.description ?? '',
      agreement: e.entity?.find((x) => x.what?.reference?.startsWith('Agreement/'))?.description,
    }));
  }

  async function submit(
    event: Record<string, unknown>,
    key: 'practice' | 'otherPractice' = 'practice',
  ): Promise<string> {
    const res = await app.request('/his/v1/events', { json: event, key });
    const body = (await res.json()) as { receipts: { id: string; status: string }[] };
    expect(body.receipts[0]?.status).toBe('accepted');
    return body.receipts[0]!.id;
  }

  // Read from the inbox, not through GET /his/v1/events/{id}: that read is itself audited in the event's trail.
  async function reachesState(id: string, state: string): Promise<void> {
    await waitFor(`event ${id} to reach ${state}`, async () => {
      const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [id]);
      return row?.state === state;
    });
  }

  const trailUntil = (id: string, what: string, done: (t: Trail[]) => boolean): Promise<Trail[]> =>
    waitFor(`audit trail of ${id} to hold ${what}`, async () => {
      const t = await trailOf(id);
      return done(t) ? t : undefined;
    });

  it('records receipt, a permit at map and at deliver, and a successful disclosure for a delivered referral', async () => {
    const event = buildReferralEvent();
    const bsn = bsnOf(event);
    const id = await submit(event);
    await reachesState(id, 'delivered');
    const trail = await trailUntil(id, 'a disclosure', (t) => t.some((x) => x.kind === '110106/disclose'));
    expect(trail.map((t) => `${t.kind}:${t.outcome}`)).toEqual([
      'rest/create:0',
      '110113/AuthZ-Consent:0',
      '110113/AuthZ-Consent:0',
      '110106/disclose:0',
    ]);
    const [received, atMap, atDeliver, disclosed] = trail;
    expect(received!.entities).toContain(`${BSN_SYSTEM}|${bsn}`);
    expect(atMap!.description).toMatch(/^decision at map: permit/);
    expect(atDeliver!.description).toMatch(/^decision at deliver: permit/);
    for (const decision of [atMap!, atDeliver!]) {
      expect(decision.entities).toEqual(expect.arrayContaining([`${BSN_SYSTEM}|${bsn}`, 'Agreement/test-agreement']));
      expect(decision.agents).toContain(MUNICIPALITY_TOKEN);
    }
    expect(disclosed!.entities).toEqual(
      expect.arrayContaining([
        `${BSN_SYSTEM}|${bsn}`,
        'Agreement/test-agreement',
        expect.stringMatching(/^Patient\//),
        expect.stringMatching(/^ServiceRequest\//),
      ]),
    );
    expect(disclosed!.agents).toEqual(
      expect.arrayContaining([MUNICIPALITY_TOKEN, 'https://jeugdbrug.nl/principal|system/worker']),
    );
    // The agreement's content, not only its version: an edit without a new version shows as another digest.
    const agreement = app.rt.ctx.registry.agreements.find((a) => a.id === 'test-agreement');
    const digest = createHash('sha256').update(canonicalizeJcs(agreement), 'utf8').digest('hex');
    for (const entry of [atMap!, atDeliver!, disclosed!]) {
      expect(entry.agreement).toBe(`version 1, sha256:${digest}`);
    }
    expect(await verifyTenant(app.rt.ctx.db, PRACTICE_AGB)).toEqual(expect.objectContaining({ ok: true }));
  });

  it('records a deny with outcome 4 and its reasons, and no disclosure, when the agreement does not cover referrals', async () => {
    const event = buildReferralEvent({ practice: { agb: OTHER_PRACTICE_AGB } });
    const bsn = bsnOf(event);
    const id = await submit(event, 'otherPractice');
    await reachesState(id, 'denied');
    const trail = await trailUntil(id, 'a decision', (t) => t.some((x) => x.kind === '110113/AuthZ-Consent'));
    expect(trail.map((t) => `${t.kind}:${t.outcome}`)).toEqual(['rest/create:0', '110113/AuthZ-Consent:4']);
    const deny = trail[1]!;
    expect(deny.outcomeDesc).toContain('purpose-not-covered');
    expect(deny.description).toMatch(/^decision at map: deny/);
    expect(deny.entities).toContain(`${BSN_SYSTEM}|${bsn}`);
    const [tenant] = await app.rt.ctx.db.query<{ tenant: string }>(
      'SELECT tenant FROM audit_event WHERE entities @> ARRAY[$1]',
      [`inbox/${id}`],
    );
    expect(tenant!.tenant).toBe(OTHER_PRACTICE_AGB);
  });

  it('records a failed disclosure with outcome 8 for a dead letter, then the replay and the disclosure after it', async () => {
    receiver.mode = { kind: 'status', status: 422 };
    const id = await submit(buildReferralEvent());
    await reachesState(id, 'dead');
    const dead = await trailUntil(id, 'a failed disclosure', (t) => t.some((x) => x.kind === '110106/disclose'));
    expect(dead.map((t) => `${t.kind}:${t.outcome}`)).toEqual([
      'rest/create:0',
      '110113/AuthZ-Consent:0',
      '110113/AuthZ-Consent:0',
      '110106/disclose:8',
    ]);
    expect(dead[3]!.outcomeDesc).toContain('422');

    receiver.mode = { kind: 'ok' };
    const list = (await (await app.request('/admin/v1/dead-letters', { key: 'operator' })).json()) as {
      deadLetters: { id: string; inboxId: string }[];
    };
    const letter = list.deadLetters.find((d) => d.inboxId === id)!;
    expect(
      (await app.request(`/admin/v1/dead-letters/${letter.id}/replay`, { key: 'operator', method: 'POST' })).status,
    ).toBe(202);
    await reachesState(id, 'delivered');
    const trail = await trailUntil(
      id,
      'a second disclosure',
      (t) => t.filter((x) => x.kind === '110106/disclose').length === 2,
    );
    // The operator's read of the dead-letter list (operators' lists are audited), then the replay it led to.
    expect(trail.slice(4).map((t) => `${t.kind}:${t.outcome}`)).toEqual([
      'rest/search-type:0',
      '110100/replay:0',
      '110113/AuthZ-Consent:0',
      '110106/disclose:0',
    ]);
    expect(trail[4]!.agents).toContain('https://jeugdbrug.nl/principal|api-key:operator');
    expect(trail[5]!.agents).toContain('https://jeugdbrug.nl/principal|api-key:operator');
  });

  it('gives the child an overview of its disclosures in order, with decisions, recipient and data types', async () => {
    const bsn = '222222220';
    const child = (n: number) => ({ ...(buildReferralEvent().child as object), id: `child-overview-${n}`, bsn });
    const first = await submit(buildReferralEvent({ child: child(1) }));
    await reachesState(first, 'delivered');
    const second = await submit(buildReferralEvent({ child: child(2) }));
    await reachesState(second, 'delivered');
    await trailUntil(second, 'a disclosure', (t) => t.some((x) => x.kind === '110106/disclose'));

    const res = await app.request(`/audit/v1/overview?patient=${bsn}`, { key: 'auditor' });
    expect(res.status).toBe(200);
    const overview = (await res.json()) as {
      entries: { kind: string; action: string; at: string; event: string; recipient: unknown; dataTypes?: string[] }[];
    };
    const disclosures = overview.entries.filter((e) => e.kind === 'disclosure');
    expect(disclosures.map((d) => d.event)).toEqual([`inbox/${first}`, `inbox/${second}`]);
    expect(disclosures[0]).toEqual(
      expect.objectContaining({
        action: 'disclose',
        recipient: { kind: 'municipality', code: MUNICIPALITY, name: 'Overbetuwe' },
        dataTypes: expect.arrayContaining(['Patient', 'ServiceRequest']),
        purpose: 'referral',
        agreement: { id: 'test-agreement', version: 1 },
      }),
    );
    expect(overview.entries.map((e) => `${e.kind}:${e.action}:${e.event}`)).toEqual([
      `decision:permit:inbox/${first}`,
      `decision:permit:inbox/${first}`,
      `disclosure:disclose:inbox/${first}`,
      `decision:permit:inbox/${second}`,
      `decision:permit:inbox/${second}`,
      `disclosure:disclose:inbox/${second}`,
    ]);
    const times = overview.entries.map((e) => e.at);
    expect([...times].sort()).toEqual(times);
  });
});
