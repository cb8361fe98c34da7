import type { AuditEvent, AuditEventAgent } from '@medplum/fhirtypes';
import type { Registry } from '../../event/registry';
import { AGB_SYSTEM, BSN_SYSTEM, MUNICIPALITY_CODE_SYSTEM } from '../../kernel/fhir/identifiers';
import type { Principal } from '../../access/principal';
import type { Db } from '../../kernel/db';
import {
  AGREEMENT_VERSION_DESCRIPTION,
  CONSENT_REFERENCE,
  AUDIT_SUBTYPES,
  AUDIT_TYPES,
  DECISION_DESCRIPTION,
  DESTINATION_DESCRIPTION,
  PRINCIPAL_SYSTEM,
  RECIPIENT_ROLE_CODE,
  SOURCE_ROLE_CODE,
  WITHDRAWAL_NOTICE_DESCRIPTIONS,
} from '../../audit/audit-events';
import { scopeCondition, SYSTEM_TENANT } from '../audit-scope';
import { SqlParams } from '../../kernel/sql-params';

/**
 * The child's overview (NEN 7513 chapter 9): for one BSN, what was disclosed to whom and which decisions were made,
 * in order, and who accessed the child's data here. Built from the AuditEvents alone, so it can never say more or
 * less than the tamper-evident log.
 */

/**
 * An overview lists at most this many entries, and this many accesses: the newest of each; `truncated` and
 * `omitted` say when and how many older ones were left out.
 */
export const OVERVIEW_LIMIT = 5000;

export interface Organisation {
  /** `practice` (AGB) or `municipality` (CBS code). */
  readonly kind: 'practice' | 'municipality';
  readonly code: string;
  /** The name from the processing agreement, when one names it. */
  readonly name?: string | undefined;
}

interface EntryBase {
  /** When it happened (AuditEvent.recorded). */
  readonly at: string;
  /** The chain that holds the event: a practice's AGB, or `system` for accesses tied to no practice. */
  readonly chain: string;
  /** The practice whose chain holds the event, the one responsible for the data; absent for the system chain. */
  readonly practice?: Organisation | undefined;
  /** The reference of the AuditEvent behind this entry, for `GET /fhir/AuditEvent/{id}`. */
  readonly auditEvent: string;
  /** Position in the practice's chain. */
  readonly seq: number;
}

export interface DisclosureEntry extends EntryBase {
  readonly kind: 'disclosure';
  readonly action: 'disclose';
  /** Who received the data. */
  readonly recipient: Organisation | undefined;
  /** The destination (system) it was sent to. */
  readonly destination: string | undefined;
  readonly purpose: string | undefined;
  /**
   * What was sent: the child's data, or a withdrawal notice (a Consent telling the municipality that the consent no
   * longer covers data it received; GDPR art. 7(3), 19).
   */
  readonly sent: 'data' | 'withdrawal-notice';
  /** Which data: the resource types sent, and the resources themselves (a withdrawal notice: `Consent`, the notice). */
  readonly dataTypes: string[];
  readonly resources: string[];
  /** A withdrawal notice: the resources it names, disclosed earlier and not sent again. Empty for data. */
  readonly refersTo: string[];
  /** The agreement the disclosure rested on; for a withdrawal notice, the one of the disclosures it withdraws. */
  readonly agreement: { readonly id: string; readonly version: number | undefined } | undefined;
  /** The consents the disclosure was made under (its legal basis); none for a withdrawal notice. */
  readonly consents: string[];
  /** Each of `consents` with the version of it the decision read (see `ConsentVersion`). */
  readonly consentVersions: ConsentVersion[];
  /** A withdrawal notice: the consent that caused it (withdrawn, voided, or an objection). Empty for data. */
  readonly reasonConsents: string[];
  /** Each of `reasonConsents` with the version of it that withdrew (the one its consent event wrote). */
  readonly reasonConsentVersions: ConsentVersion[];
  /** The HIS event that caused it. */
  readonly event: string | undefined;
}

