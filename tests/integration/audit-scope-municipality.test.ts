import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import {
  type AuditActor,
  consentDecision,
  dataAccess,
  disclosure,
  organisationAgent,
  SYSTEM_WORKER,
} from '../../src/audit/audit-events';
import { MUNICIPALITY, PRACTICE_AGB } from '../helpers/builders';
import { useTestApp } from '../helpers/test-runtime';

const BSN = '123456782';
const SEEDED = `patient=${BSN}&date=lt2026`;
const recorded = (hour: number): string => new Date(Date.UTC(2025, 4, 1, hour)).toISOString();

/** An API principal's actor, as request-context.ts makes it. */
function actor(userId: string, role: AuditActor['role'], onBehalfOf?: AuditActor['onBehalfOf']): AuditActor {
  return { userId, role, person: false, accessPoint: '127.0.0.1', onBehalfOf };
}

describe('a municipality’s AuditEvent search: what it received and what it did, nothing more', () => {
  const app = useTestApp();
  const ids: Record<'disclosed' | 'ownRead' | 'operatorRead' | 'auditorRead' | 'practiceSearch', string> = {
    disclosed: '',
    ownRead: '',
    operatorRead: '',
    auditorRead: '',
    practiceSearch: '',
  };

  beforeAll(async () => {
    const audit = app.rt.ctx.audit;
    const sender = [organisationAgent('destination', 'municipality', MUNICIPALITY)];
    // A read of the referral's Task: every one names the municipality that sent it (task-search.ts sendersOf).
    const taskRead = (who: AuditActor): AuditEvent =>
      dataAccess({
        actor: who,
        interaction: 'read',
        outcome: '0',
        query: '/fhir/Task/5d7e4f3a-0000-4000-8000-000000000001',
        patientBsn: BSN,
        target: 'Task/5d7e4f3a-0000-4000-8000-000000000001',
        related: ['inbox/scope-1'],
        extraAgents: sender,
      });
    const rows: [keyof typeof ids, AuditEvent][] = [
      [
        'disclosed',
        disclosure({
          actor: SYSTEM_WORKER,
          outcome: '0',
          patientBsn: BSN,
          inboxId: 'scope-1',
          municipality: MUNICIPALITY,
          destination: 'gm0226',
          purpose: 'referral',
          resources: ['Patient/pa', 'ServiceRequest/sr-scope'],
        }),
      ],
      [
        'ownRead',
        taskRead(actor('api-key:municipality', 'municipality', { kind: 'municipality', code: MUNICIPALITY })),
      ],
      ['operatorRead', taskRead(actor('api-key:operator', 'operator'))],
      ['auditorRead', taskRead(actor('api-key:auditor', 'auditor'))],
      ['practiceSearch', taskRead(actor('api-key:practice', 'practice', { kind: 'practice', code: PRACTICE_AGB }))],
    ];
    for (const [i, [name, e]] of rows.entries()) {
      ids[name] = e.id!;
      await audit.append(PRACTICE_AGB, { ...e, recorded: recorded(8 + i) });
    }
  });

  async function idsSeenBy(key: 'municipality' | 'otherMunicipality' | 'auditor'): Promise<string[]> {
    const res = await app.request(`/fhir/AuditEvent?${SEEDED}`, { key });
    expect(res.status).toBe(200);
    return ((await res.json()) as Bundle<AuditEvent>).entry?.map((e) => e.resource!.id!) ?? [];
  }

  it('shows the disclosure to it and its own read, not the operator’s, the auditor’s or the practice’s reads', async () => {
    expect(await idsSeenBy('municipality')).toEqual([ids.disclosed, ids.ownRead]);
  });

  it('leaves the auditor every row, and another municipality none', async () => {
    expect(new Set(await idsSeenBy('auditor'))).toEqual(new Set(Object.values(ids)));
    expect(await idsSeenBy('otherMunicipality')).toEqual([]);
  });
});

