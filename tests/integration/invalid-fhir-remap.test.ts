import fs from 'node:fs';
import type { HisDialect } from '../../src/contracts/his-dialect';
import type * as HisDialects from '../../mappings/his/index';
import { buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { useAppWithReceiver } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * A HIS dialect whose mapping produces invalid FHIR (xnewcomer F4): here generic-json with a defect that writes the
 * child's BSN into Patient.birthDate. The practice is answered `accepted` (FHIR validation is the map stage's); until
 * 6 December the event then ended `failed` with "mapping failed" and nothing else, logged at info, and nothing could
 * bring it back: a resend is a duplicate, redecide takes only denied events, and it is no dead letter.
 */
const mockDefect = { on: true };

jest.mock('../../mappings/his/index', () => {
  const actual = jest.requireActual<typeof HisDialects>('../../mappings/his/index');
  const json = actual.DIALECTS.find((d) => d.name === 'generic-json')!;
  const defective: HisDialect = {
    ...json,
    name: 'defective-json',
    claims: () => false,
    map: (record) => {
      const event = json.map(record);
      if (!mockDefect.on) {
        return event;
      }
      const resources = event.resources.map((r) =>
        r.resourceType === 'Patient' ? { ...r, birthDate: `${event.patient.bsn}-99` } : r,
      );
      return { ...event, resources };
    },
  };
  const DIALECTS = [...actual.DIALECTS, defective];
  return { ...actual, DIALECTS, tryGetDialect: (name: string) => DIALECTS.find((d) => d.name === name) };
});

interface EventView {
  state: string;
  stateReason: string | null;
  history: { state: string; reason: string | null }[];
}

describe('an event whose dialect produced invalid FHIR', () => {
  const ctx = useAppWithReceiver();

  afterEach(() => {
    mockDefect.on = true;
  });

  const view = async (id: string): Promise<EventView> =>
    (await (await ctx.app.request(`/his/v1/events/${id}`)).json()) as EventView;
  const reaches = (id: string, state: string) =>
    waitFor(`event ${id} to reach ${state}`, async () => (await view(id)).state === state);
  const remap = (id: string, key: 'operator' | 'practice' = 'operator') =>
    ctx.app.request(`/admin/v1/events/${id}/remap`, { key, method: 'POST' });

  async function submitDefective(): Promise<{ id: string; bsn: string }> {
    const event = buildReferralEvent();
    const res = await ctx.app.request('/his/v1/events?dialect=defective-json', { json: event });
    expect(res.status).toBe(202);
    const { receipts } = (await res.json()) as { receipts: { id: string; status: string }[] };
    expect(receipts[0]!.status).toBe('accepted');
    return { id: receipts[0]!.id, bsn: (event.child as { bsn: string }).bsn };
  }

  it('fails naming the dialect and the validator’s issues (codes and paths, no values), logged as a warning', async () => {
    const { id, bsn } = await submitDefective();
    await reaches(id, 'failed');
    const v = await view(id);
    expect(v.stateReason).toMatch(/^mapping failed: dialect defective-json produced invalid FHIR: /);
    expect(v.stateReason).toContain('Patient.birthDate');
    expect(v.history.at(-1)).toEqual(expect.objectContaining({ state: 'failed', reason: v.stateReason }));
    expect(JSON.stringify(v)).not.toContain(bsn);
    const lines = fs
      .readFileSync(ctx.app.testEnv.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes(id));
    const warning = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.level === 'warn');
    expect(warning).toEqual(
      expect.objectContaining({
        dialect: 'defective-json',
        eventId: id,
        issues: expect.arrayContaining([expect.objectContaining({ expression: ['Patient.birthDate'] })]),
      }),
    );
    expect(lines.join('\n')).not.toContain(bsn);
  });

  it('is mapped again from its stored record on an operator’s remap once the dialect is fixed, and delivered', async () => {
    const { id, bsn } = await submitDefective();
    await reaches(id, 'failed');
    // Only operators may; the practice is refused.
    expect((await remap(id, 'practice')).status).toBe(403);
    // Still defective: refused naming the paths, the event stays failed.
    const refused = await remap(id);
    expect(refused.status).toBe(422);
    const outcome = await refused.text();
    expect(outcome).toContain('Patient.birthDate');
    expect(outcome).not.toContain(bsn);
    expect((await view(id)).state).toBe('failed');

    mockDefect.on = false;
    const res = await remap(id);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ id, result: 'remapped' });
    await reaches(id, 'delivered');
    expect((await view(id)).history.map((h) => h.state)).toEqual([
      'received',
      'failed',
      'received',
      'mapped',
      'decided',
      'delivered',
    ]);
    // Audited as an operator action on the event, each time asked: the refused one as refused (outcome 4; until
    // 6 December it was recorded as done, outcome 0, before the checks), the one done as done. A second remap
    // finds nothing failed.
    const audits = await ctx.app.rt.ctx.db.query<{ outcome: string }>(
      `SELECT outcome FROM audit_event WHERE tenant = $1 AND resource::text LIKE '%"code":"remap"%'
         AND resource::text LIKE $2 ORDER BY seq`,
      [PRACTICE_AGB, `%inbox/${id}%`],
    );
    expect(audits.map((a) => a.outcome)).toEqual(['4', '0']);
    const again = await remap(id);
    expect(again.status).toBe(409);
    expect(await again.text()).toContain('not failed');
  });

  it('answers 404 for an unknown event', async () => {
    expect((await remap('7d3c0d2e-8f5b-4c4e-9a51-0c2f7a1b9e11')).status).toBe(404);
    expect((await remap('not-a-uuid')).status).toBe(404);
  });
});
