import { randomBytes } from 'node:crypto';
import { consentDecision, disclosure, SYSTEM_WORKER } from '../../src/audit/audit-events';
import { AuditWriter } from '../../src/audit/writer';
import type { Principal } from '../../src/access/principal';
import { openDb, type Db } from '../../src/kernel/db';
import { migrate } from '../../src/kernel/migrate';
import { parseAuditSearch } from '../../src/reports/audit-search/search-params';
import { searchAuditEvents } from '../../src/reports/audit-search/search';
import { MUNICIPALITY, PRACTICE_AGB } from '../helpers/builders';
import { statementsOf, type RecordedStatement } from '../helpers/recorded-statements';
import { dropSchema, TEST_DATABASE_URL } from '../helpers/test-runtime';

/**
 * Audit searches that a long audit trail must not turn into a read of all of it. An auditor who sees every chain
 * asks for the failed or refused accesses (few rows among many, found through an index of those rows only,
 * migration 020), or for what concerned one organisation or child, named by a bare identifier value as the console's
 * search form sends it (found through the index of agents or entities): not by reading every row and keeping the few.
 */

const schema = `t_audit_plans_${randomBytes(5).toString('hex')}`;
let db: Db;

const auditor: Principal = {
  id: 'api-key:auditor',
  role: 'auditor',
  practices: ['*'],
  municipalities: ['*'],
  via: 'api-key',
};

/** The plan of each statement with its own parameters, as text, beside the statement. */
async function plansOf(statements: readonly RecordedStatement[]): Promise<{ sql: string; plan: string }[]> {
  const plans: { sql: string; plan: string }[] = [];
  for (const { sql, params } of statements) {
    const rows = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params);
    plans.push({ sql, plan: rows.map((r) => r['QUERY PLAN']).join('\n') });
  }
  return plans;
}

beforeAll(async () => {
  db = await openDb({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2, dataDir: '' });
  await migrate(db);
  // A year of a practice's audit trail: disclosures that went through, and now and then a refused decision (4) or a
  // failed disclosure (8). Written through the chain writer, then repeated further back in time by SQL, which is
  // quicker and all the planner looks at.
  const writer = new AuditWriter(db);
  const appended: Promise<void>[] = [];
  for (let i = 0; i < 200; i++) {
    const common = {
      actor: SYSTEM_WORKER,
      patientBsn: i === 29 ? '999999990' : '111111110',
      inboxId: `plans-${i}`,
      // Now and then to a municipality the practice seldom refers to.
      municipality: i === 13 ? 'GM0344' : MUNICIPALITY,
    };
    appended.push(
      writer.append(
        PRACTICE_AGB,
        i % 50 === 7
          ? consentDecision({
              ...common,
              permit: false,
              reasons: 'consent-missing',
              consentIds: [],
              purpose: 'referral',
              stage: 'map',
            })
          : disclosure({
              ...common,
              outcome: i % 100 === 42 ? '8' : '0',
              destination: 'gm0226',
              purpose: 'referral',
              resources: ['Patient/pa'],
              consentIds: [],
            }),
      ),
    );
  }
  await Promise.all(appended);
  await db.query(
    `INSERT INTO audit_event
       SELECT tenant, seq - k * 1000, gen_random_uuid(), recorded - k * interval '1 day', type, subtype, action, outcome,
         patient_bsn, agents, entities, resource, prev_hash, hash, chain_format
       FROM audit_event, generate_series(1, 150) k`,
  );
  await db.exec('ANALYZE audit_event');
});

afterAll(async () => {
  await db?.close();
  await dropSchema(schema);
});

describe('an audit search over every chain', () => {
  it.each([
    ['for failed or refused accesses', 'outcome=8', 'audit_event_failed'],
    ['for failed or refused accesses, newest first', 'outcome=4&_sort=-date', 'audit_event_failed'],
    ['for an organisation named by its code alone', 'agent=GM0344', 'audit_event_agents'],
    ['for a child named by its BSN alone', 'entity=999999990', 'audit_event_entities'],
  ])('%s (%s) reads an index of the rows asked for, not the whole audit trail', async (_what, query, index) => {
    let found = 0;
    const statements = await statementsOf(db, async (rec) => {
      found = (await searchAuditEvents(rec, auditor, parseAuditSearch(new URLSearchParams(query)))).rows.length;
    });
    expect(found).toBeGreaterThan(0);
    const plans = await plansOf(statements);
    expect(plans).toHaveLength(2);
    // The total, and the page: a page in date order read in that order until it is full would read the whole trail
    // for a value few rows hold.
    for (const { plan } of plans) {
      expect(plan).not.toMatch(/Seq Scan on audit_event/);
      expect(plan).toContain(index);
    }
  });
});
