import { MUNICIPALITY_CODE_SYSTEM } from '../kernel/fhir/identifiers';
import { ALL, canActForPractice, isMunicipalityAuditor, type Principal } from '../access/principal';
import { AUDIT_SUBTYPES, AUDIT_TYPES, principalRoleOf, responsiblePartyAgent } from '../audit/audit-events';
import { canonicalizeJcs } from '../audit/chain';
import { or, type SqlParams } from '../kernel/sql-params';

/** The system chain (audit-events.ts), read by the scope rules here. */
export { SYSTEM_TENANT } from '../audit/audit-events';

/**
 * The name of an audit chain: a practice's AGB code, `system`, or `destination/<id>` (what happened to a destination
 * and what its municipality sent: pauses, resumes, status updates, trajectory events). Every chain there is.
 */
const CHAIN_NAME = /^(?:\d{8}|system|destination\/[a-z0-9-]{1,48})$/;

export function isChainName(value: string): boolean {
  return CHAIN_NAME.test(value);
}

/** `system|value` of a municipality as it appears in the `agents` column. */
function municipalityToken(code: string): string {
  return `${MUNICIPALITY_CODE_SYSTEM}|${code}`;
}

/**
 * Which audit rows a principal may see, as an SQL condition on `audit_event`:
 *
 * - practice: the rows of its own chains (tenant = its AGB codes), but not the reads (and refused reads) of an
 *   auditor or operator: the practice under investigation must not learn which children its auditor or the privacy
 *   officer looked up. Their actions on its events (redecide, replay) it sees. The chain stays whole: auditors read
 *   and verify every row, and the practice verifies it (`canExportChain`).
 * - municipality: rows that name it as an agent and are what it received (a disclosure to it that succeeded, the
 *   delivery of its own status updates and trajectory events on to the practice, an operator's action for it such as
 *   a push of its monitoring report) or what it did itself (its own reads and actions: it is their responsible party). Never a consent decision (AuthZ-Consent), a failed disclosure
 *   or a Security Alert: a denied referral must not tell a municipality that the child was referred at all. Nor the
 *   reads of others that name it as the sender of what they read (a practice's, an auditor's, an operator's): those
 *   are the practice's accesses, and an investigation the municipality must not learn of.
 * - auditor and operator: the chains of the practices in scope (`'*'` for all, the system chain included), plus,
 *   for a municipality in scope, every row that names it (its privacy officer checks decisions about it too), except
 *   refused reads in practices' chains that name a child or its event: those are not its to see. Its own row of each
 *   such refusal, naming what it asked for, is in the system chain (`auditRefusedReads`).
 * - an auditor of municipalities alone (`isMunicipalityAuditor`): the municipality's own privacy officer. What the
 *   municipality sees, and the refused reads naming it that name no child or event (an attempt at its figures, its
 *   own refused asks): never a consent decision, a failed disclosure, or another party's read of a child.
 */
export function scopeCondition(p: Principal, q: SqlParams): string {
  const municipalityTokens = (): string => {
    if (p.municipalities.includes(ALL)) {
      return `EXISTS (SELECT 1 FROM unnest(agents) a WHERE a LIKE ${q.add(`${MUNICIPALITY_CODE_SYSTEM}|%`)})`;
    }
    return `agents && ${q.add(p.municipalities.map(municipalityToken), 'text[]')}`;
  };
  const practiceChains = (): string =>
    p.practices.includes(ALL) ? 'TRUE' : `tenant = ANY(${q.add([...p.practices], 'text[]')})`;
  if (isMunicipalityAuditor(p)) {
    return `${municipalityTokens()} AND (${receivedOrDid(p.municipalities, q)} OR ${refusedReadOfNoChild(q)})`;
  }
  switch (p.role) {
    case 'practice':
      return p.practices.length > 0 ? `${practiceChains()} AND NOT ${investigativeRead(q)}` : 'FALSE';
    case 'municipality':
      return p.municipalities.length > 0
        ? `${municipalityTokens()} AND ${receivedOrDid(p.municipalities, q)}`
        : 'FALSE';
    case 'auditor':
    case 'operator':
      return or([
        ...(p.practices.length > 0 ? [practiceChains()] : []),
        ...(p.municipalities.length > 0 ? [`${municipalityTokens()} AND NOT ${refusedReadInPracticeChain(q)}`] : []),
      ]);
  }
}