export interface DecisionEntry extends EntryBase {
  readonly kind: 'decision';
  readonly action: 'permit' | 'deny';
  /**
   * Where in the pipeline: when the event was mapped (or, from a municipality, received), again right before
   * sending, or again later (`redecide`: a consent arrived, or an operator asked; `redeliver`: an operator asked to
   * send a delivered event again).
   */
  readonly stage: 'map' | 'receive' | 'deliver' | 'redecide' | 'redeliver' | undefined;
  /** Reason codes of the policy engine (`permitted-by-consent`, `consent-missing-guardian`, ...). */
  readonly reasons: string[];
  /** Who would receive the data. */
  readonly recipient: Organisation | undefined;
  readonly purpose: string | undefined;
  readonly agreement: { readonly id: string; readonly version: number | undefined } | undefined;
  readonly consents: string[];
  readonly consentVersions: ConsentVersion[];
  readonly event: string | undefined;
}

/**
 * A consent as an audit row cites it: its id and the version the decision read, readable at
 * `GET /fhir/Consent/<id>/_history/<version>` after the consent was withdrawn or refused under the same id. No version
 * in rows written before migration 087 (or by an older build beside it).
 */
export interface ConsentVersion {
  readonly id: string;
  readonly version: number | undefined;
}

export interface ReceiptEntry extends EntryBase {
  readonly kind: 'receipt';
  readonly action: 'receive';
  /** Who sent the data about the child (the municipality), and to whom it was for (the practice). */
  readonly sender: Organisation | undefined;
  readonly recipient: Organisation | undefined;
  readonly purpose: string | undefined;
  /** What was received: a status update (`Task/…`) or a trajectory event (`trajectory_event/…`), and its kind. */
  readonly what: string[];
  readonly description: string | undefined;
}

/** Any other AuditEvent about the child: an operator's action on its event, a disclosure attempt that failed. */
export interface ActivityEntry extends EntryBase {
  readonly kind: 'activity';
  /** The AuditEvent's type and subtype codes (`110100`/`replay`, `110106`/`disclose`). */
  readonly type: string;
  readonly action: string;
  readonly outcome: string;
  readonly outcomeDesc: string | undefined;
  readonly user: string | undefined;
  readonly what: string[];
}

export interface AccessEntry extends EntryBase {
  readonly kind: 'access';
  /**
   * `create`, `read` or `search-type` (a search of the audit or consent data that named this child); a refusal
   * (outcome 4) has the subtype of what was refused, or `AuthZ-Role`.
   */
  readonly action: string;
  readonly outcome: string;
  /** The user (principal id; never a name), whom they acted for, and from where. */
  readonly user: string | undefined;
  readonly onBehalfOf: Organisation | undefined;
  readonly accessPoint: string | undefined;
  /** What was accessed: references such as `Consent/…` or `inbox/…`. */
  readonly what: string[];
}

export interface ChildOverview {
  readonly patient: { readonly system: string; readonly value: string };
  readonly generatedAt: string;
  /**
   * Disclosures (successful Export/disclose), consent decisions (AuthZ-Consent), data received about the child
   * (Import/receive) and any other activity (an operator's action, a failed disclosure attempt), oldest first.
   */
  readonly entries: (DisclosureEntry | DecisionEntry | ReceiptEntry | ActivityEntry)[];
  /** Creates, reads and searches touching the child's data, and refused ones, oldest first. */
  readonly accesses: AccessEntry[];
  /** Whether older rows were left out of either list (each holds at most `OVERVIEW_LIMIT`, the newest). */
  readonly truncated: boolean;
  /** How many older rows each list left out (0 and 0 unless `truncated`). */
  readonly omitted: { readonly entries: number; readonly accesses: number };
}

export interface OverviewRow {
  readonly tenant: string;
  readonly seq: number;
  readonly resource: AuditEvent;
}

function organisationOf(agent: AuditEventAgent | undefined, registry: Registry | undefined): Organisation | undefined {
  const id = agent?.who?.identifier;
  if (!id?.value) {
    return undefined;
  }
  if (id.system === MUNICIPALITY_CODE_SYSTEM) {
    const name = registry?.agreements.find((a) => a.municipality.code === id.value)?.municipality.name;
    return { kind: 'municipality', code: id.value, ...(name ? { name } : {}) };
  }
  if (id.system === AGB_SYSTEM) {
    return practiceOf(id.value, registry);
  }
  return undefined;
}