describe('an auditor of a municipality alone (its own privacy officer): what the municipality sees, nothing more', () => {
  const app = useTestApp();
  const OTHER = 'GM0344';
  const CHILD = '123456794';
  const named: Record<string, string> = {};

  beforeAll(async () => {
    const audit = app.rt.ctx.audit;
    const municipalityActor = actor('api-key:othermunicipality', 'municipality', { kind: 'municipality', code: OTHER });
    const base = { patientBsn: CHILD, inboxId: 'scope-fg-1', municipality: OTHER, destination: 'gm0344' };
    const rows: [string, AuditEvent][] = [
      [
        'disclosed',
        disclosure({ ...base, actor: SYSTEM_WORKER, outcome: '0', purpose: 'referral', resources: ['Patient/p'] }),
      ],
      [
        'failedDisclosure',
        disclosure({ ...base, actor: SYSTEM_WORKER, outcome: '8', purpose: 'referral', resources: [] }),
      ],
      // An objection to monitoring alone, and a referral denied after a withdrawal: never the municipality's to know.
      ...(['monitoring', 'referral'] as const).map((purpose): [string, AuditEvent] => [
        `denied ${purpose}`,
        consentDecision({
          ...base,
          actor: SYSTEM_WORKER,
          permit: false,
          reasons: purpose === 'monitoring' ? 'consent-denied' : 'consent-withdrawn',
          consentIds: ['c-1'],
          purpose,
          stage: 'map',
        }),
      ]),
      [
        'ownRead',
        dataAccess({
          actor: municipalityActor,
          interaction: 'read',
          outcome: '0',
          query: '/municipality/v1/referrals/r-1/status',
          patientBsn: CHILD,
          target: 'ServiceRequest/sr-1',
          related: ['inbox/scope-fg-1'],
        }),
      ],
      [
        'practiceRead',
        dataAccess({
          actor: actor('api-key:practice', 'practice', { kind: 'practice', code: PRACTICE_AGB }),
          interaction: 'read',
          outcome: '0',
          query: '/fhir/Task/t-1',
          patientBsn: CHILD,
          target: 'Task/t-1',
          related: ['inbox/scope-fg-1'],
          extraAgents: [organisationAgent('destination', 'municipality', OTHER)],
        }),
      ],
    ];
    for (const [i, [name, e]] of rows.entries()) {
      named[e.id!] = name;
      await audit.append(PRACTICE_AGB, { ...e, recorded: recorded(8 + i) });
    }
  });

  async function seenBy(key: 'otherMunicipality' | 'otherMunicipalityAuditor'): Promise<string[]> {
    const res = await app.request(`/fhir/AuditEvent?patient=${CHILD}&date=lt2026`, { key });
    expect(res.status).toBe(200);
    return (((await res.json()) as Bundle<AuditEvent>).entry ?? []).map((e) => named[e.resource!.id!] ?? '?');
  }

  it('finds in an AuditEvent search the disclosure and the municipality’s own read, no consent decision', async () => {
    expect(await seenBy('otherMunicipality')).toEqual(['disclosed', 'ownRead']);
    expect(await seenBy('otherMunicipalityAuditor')).toEqual(['disclosed', 'ownRead']);
  });

  it('lists in the child’s overview and its hand-over no decision, failed disclosure or other party’s read', async () => {
    const res = await app.request('/audit/v1/overview', {
      key: 'otherMunicipalityAuditor',
      method: 'POST',
      json: { patient: CHILD },
    });
    expect(res.status).toBe(200);
    const overview = (await res.json()) as {
      entries: { kind: string; purpose?: string }[];
      accesses: { user: string; action: string }[];
    };
    expect(overview.entries.map((e) => `${e.kind} ${e.purpose ?? ''}`)).toEqual(['disclosure referral']);
    // The municipality's own read, and its own search of the test above; not the practice's read.
    const users = new Set(overview.accesses.map((a) => a.user));
    expect([...users]).toEqual(['api-key:othermunicipality']);
    expect(overview.accesses.map((a) => a.action)).toContain('read');
    const csv = await app.request('/audit/v1/overview', {
      key: 'otherMunicipalityAuditor',
      method: 'POST',
      json: { patient: CHILD, format: 'csv' },
    });
    expect(csv.status).toBe(200);
    const text = await csv.text();
    expect(text).not.toMatch(/consent-denied|consent-withdrawn|monitoring/);
  });
});