/**
 * What a municipality received or did, among the rows that name it, as an SQL condition: a disclosure that succeeded,
 * an operator's action (a push of its report), or a row of its own (`actedFor`); never a Security Alert (a consent
 * decision, a refusal). Others' reads that name it, as the sender of a status read, are none of these.
 */
function receivedOrDid(municipalities: readonly string[], q: SqlParams): string {
  const received = `(type = ${q.add(AUDIT_TYPES.export.code)} AND outcome = '0')`;
  const action = `type = ${q.add(AUDIT_TYPES.applicationActivity.code)}`;
  const securityAlert = q.add(AUDIT_TYPES.securityAlert.code);
  return `type <> ${securityAlert} AND (${received} OR ${action} OR ${actedFor(municipalities, q)})`;
}

/**
 * A row of an actor that acted for one of these municipalities (its responsible-party agent), as an SQL condition on
 * the canonical JSON text of the row, as `investigativeRead` finds a role. Any municipality's for `'*'`.
 */
function actedFor(municipalities: readonly string[], q: SqlParams): string {
  if (municipalities.includes(ALL)) {
    const text = canonicalizeJcs(responsiblePartyAgent('municipality', ''));
    return `strpos(resource, ${q.add(text.slice(0, text.lastIndexOf('""') + 1))}) > 0`;
  }
  return or(
    municipalities.map(
      (m) => `strpos(resource, ${q.add(canonicalizeJcs(responsiblePartyAgent('municipality', m)))}) > 0`,
    ),
  );
}

/**
 * A refused read or search (Security Alert, outcome 4) in a practice's chain that names a child or an event of it, as
 * an SQL condition: those are that practice's. One that names neither (a refused read of a municipality's figures)
 * stays the municipality's to see.
 */
function refusedReadInPracticeChain(q: SqlParams): string {
  return `(${refusedRead(q)} AND tenant ~ '^[0-9]{8}$' AND ${NAMES_CHILD})`;
}

/** A refused read or search that names no child nor an event of one, in any chain, as an SQL condition. */
function refusedReadOfNoChild(q: SqlParams): string {
  return `(${refusedRead(q)} AND NOT ${NAMES_CHILD})`;
}

/** Whether a row names a child (its BSN) or an event of one (`inbox/<id>`), as an SQL condition. */
const NAMES_CHILD = `(patient_bsn IS NOT NULL OR EXISTS (SELECT 1 FROM unnest(entities) e WHERE starts_with(e, 'inbox/')))`;

/** A refused read or search (Security Alert, outcome 4), as an SQL condition. */
function refusedRead(q: SqlParams): string {
  const subtypes = q.add([AUDIT_SUBTYPES.read.code, AUDIT_SUBTYPES.search.code], 'text[]');
  return `type = ${q.add(AUDIT_TYPES.securityAlert.code)} AND outcome = '4' AND subtype = ANY(${subtypes})`;
}

/**
 * A read, search or refused one by an auditor or operator principal (`agent.role`, recorded since 6 December 2026),
 * as an SQL condition. Their actions (type Application Activity) are not among them. The stored resource is canonical
 * JSON text: the role's members are found as text, which JSON's escaping keeps from matching inside any string.
 */
function investigativeRead(q: SqlParams): string {
  const byRole = (role: 'auditor' | 'operator') =>
    `strpos(resource, ${q.add(canonicalizeJcs({ role: principalRoleOf(role) }).slice(1, -1))}) > 0`;
  return `(type <> ${q.add(AUDIT_TYPES.applicationActivity.code)} AND (${byRole('auditor')} OR ${byRole('operator')}))`;
}

/**
 * Whether the principal may export a chain, its rows with them: an auditor or operator within its scope. A practice
 * verifies its own chain but does not export it, as its rows hold the auditors' reads it does not see (`scopeCondition`).
 */
export function canExportChain(p: Principal, tenant: string): boolean {
  return p.role !== 'practice' && canReadChain(p, tenant);
}

/** Whether the principal may verify or export a whole chain: its practice, or any within an auditor's scope. */
export function canReadChain(p: Principal, tenant: string): boolean {
  switch (p.role) {
    case 'practice':
    case 'auditor':
    case 'operator':
      return canActForPractice(p, tenant);
    case 'municipality':
      // A chain holds everything a practice did, with other municipalities' data in it.
      return false;
  }
}