function practiceOf(agb: string, registry: Registry | undefined): Organisation {
  const name = registry?.agreements.find((a) => a.practice.agb === agb)?.practice.name;
  return { kind: 'practice', code: agb, ...(name ? { name } : {}) };
}

function referencesOf(event: AuditEvent): { reference: string; description: string | undefined }[] {
  return (event.entity ?? []).flatMap((e) =>
    e.what?.reference ? [{ reference: e.what.reference, description: e.description }] : [],
  );
}

function agreementOf(refs: { reference: string; description: string | undefined }[]): DisclosureEntry['agreement'] {
  const a = refs.find((r) => r.reference.startsWith('Agreement/'));
  if (!a) {
    return undefined;
  }
  const v = AGREEMENT_VERSION_DESCRIPTION.exec(a.description ?? '');
  return { id: a.reference.slice('Agreement/'.length), version: v?.[1] ? Number(v[1]) : undefined };
}

/** The consents among `refs`, each with the version cited (`Consent/<id>/_history/<v>`), if any. */
function consentVersionsOf(refs: readonly { reference: string }[]): ConsentVersion[] {
  return refs.flatMap((r): ConsentVersion[] => {
    const m = CONSENT_REFERENCE.exec(r.reference);
    return m?.[1] ? [{ id: m[1], version: m[2] === undefined ? undefined : Number(m[2]) }] : [];
  });
}

/**
 * The parts of a withdrawal notice's disclosure: the notice sent, the resources it refers to, the consent that caused
 * it; undefined for a disclosure of the child's data. Described as `withdrawalNoticeDisclosure` describes them; a
 * notice audited before that (no descriptions) is known by its shape: the notice right after the consent event's
 * inbox entity, then what it refers to, the event's consent last, and no agreement.
 */
function noticeParts(
  refs: readonly { reference: string; description: string | undefined }[],
): { sent: string[]; refersTo: string[]; reasonConsents: ConsentVersion[] } | undefined {
  const d = WITHDRAWAL_NOTICE_DESCRIPTIONS;
  const described = refs.filter((r) => r.description === d.notice);
  if (described.length > 0) {
    return {
      sent: described.map((r) => r.reference),
      refersTo: refs.filter((r) => r.description === d.referredTo).map((r) => r.reference),
      reasonConsents: consentVersionsOf(refs.filter((r) => r.description?.startsWith(d.reason) === true)),
    };
  }
  const cause = refs.findIndex((r) => r.reference.startsWith('inbox/'));
  const first = refs[cause + 1];
  if (
    cause < 0 ||
    first === undefined ||
    !first.reference.startsWith('Consent/') ||
    first.description !== undefined ||
    refs.some((r) => r.reference.startsWith('Agreement/'))
  ) {
    return undefined;
  }
  const rest = refs.slice(cause + 2).map((r) => r.reference);
  return {
    sent: [first.reference],
    refersTo: rest.filter((r) => !r.startsWith('Consent/')),
    reasonConsents: consentVersionsOf(rest.filter((r) => r.startsWith('Consent/')).map((reference) => ({ reference }))),
  };
}

/**
 * The first entity description `pattern` matches: on what caused the event (an inbox or trajectory event's entity),
 * or for a status update going to the practice on its `Task/<id>`.
 */
function described(
  refs: readonly { reference: string; description: string | undefined }[],
  pattern: RegExp,
): RegExpExecArray | undefined {
  for (const r of refs) {
    const m = pattern.exec(r.description ?? '');
    if (m) {
      return m;
    }
  }
  return undefined;
}

const STAGES: readonly string[] = [
  'map',
  'receive',
  'deliver',
  'redecide',
  'redeliver',
] satisfies DecisionEntry['stage'][];
const isStage = (s: string | undefined): s is NonNullable<DecisionEntry['stage']> =>
  s !== undefined && STAGES.includes(s);

const isRecipient = (a: AuditEventAgent): boolean =>
  a.type?.coding?.some((c) => c.code === RECIPIENT_ROLE_CODE) ?? false;
const isSource = (a: AuditEventAgent): boolean => a.type?.coding?.some((c) => c.code === SOURCE_ROLE_CODE) ?? false;
const isResponsible = (a: AuditEventAgent): boolean => a.type?.coding?.some((c) => c.code === 'RESP') ?? false;

/** Turns the AuditEvents of one child into the overview; pure, rows in chronological order. */
export function buildOverview(
  bsn: string,
  rows: readonly OverviewRow[],
  opts: {
    registry?: Registry | undefined;
    omitted?: ChildOverview['omitted'];
    now?: Date;
  } = {},
): ChildOverview {
  const entries: ChildOverview['entries'] = [];
  const accesses: AccessEntry[] = [];
  for (const { tenant, seq, resource: e } of rows) {
    const refs = referencesOf(e);
    // What caused it: an HIS event in the inbox, or a municipality's trajectory event going to the practice.
    const cause = refs.find((r) => /^(inbox|trajectory_event)\//.test(r.reference));
    const base: EntryBase = {
      at: e.recorded ?? '',
      chain: tenant,
      ...(tenant === SYSTEM_TENANT ? {} : { practice: practiceOf(tenant, opts.registry) }),
      auditEvent: `AuditEvent/${e.id ?? ''}`,
      seq,
    };
    const purpose = e.purposeOfEvent?.[0]?.coding?.[0]?.code;
    const recipient = organisationOf(e.agent?.find(isRecipient), opts.registry);
    const consentVersions = consentVersionsOf(refs);
    const consents = consentVersions.map((c) => c.id);
    const subtype = e.subtype?.[0]?.code;
    const user = e.agent?.find((a) => a.who?.identifier?.system === PRINCIPAL_SYSTEM);
    if (e.type.code === AUDIT_TYPES.export.code && subtype === AUDIT_SUBTYPES.disclose.code && e.outcome === '0') {
      const notice = noticeParts(refs);
      const resources =
        notice?.sent ??
        refs.map((r) => r.reference).filter((r) => !/^(inbox|trajectory_event|Agreement|Consent)\//.test(r));
      entries.push({
        ...base,
        kind: 'disclosure',
        action: 'disclose',
        recipient,
        destination: described(refs, DESTINATION_DESCRIPTION)?.[1],
        purpose,
        sent: notice ? 'withdrawal-notice' : 'data',
        dataTypes: [...new Set(resources.map((r) => r.split('/')[0] ?? r))],
        resources,
        refersTo: notice?.refersTo ?? [],
        agreement: agreementOf(refs),
        consents: notice ? [] : consents,
        consentVersions: notice ? [] : consentVersions,
        reasonConsents: notice?.reasonConsents.map((c) => c.id) ?? [],
        reasonConsentVersions: notice?.reasonConsents ?? [],
        event: cause?.reference,
      });
    } else if (e.type.code === AUDIT_TYPES.securityAlert.code && subtype === AUDIT_SUBTYPES.authzConsent.code) {
      const d = described(refs, DECISION_DESCRIPTION);
      entries.push({
        ...base,
        kind: 'decision',
        action: e.outcome === '0' ? 'permit' : 'deny',
        stage: isStage(d?.[1]) ? d[1] : undefined,
        reasons: (d?.[3] ?? e.outcomeDesc ?? '')
          .split(',')
          .map((r) => r.trim())
          .filter((r) => r !== ''),
        recipient,
        purpose,
        agreement: agreementOf(refs),
        consents,
        consentVersions,
        event: cause?.reference,
      });
    } else if (e.type.code === AUDIT_TYPES.import.code) {
      const described = refs.find((r) => r.description !== undefined);
      entries.push({
        ...base,
        kind: 'receipt',
        action: 'receive',
        // The sender's own user acted for it: then it is the responsible party, not a second agent.
        sender: organisationOf(e.agent?.find(isSource) ?? e.agent?.find(isResponsible), opts.registry),
        recipient,
        purpose,
        what: refs.map((r) => r.reference),
        description: described?.description,
      });
    } else if (e.type.code === AUDIT_TYPES.rest.code || e.type.code === AUDIT_TYPES.securityAlert.code) {
      // A read, search or create, or a refused one (every refusal is a Security Alert).
      accesses.push({
        ...base,
        kind: 'access',
        action: subtype ?? '',
        outcome: e.outcome ?? '',
        user: user?.who?.identifier?.value,
        onBehalfOf: organisationOf(e.agent?.find(isResponsible), opts.registry),
        accessPoint: user?.network?.address,
        what: refs.map((r) => r.reference),
      });
    } else {
      entries.push({
        ...base,
        kind: 'activity',
        type: e.type.code ?? '',
        action: subtype ?? '',
        outcome: e.outcome ?? '',
        outcomeDesc: e.outcomeDesc,
        user: user?.who?.identifier?.value,
        what: refs.map((r) => r.reference),
      });
    }
  }
  return {
    patient: { system: BSN_SYSTEM, value: bsn },
    generatedAt: (opts.now ?? new Date()).toISOString(),
    entries,
    accesses,
    truncated: (opts.omitted?.entries ?? 0) + (opts.omitted?.accesses ?? 0) > 0,
    omitted: opts.omitted ?? { entries: 0, accesses: 0 },
  };
}

/**
 * The rows `buildOverview` lists among `accesses` (a create, read or search, or a refused one: a Security Alert other
 * than a consent decision), in SQL; every other row is one of the `entries`.
 */
const IS_ACCESS = `(type = '${AUDIT_TYPES.rest.code}' OR (type = '${AUDIT_TYPES.securityAlert.code}' AND subtype IS DISTINCT FROM '${AUDIT_SUBTYPES.authzConsent.code}'))`;

/**
 * The overview of one child within the caller's scope: every AuditEvent that names the child, as a search by the
 * child (`/fhir/AuditEvent?patient=`) finds them (the same two conditions: the child's BSN and the caller's scope),
 * and every access that names no child but one of the child's events (a list search that returned it), oldest first.
 * Each list holds the newest `OVERVIEW_LIMIT` rows: a child whose events are read often (an HIS polling their status)
 * may have many thousands of accesses, and those must never crowd the disclosures out, nor the newest activity be the
 * part left out. What is left out is counted in `omitted`.
 */
export async function childOverview(
  db: Db,
  principal: Principal,
  bsn: string,
  registry?: Registry,
): Promise<ChildOverview> {
  const q = new SqlParams();
  const child = q.add(bsn);
  // A search that returned several children's data (a municipality's `GET /fhir/ServiceRequest`) names no child:
  // it names each returned event (`inbox/<id>`), so it is the child's access when one of those is the child's own
  // event, as the child's decisions and disclosures name it (NEN 7513: the patient in every access record).
  const ownEvents = `ARRAY(SELECT DISTINCT ref FROM audit_event, unnest(entities) AS ref
    WHERE patient_bsn = ${child} AND NOT ${IS_ACCESS} AND ref LIKE 'inbox/%')`;
  const childRows = `patient_bsn = ${child} OR (${IS_ACCESS} AND entities && ${ownEvents})`;
  const where = [childRows, scopeCondition(principal, q)].map((w) => `(${w})`).join(' AND ');
  const newest = (kind: string) =>
    db.query<OverviewRow>(
      `SELECT tenant, seq::float8 AS seq, resource::json AS resource FROM audit_event WHERE ${where} AND ${kind}
       ORDER BY recorded DESC, tenant DESC, seq DESC LIMIT ${OVERVIEW_LIMIT + 1}`,
      q.values,
    );
  const [entries, accesses] = await Promise.all([newest(`NOT ${IS_ACCESS}`), newest(IS_ACCESS)]);
  let omitted = { entries: 0, accesses: 0 };
  if (entries.length > OVERVIEW_LIMIT || accesses.length > OVERVIEW_LIMIT) {
    const [counts] = await db.query<{ entries: number; accesses: number }>(
      `SELECT (count(*) FILTER (WHERE NOT ${IS_ACCESS}))::int AS entries, (count(*) FILTER (WHERE ${IS_ACCESS}))::int AS accesses
       FROM audit_event WHERE ${where}`,
      q.values,
    );
    // A row appended since the lists were read may be counted: never below one for a list that was cut.
    const left = (listed: number, all = 0) => (listed > OVERVIEW_LIMIT ? Math.max(1, all - OVERVIEW_LIMIT) : 0);
    omitted = { entries: left(entries.length, counts?.entries), accesses: left(accesses.length, counts?.accesses) };
  }
  // Oldest first within each list, as `buildOverview` takes them.
  const listed = (rows: OverviewRow[]) => rows.slice(0, OVERVIEW_LIMIT).reverse();
  return buildOverview(bsn, [...listed(entries), ...listed(accesses)], { registry, omitted });
}
