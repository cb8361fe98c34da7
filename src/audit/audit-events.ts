import { createHash, randomUUID } from 'node:crypto';
import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding } from '@medplum/fhirtypes';
import { AGB_SYSTEM, BSN_SYSTEM, MUNICIPALITY_CODE_SYSTEM } from '../kernel/fhir/identifiers';
import { PURPOSE_SYSTEM } from '../kernel/fhir/systems';
import type { Role } from '../access/principal';

/**
 * Builders of the AuditEvents jeugdbrug writes, after IHE BALP, carrying what NEN 7513 asks of every access:
 * the event, date and time, the patient, the user, the organisation acted for, and the access point.
 */

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const AUDIT_EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
const RESTFUL = 'http://hl7.org/fhir/restful-interaction';
const LIFECYCLE = 'http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle';
const AUTHZ_SUBTYPE = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/AuthZsubType';
const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const SECURITY_ROLE = 'http://terminology.hl7.org/CodeSystem/extra-security-role-type';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
/** Ours: operator actions that FHIR has no code for. */
const OPERATOR_ACTION_SYSTEM = 'https://jeugdbrug.nl/fhir/CodeSystem/operator-action';

// The codings and other parts every event of a kind shares are frozen constants, built once: canonicalizeJcs keeps
// the canonical text of a deeply frozen object, so the parts repeated in every row are not serialised again each time.

export const AUDIT_TYPES = deepFreeze({
  rest: { system: AUDIT_EVENT_TYPE, code: 'rest', display: 'RESTful Operation' },
  securityAlert: { system: DCM, code: '110113', display: 'Security Alert' },
  export: { system: DCM, code: '110106', display: 'Export' },
  import: { system: DCM, code: '110107', display: 'Import' },
  applicationActivity: { system: DCM, code: '110100', display: 'Application Activity' },
  userAuthentication: { system: DCM, code: '110114', display: 'User Authentication' },
} as const satisfies Record<string, Coding>);

export const AUDIT_SUBTYPES = deepFreeze({
  create: { system: RESTFUL, code: 'create' },
  read: { system: RESTFUL, code: 'read' },
  search: { system: RESTFUL, code: 'search-type' },
  authzRole: { system: AUTHZ_SUBTYPE, code: 'AuthZ-Role', display: 'Authorization Decision using only Roles' },
  authzConsent: {
    system: AUTHZ_SUBTYPE,
    code: 'AuthZ-Consent',
    display: 'Authorization Decision using Roles and Consent',
  },
  disclose: { system: LIFECYCLE, code: 'disclose', display: 'Disclose' },
  receive: { system: LIFECYCLE, code: 'receive', display: 'Receive' },
  login: { system: DCM, code: '110122', display: 'Login' },
  logout: { system: DCM, code: '110123', display: 'Logout' },
  securityRolesChanged: { system: DCM, code: '110136', display: 'Security Roles Changed' },
} as const satisfies Record<string, Coding>);

/** `value`, frozen at every depth. */
function deepFreeze<T extends object>(value: T): T {
  for (const v of Object.values(value)) {
    if (typeof v === 'object' && v !== null) {
      deepFreeze(v);
    }
  }
  return Object.freeze(value);
}

/** FHIR AuditEvent.outcome: 0 success, 4 minor failure (a deny or refusal), 8 serious failure. */
export type AuditOutcome = '0' | '4' | '8';

/** Who did it, for whom, and from where. */
export interface AuditActor {
  /** The principal or system component: `api-key/…`, `jwt/…`, `system/worker`. Never a person's name. */
  readonly userId: string;
  /** The principal's role (`agent.role`, `PRINCIPAL_ROLE_SYSTEM`); none for a system component. */
  readonly role?: Role | undefined;
  /**
   * Whether a person is behind the principal: one signed in to the console is (`humanuser`); an API key or JWT on
   * the API is a system's (a HIS, a municipality's application: DICOM `110150` Application). Unset: the API's.
   */
  readonly person?: boolean | undefined;
  /** AGB of the practice or code of the municipality the user acted for. */
  readonly onBehalfOf?: { readonly kind: 'practice' | 'municipality'; readonly code: string } | undefined;
  /**
   * The other municipalities a key for more than one acts for (after `onBehalfOf`, its first): each a responsible
   * party too, so that each one's audit search finds what the key did (audit-scope.ts).
   */
  readonly alsoOnBehalfOf?: readonly string[] | undefined;
  /** Client address, or the component name for system actions. */
  readonly accessPoint: string;
}

export const SYSTEM_WORKER: AuditActor = { userId: 'system/worker', accessPoint: 'jeugdbrug-worker' };
/** The retention job: purges what the law no longer lets us keep, and says so in the audit trail. */
export const SYSTEM_RETENTION: AuditActor = { userId: 'system/retention', accessPoint: 'jeugdbrug-retention' };

/** The agent type of the municipality that receives (or would have received) data. */
export const RECIPIENT_ROLE_CODE = '110152';
/** The agent type of the organisation that sent data (a municipality's status update or trajectory event). */
export const SOURCE_ROLE_CODE = '110153';
/** How `consentDecision` describes its inbox entity; the child's overview reads it back. */
export const DECISION_DESCRIPTION = /^decision at (map|deliver|redecide|receive): (permit|deny) \((.*)\)$/s;
/**
 * How a disclosure describes the entity of what caused it (`destination` on the inbox entity of one to a
 * municipality, `endpoint` on the trajectory event's of one to a practice); the child's overview reads it back.
 */
export const DESTINATION_DESCRIPTION = /^(?:destination|endpoint) (.+)$/;
/** How agreement entities carry their version. */
export const AGREEMENT_VERSION_DESCRIPTION = /^version (\d+)(?:, sha256:[0-9a-f]{64})?$/;

/** An agreement as an audit entity: its version and, where known, the digest of its content (`registry.ts`). */
export interface AuditedAgreementRef {
  readonly id: string;
  readonly version: number;
  readonly digest?: string | undefined;
}

function agreementEntity(a: AuditedAgreementRef): AuditEventEntity {
  return resourceEntity(`Agreement/${a.id}`, `version ${a.version}${a.digest ? `, ${a.digest}` : ''}`);
}

/**
 * The consents a decision read, by id, and the version of each it read where known (migration 087): a version
 * (`GET /fhir/Consent/<id>/_history/<version>`) stays readable after the consent is withdrawn or refused under the
 * same id, so the audit row shows which consent text it rested on. A decision of an older build has no versions.
 */
export interface AuditedConsents {
  consentIds?: readonly string[] | undefined;
  consentVersions?: Readonly<Record<string, number>> | undefined;
}

/** The reference an audit row cites a consent by: `Consent/<id>/_history/<version>`, or `Consent/<id>` unversioned. */
export function consentReference(id: string, version: number | undefined): string {
  return version === undefined ? `Consent/${id}` : `Consent/${id}/_history/${version}`;
}

/**
 * SQL: every reference an AuditEvent may name consent `id` (an SQL text expression) by, as exact tokens of the
 * entities index: `Consent/<id>` as cited before migration 087, and `Consent/<id>/_history/<v>` for each version the
 * registry has kept (`consent_history`).
 */
export const consentReferencesSql = (id: string): string =>
  `(ARRAY['Consent/' || ${id}] || ARRAY(
    SELECT 'Consent/' || ${id} || '/_history/' || v FROM generate_series(1,
      (SELECT COALESCE(max(version_id), 0) FROM consent_history WHERE id = ${id})) AS v))`;

/** `Consent/<id>/_history/<version>`, read back: the id and, when cited, the version. */
export const CONSENT_REFERENCE = /^Consent\/([^/]+)(?:\/_history\/(\d+))?$/;

/** The consents of `a` as entities, each with the version the decision read. */
function consentEntities(a: AuditedConsents, description?: string): AuditEventEntity[] {
  return (a.consentIds ?? []).map((id) => resourceEntity(consentReference(id, a.consentVersions?.[id]), description));
}
/** The principal identifier system of agents (`api-key:…`, `system/worker`). */
export const PRINCIPAL_SYSTEM = 'https://jeugdbrug.nl/principal';
/**
 * Every identifier system an agent or an entity of these AuditEvents can have. Agents: the principal's (`agentsOf`)
 * and the organisations' (`organisationIdentifier`); entities: the patient's BSN (`patientEntity`), the others being
 * references. Audit search turns a bare value into a token of each system of its column, which the column's index
 * serves; matching every row's tokens against `%|value` instead read the whole audit trail.
 */
export const IDENTIFIER_SYSTEMS: Readonly<Record<'agents' | 'entities', readonly string[]>> = {
  agents: [PRINCIPAL_SYSTEM, AGB_SYSTEM, MUNICIPALITY_CODE_SYSTEM],
  entities: [BSN_SYSTEM],
};

/** The principal's role (`practice`, `municipality`, `auditor`, `operator`) on the agent that made the request. */
export const PRINCIPAL_ROLE_SYSTEM = 'https://jeugdbrug.nl/fhir/CodeSystem/principal-role';

const SYSTEM_ROLE = deepFreeze({ coding: [{ system: SECURITY_ROLE, code: 'dataprocessor' }] });
const HUMAN_ROLE = deepFreeze({ coding: [{ system: SECURITY_ROLE, code: 'humanuser' }] });
const APPLICATION_ROLE = deepFreeze({ coding: [{ system: DCM, code: '110150', display: 'Application' }] });

/** The `agent.role` of a principal of this role, as it is stored (and searched for, `audit-scope.ts`). */
export function principalRoleOf(role: Role): { coding: { system: string; code: string }[] }[] {
  return [{ coding: [{ system: PRINCIPAL_ROLE_SYSTEM, code: role }] }];
}

function agentTypeOf(actor: AuditActor): AuditEventAgent['type'] {
  if (actor.userId.startsWith('system/')) {
    return SYSTEM_ROLE;
  }
  return actor.person ? HUMAN_ROLE : APPLICATION_ROLE;
}
const RESPONSIBLE_PARTY = deepFreeze({
  coding: [{ system: PARTICIPATION, code: 'RESP', display: 'responsible party' }],
});

/** The agents an actor adds to each of its events, made once per actor (a system component's for the process's life). */
const agentsByActor = new WeakMap<AuditActor, readonly AuditEventAgent[]>();

function agentsOf(actor: AuditActor): readonly AuditEventAgent[] {
  let agents = agentsByActor.get(actor);
  if (agents === undefined) {
    const list: AuditEventAgent[] = [
      {
        type: agentTypeOf(actor),
        ...(actor.role ? { role: principalRoleOf(actor.role) } : {}),
        who: { identifier: { system: PRINCIPAL_SYSTEM, value: actor.userId } },
        requestor: true,
        network: {
          address: actor.accessPoint,
          type: actor.accessPoint.includes('.') || actor.accessPoint.includes(':') ? '2' : '1',
        },
      },
    ];
    if (actor.onBehalfOf) {
      list.push(responsiblePartyAgent(actor.onBehalfOf.kind, actor.onBehalfOf.code));
    }
    for (const code of actor.alsoOnBehalfOf ?? []) {
      list.push(responsiblePartyAgent('municipality', code));
    }
    agents = deepFreeze(list);
    agentsByActor.set(actor, agents);
  }
  return agents;
}

/** The organisation an actor acted for (`onBehalfOf`): the agent of type responsible party in each of its events. */
export function responsiblePartyAgent(kind: 'practice' | 'municipality', code: string): AuditEventAgent {
  return { type: RESPONSIBLE_PARTY, who: { identifier: organisationIdentifier(kind, code) }, requestor: false };
}

function organisationIdentifier(kind: 'practice' | 'municipality', code: string): { system: string; value: string } {
  return { system: kind === 'practice' ? AGB_SYSTEM : MUNICIPALITY_CODE_SYSTEM, value: code };
}

const PERSON = deepFreeze({ system: ENTITY_TYPE, code: '1', display: 'Person' });
const PATIENT_ROLE = deepFreeze({ system: OBJECT_ROLE, code: '1', display: 'Patient' });
const SYSTEM_OBJECT = deepFreeze({ system: ENTITY_TYPE, code: '2', display: 'System Object' });
const QUERY_ROLE = deepFreeze({ system: OBJECT_ROLE, code: '24', display: 'Query' });

/** The patient as an entity: identified by BSN; this stays in PostgreSQL with the rest of the audit row. */
function patientEntity(bsn: string): AuditEventEntity {
  return { what: { identifier: { system: BSN_SYSTEM, value: bsn } }, type: PERSON, role: PATIENT_ROLE };
}

function resourceEntity(reference: string, description?: string): AuditEventEntity {
  const entity: AuditEventEntity = { what: { reference }, type: SYSTEM_OBJECT };
  if (description) {
    entity.description = description;
  }
  return entity;
}

/** What every AuditEvent of jeugdbrug is built from; `buildAuditEvent` adds id, time, agents and source. */
export interface AuditEventInput {
  readonly actor: AuditActor;
  readonly type: Coding;
  readonly subtype?: Coding | undefined;
  readonly action: NonNullable<AuditEvent['action']>;
  readonly outcome: AuditOutcome;
  readonly outcomeDesc?: string | undefined;
  readonly entities: AuditEventEntity[];
  readonly purpose?: string | undefined;
  readonly extraAgents?: readonly AuditEventAgent[] | undefined;
}

const SOURCE = deepFreeze({
  site: 'jeugdbrug',
  observer: { display: 'jeugdbrug' },
  type: [
    { system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' },
  ],
});

/** `purposeOfEvent` by purpose: a handful of purposes, each in many events. */
const purposesOfEvent = new Map<string, NonNullable<AuditEvent['purposeOfEvent']>>();

function purposeOfEvent(purpose: string): NonNullable<AuditEvent['purposeOfEvent']> {
  let list = purposesOfEvent.get(purpose);
  if (list === undefined) {
    list = deepFreeze([{ coding: [{ system: PURPOSE_SYSTEM, code: purpose }] }]);
    if (purposesOfEvent.size < 1_000) {
      purposesOfEvent.set(purpose, list);
    }
  }
  return list;
}

/**
 * The organisations an event names besides its actor's, without the one the actor acted for: a municipality's user
 * sending a status update is that municipality already (the responsible party), not a second agent beside it.
 */
function extraAgentsOf(actor: AuditActor, extra: readonly AuditEventAgent[]): readonly AuditEventAgent[] {
  const own = actor.onBehalfOf && organisationIdentifier(actor.onBehalfOf.kind, actor.onBehalfOf.code);
  if (!own) {
    return extra;
  }
  return extra.filter((a) => a.who?.identifier?.system !== own.system || a.who.identifier.value !== own.value);
}

// Properties assigned one by one rather than spread in: this runs for every audit row, and spreading objects made
// only to be spread costs more than the rest of the event.
export function buildAuditEvent(b: AuditEventInput): AuditEvent {
  const event: AuditEvent = {
    resourceType: 'AuditEvent',
    id: randomUUID(),
    type: b.type,
    action: b.action,
    recorded: new Date().toISOString(),
    outcome: b.outcome,
    agent: b.extraAgents ? [...agentsOf(b.actor), ...extraAgentsOf(b.actor, b.extraAgents)] : [...agentsOf(b.actor)],
    source: SOURCE,
    entity: b.entities,
  };
  if (b.subtype) {
    event.subtype = [b.subtype];
  }
  if (b.outcomeDesc) {
    event.outcomeDesc = b.outcomeDesc;
  }
  if (b.purpose) {
    event.purposeOfEvent = purposeOfEvent(b.purpose);
  }
  return event;
}

/** Something recorded about a child (REST create), with the entity that was created. */
function created(actor: AuditActor, patientBsn: string, entity: ReturnType<typeof resourceEntity>): AuditEvent {
  return buildAuditEvent({
    actor,
    type: AUDIT_TYPES.rest,
    subtype: AUDIT_SUBTYPES.create,
    action: 'C',
    outcome: '0',
    entities: [patientEntity(patientBsn), entity],
  });
}

/** An HIS event accepted into the inbox (create). */
export function eventReceived(a: {
  actor: AuditActor;
  inboxId: string;
  eventType: string;
  patientBsn: string;
}): AuditEvent {
  return created(a.actor, a.patientBsn, resourceEntity(`inbox/${a.inboxId}`, a.eventType));
}

/** A consent recorded or withdrawn in the consent registry, naming the version it was stored as where known. */
export function consentRecorded(a: {
  actor: AuditActor;
  consentId: string;
  version?: number | undefined;
  status: string;
  patientBsn: string;
}): AuditEvent {
  return created(a.actor, a.patientBsn, resourceEntity(consentReference(a.consentId, a.version), a.status));
}

/** A policy decision (BALP AuthZ-Consent): success for permit, minor failure with the reasons for deny. */
export function consentDecision(a: {
  actor: AuditActor;
  permit: boolean;
  reasons: string;
  patientBsn: string;
  inboxId: string;
  consentIds: readonly string[];
  consentVersions?: AuditedConsents['consentVersions'];
  agreement?: AuditedAgreementRef | undefined;
  municipality: string;
  purpose: string;
  /**
   * `redecide`: a denied event decided again, when a consent arrived or an operator asked; or, for purpose
   * `monitoring`, a child's counted facts decided again when an objection or a withdrawal arrived.
   */
  stage: 'map' | 'deliver' | 'redecide' | 'redeliver';
  /** What the decision changed beyond the event, e.g. the facts it took out of the monitoring figures (counts only). */
  consequence?: { readonly reference: string; readonly description: string } | undefined;
}): AuditEvent {
  return authzConsent(
    a,
    `inbox/${a.inboxId}`,
    [
      ...consentEntities(a),
      ...(a.agreement ? [agreementEntity(a.agreement)] : []),
      ...(a.consequence ? [resourceEntity(a.consequence.reference, a.consequence.description)] : []),
    ],
    [organisationAgent('destination', 'municipality', a.municipality)],
  );
}

/**
 * A policy decision (BALP AuthZ-Consent) about `decided` (the inbox event, trajectory event or status update), whose
 * entity says the stage and the reason codes (`DECISION_DESCRIPTION`), after the patient and before `entities`.
 */
function authzConsent(
  a: { actor: AuditActor; permit: boolean; reasons: string; patientBsn: string; purpose: string; stage: string },
  decided: string,
  entities: AuditEventEntity[],
  agents: readonly AuditEventAgent[],
): AuditEvent {
  return buildAuditEvent({
    actor: a.actor,
    type: AUDIT_TYPES.securityAlert,
    subtype: AUDIT_SUBTYPES.authzConsent,
    action: 'E',
    outcome: a.permit ? '0' : '4',
    outcomeDesc: a.permit ? undefined : a.reasons,
    purpose: a.purpose,
    entities: [
      patientEntity(a.patientBsn),
      resourceEntity(decided, `decision at ${a.stage}: ${a.permit ? 'permit' : 'deny'} (${a.reasons})`),
      ...entities,
    ],
    extraAgents: agents,
  });
}

/** An organisation taking part as source (DCM 110153) or destination (DCM 110152) of what was exchanged. */
export function organisationAgent(
  role: 'source' | 'destination',
  kind: 'practice' | 'municipality',
  code: string,
): AuditEventAgent {
  const key = `${role} ${kind} ${code}`;
  let agent = organisationAgents.get(key);
  if (agent === undefined) {
    agent = deepFreeze({
      type: role === 'source' ? SOURCE_ROLE : DESTINATION_ROLE,
      who: { identifier: organisationIdentifier(kind, code) },
      requestor: false,
    });
    // Bounded: there are a few hundred municipalities, but practices come and go.
    if (organisationAgents.size < 10_000) {
      organisationAgents.set(key, agent);
    }
  }
  return agent;
}

const SOURCE_ROLE = deepFreeze({ coding: [{ system: DCM, code: SOURCE_ROLE_CODE, display: 'Source Role ID' }] });
const DESTINATION_ROLE = deepFreeze({
  coding: [{ system: DCM, code: RECIPIENT_ROLE_CODE, display: 'Destination Role ID' }],
});
/** Organisation agents by role, kind and code: an organisation is the same agent in every event it takes part in. */
const organisationAgents = new Map<string, AuditEventAgent>();

/** Data leaving for another organisation (BALP Export/disclose), or a failed attempt when `outcome` is not '0'. */
function exported(
  a: { actor: AuditActor; outcome: AuditOutcome; outcomeDesc?: string | undefined },
  purpose: string,
  entities: AuditEventEntity[],
  agents: AuditEventAgent[],
): AuditEvent {
  return buildAuditEvent({
    actor: a.actor,
    type: AUDIT_TYPES.export,
    subtype: AUDIT_SUBTYPES.disclose,
    action: 'R',
    outcome: a.outcome,
    outcomeDesc: a.outcomeDesc,
    purpose,
    entities,
    extraAgents: agents,
  });
}

/** What every disclosure about a child to a municipality names: who sent, the outcome, the child, what caused it. */
interface MunicipalityDisclosure {
  actor: AuditActor;
  outcome: AuditOutcome;
  outcomeDesc?: string | undefined;
  patientBsn: string;
  /** The event it is a delivery of. */
  inboxId: string;
  municipality: string;
  destination: string;
  purpose: string;
}

/**
 * The description of a disclosure's inbox entity, naming the destination it went to; `markPossiblyReceivedFromAudit`
 * (event-store.ts) finds a delivery's audited attempts by it.
 */
export function destinationEntityDescription(destination: string): string {
  return `destination ${destination}`;
}

/** Export/disclose of `what` to the municipality, about the child, caused by the inbox event. */
function toMunicipality(a: MunicipalityDisclosure, what: AuditEventEntity[]): AuditEvent {
  return exported(
    a,
    a.purpose,
    [
      patientEntity(a.patientBsn),
      resourceEntity(`inbox/${a.inboxId}`, destinationEntityDescription(a.destination)),
      ...what,
    ],
    [organisationAgent('destination', 'municipality', a.municipality)],
  );
}

/** A disclosure to a municipality (Export/disclose), or a failed attempt when `outcome` is not '0'. */
export function disclosure(
  a: MunicipalityDisclosure & {
    resources: readonly string[];
    agreement?: AuditedAgreementRef | undefined;
  } & AuditedConsents,
): AuditEvent {
  return toMunicipality(a, [...a.resources.map((r) => resourceEntity(r)), ...agreementAndConsents(a)]);
}

/**
 * How the entities of a withdrawal notice's disclosure are described (`withdrawalNoticeDisclosure`): the notice sent,
 * each resource it names (received by the municipality earlier, not sent again), and the consent that caused it
 * (followed by the consent event's type). The child's overview, the console and an auditor reading the AuditEvent
 * tell a notice from a disclosure of the child's data by them.
 */
export const WITHDRAWAL_NOTICE_DESCRIPTIONS = {
  notice: 'withdrawal notice',
  referredTo: 'referred to by the withdrawal notice, not sent with it',
  reason: 'reason for the withdrawal notice: ',
} as const;

/**
 * A withdrawal notice disclosed to a municipality (Export/disclose of a Consent), or a failed attempt when `outcome`
 * is not '0'. What was sent is the notice alone; the resources it names and the consent that caused it are entities
 * of their own kind (`WITHDRAWAL_NOTICE_DESCRIPTIONS`), not data sent or a legal basis. The agreements are those
 * the disclosures it withdraws rested on, as every disclosure names its agreement.
 */
export function withdrawalNoticeDisclosure(
  a: MunicipalityDisclosure & {
    /** `Consent/<notice id>`. */
    notice: string;
    referredTo: readonly string[];
    /**
     * The consent the consent event is about (withdrawn, voided, or an objection), with the version the event wrote,
     * and the event's type.
     */
    reason: AuditedConsents & { readonly eventType: string };
    agreements: readonly AuditedAgreementRef[];
  },
): AuditEvent {
  return toMunicipality(a, [
    resourceEntity(a.notice, WITHDRAWAL_NOTICE_DESCRIPTIONS.notice),
    ...a.referredTo.map((r) => resourceEntity(r, WITHDRAWAL_NOTICE_DESCRIPTIONS.referredTo)),
    ...a.agreements.map(agreementEntity),
    ...consentEntities(a.reason, `${WITHDRAWAL_NOTICE_DESCRIPTIONS.reason}${a.reason.eventType}`),
  ]);
}

/** The agreement (with its version) and the consents a disclosure was made under, as entities. */
function agreementAndConsents(
  a: { agreement?: AuditedAgreementRef | undefined } & AuditedConsents,
): AuditEventEntity[] {
  return [...(a.agreement ? [agreementEntity(a.agreement)] : []), ...consentEntities(a)];
}

/**
 * The monitoring report pushed to a municipality (Export/disclose, purpose monitoring), or a failed attempt. No
 * patient entity: the MeasureReport holds suppressed counts only. The agreements are those with purpose `monitoring`
 * the report covers: one per practice of the municipality in force in its period.
 */
export function reportDisclosure(a: {
  actor: AuditActor;
  outcome: AuditOutcome;
  outcomeDesc?: string | undefined;
  inboxId: string;
  municipality: string;
  destination: string;
  /** `MeasureReport/<id>`, and the period and report version as its description. */
  report: { reference: string; description: string };
  agreements: readonly AuditedAgreementRef[];
}): AuditEvent {
  return exported(
    a,
    'monitoring',
    [
      resourceEntity(a.report.reference, a.report.description),
      resourceEntity(`inbox/${a.inboxId}`, destinationEntityDescription(a.destination)),
      ...a.agreements.map(agreementEntity),
    ],
    [organisationAgent('destination', 'municipality', a.municipality)],
  );
}

/** The purpose of handing a child's overview to the child or its representative (AVG art. 15). */
export const SUBJECT_ACCESS_PURPOSE = 'subject-access';

/**
 * A child's overview handed over in answer to an access request (AVG art. 15): a disclosure to the data subject (or
 * whoever represents them), by the privacy officer who downloaded it, naming the document by its SHA-256 so the
 * copy handed over can be matched to this row. In the chains the overview read, as every read of them is.
 */
export function subjectAccessDisclosure(a: {
  actor: AuditActor;
  patientBsn: string;
  /** `child_overview/<sha256>`, and its format as description. */
  document: { reference: string; description: string };
}): AuditEvent {
  return exported(
    { actor: a.actor, outcome: '0' },
    SUBJECT_ACCESS_PURPOSE,
    [patientEntity(a.patientBsn), resourceEntity(a.document.reference, a.document.description)],
    [],
  );
}

// The feedback path (a municipality's status on a referral, going back to the practice): receiving it is an Import
// (DCM 110107) with the municipality as responsible agent; sending it on is decided (AuthZ-Consent) and then an
// Export/disclose whose recipient is the practice, where `disclosure` always names a municipality; both name the
// agreement the referral went to the municipality under. All go into the practice's chain, next to the rest of that
// referral's trail.

/** A municipality's status update on a referral, received and stored (Import, create). */
export function feedbackReceived(a: {
  actor: AuditActor;
  municipality: string;
  practiceAgb: string;
  patientBsn: string;
  inboxId: string;
  feedbackId: string;
  serviceRequestId: string;
  status: string;
}): AuditEvent {
  return buildAuditEvent({
    actor: a.actor,
    type: AUDIT_TYPES.import,
    subtype: AUDIT_SUBTYPES.receive,
    action: 'C',
    outcome: '0',
    purpose: 'referral',
    entities: [
      patientEntity(a.patientBsn),
      resourceEntity(`Task/${a.feedbackId}`, `referral status ${a.status}`),
      resourceEntity(`ServiceRequest/${a.serviceRequestId}`),
      resourceEntity(`inbox/${a.inboxId}`),
    ],
    extraAgents: [
      organisationAgent('source', 'municipality', a.municipality),
      organisationAgent('destination', 'practice', a.practiceAgb),
    ],
  });
}

/** What the decision on a status update and its disclosure to the practice both name. */
interface FeedbackToPractice {
  actor: AuditActor;
  practiceAgb: string;
  municipality: string;
  patientBsn: string;
  inboxId: string;
  feedbackId: string;
  serviceRequestId: string;
  /** The agreement the referral went to the municipality under, as its delivery recorded it. */
  agreement?: AuditedAgreementRef | undefined;
}

/** The municipality that sent the status and the practice it goes to. */
function feedbackAgents(a: FeedbackToPractice): AuditEventAgent[] {
  return [
    organisationAgent('source', 'municipality', a.municipality),
    organisationAgent('destination', 'practice', a.practiceAgb),
  ];
}

/**
 * The policy decision on a status update going to the practice (BALP AuthZ-Consent), right before it is sent: on the
 * agreement its referral went to the municipality under (`decideReferralStatus`), described on the Task.
 */
export function feedbackDecision(a: FeedbackToPractice & { permit: boolean; reasons: string }): AuditEvent {
  return authzConsent(
    { ...a, purpose: 'referral', stage: 'deliver' },
    `Task/${a.feedbackId}`,
    [
      resourceEntity(`ServiceRequest/${a.serviceRequestId}`),
      resourceEntity(`inbox/${a.inboxId}`),
      ...agreementAndConsents(a),
    ],
    feedbackAgents(a),
  );
}

/** A status update disclosed to the practice's HIS (Export/disclose), or a failed attempt when outcome is not 0. */
export function feedbackDisclosure(
  a: FeedbackToPractice & { outcome: AuditOutcome; outcomeDesc?: string | undefined; endpoint: string },
): AuditEvent {
  return exported(
    a,
    'referral',
    [
      patientEntity(a.patientBsn),
      resourceEntity(`Task/${a.feedbackId}`, `endpoint ${a.endpoint}`),
      resourceEntity(`ServiceRequest/${a.serviceRequestId}`),
      resourceEntity(`inbox/${a.inboxId}`),
      ...agreementAndConsents(a),
    ],
    feedbackAgents(a),
  );
}

// The reverse direction (a trajectory event the municipality registered, going to the practice): its receipt is an
// Import with the municipality as source, its decision an AuthZ-Consent like the HIS direction's, its delivery an
// Export/disclose to the practice. All in the practice's chain, so the practice's auditor sees both directions.

/** A municipality's trajectory event, received and stored (Import). */
export function trajectoryEventReceived(a: {
  actor: AuditActor;
  municipality: string;
  practiceAgb: string;
  patientBsn: string;
  trajectoryEventId: string;
  eventType: string;
  purpose: string;
}): AuditEvent {
  return buildAuditEvent({
    actor: a.actor,
    type: AUDIT_TYPES.import,
    subtype: AUDIT_SUBTYPES.receive,
    action: 'C',
    outcome: '0',
    purpose: a.purpose,
    entities: [patientEntity(a.patientBsn), resourceEntity(`trajectory_event/${a.trajectoryEventId}`, a.eventType)],
    extraAgents: [
      organisationAgent('source', 'municipality', a.municipality),
      organisationAgent('destination', 'practice', a.practiceAgb),
    ],
  });
}

/** The policy decision on a trajectory event going to the practice (BALP AuthZ-Consent). */
export function trajectoryDecision(a: {
  actor: AuditActor;
  permit: boolean;
  reasons: string;
  patientBsn: string;
  trajectoryEventId: string;
  consentIds: readonly string[];
  consentVersions?: AuditedConsents['consentVersions'];
  agreement?: AuditedAgreementRef | undefined;
  practiceAgb: string;
  purpose: string;
  /** At receipt, and again right before sending. */
  stage: 'receive' | 'deliver';
}): AuditEvent {
  return authzConsent(
    a,
    `trajectory_event/${a.trajectoryEventId}`,
    [...consentEntities(a), ...(a.agreement ? [agreementEntity(a.agreement)] : [])],
    [organisationAgent('destination', 'practice', a.practiceAgb)],
  );
}

/** A trajectory event disclosed to the practice's HIS (Export/disclose), or a failed attempt when outcome is not 0. */
export function trajectoryDisclosure(
  a: {
    actor: AuditActor;
    outcome: AuditOutcome;
    outcomeDesc?: string | undefined;
    practiceAgb: string;
    municipality: string;
    patientBsn: string;
    trajectoryEventId: string;
    purpose: string;
    resources: readonly string[];
    endpoint: string;
    /** The agreement and consents the delivery was decided under, as `disclosure` names them. */
    agreement?: AuditedAgreementRef | undefined;
  } & AuditedConsents,
): AuditEvent {
  return exported(
    a,
    a.purpose,
    [
      patientEntity(a.patientBsn),
      resourceEntity(`trajectory_event/${a.trajectoryEventId}`, `endpoint ${a.endpoint}`),
      ...a.resources.map((r) => resourceEntity(r)),
      ...agreementAndConsents(a),
    ],
    [
      organisationAgent('source', 'municipality', a.municipality),
      organisationAgent('destination', 'practice', a.practiceAgb),
    ],
  );
}

/** An operator action (replay, pause, resume, purge) on an event or a destination. */
export function operatorAction(a: {
  actor: AuditActor;
  action: string;
  target: string;
  patientBsn?: string | undefined;
  /** What exactly was done to the target (counts, sequence numbers); never personal data. */
  description?: string | undefined;
  /** Organisations the action was done for (a municipality's report pushed), so their auditors find it. */
  extraAgents?: AuditEventAgent[] | undefined;
  /** '4' for an action asked for and refused (the target was not in a state to take it); done: '0'. */
  outcome?: AuditOutcome | undefined;
}): AuditEvent {
  return buildAuditEvent({
    actor: a.actor,
    type: AUDIT_TYPES.applicationActivity,
    subtype: { system: OPERATOR_ACTION_SYSTEM, code: a.action },
    action: 'E',
    outcome: a.outcome ?? '0',
    entities: [...(a.patientBsn ? [patientEntity(a.patientBsn)] : []), resourceEntity(a.target, a.description)],
    extraAgents: a.extraAgents,
  });
}

/**
 * A read or search of audit or consent data (BALP Read / Query): NEN 7513 counts looking at the log as an access
 * in its own right. The query travels base64-encoded in a Query entity, as BALP prescribes. A refusal (outcome '4')
 * is a Security Alert, as every refusal is (`auditRefusal`), its subtype still saying what was refused: one search,
 * `type=110113&outcome=4`, finds them all.
 */
export function dataAccess(a: {
  actor: AuditActor;
  interaction: 'read' | 'search';
  outcome: AuditOutcome;
  outcomeDesc?: string | undefined;
  /** The request as received: path and query string. */
  query: string;
  patientBsn?: string | undefined;
  /** What was read, as a reference (`AuditEvent/…`, `Consent/…`) or a pseudo-reference (`audit_chain/01234567`). */
  target?: string | undefined;
  /** What else the read touched, as (pseudo-)references (`inbox/<event id>`), so a search by them finds it. */
  related?: readonly string[] | undefined;
  /** Organisations whose data was read (a municipality's monitoring report), so their auditors find the read. */
  extraAgents?: readonly AuditEventAgent[] | undefined;
}): AuditEvent {
  return buildAuditEvent({
    actor: a.actor,
    type: a.outcome === '4' ? AUDIT_TYPES.securityAlert : AUDIT_TYPES.rest,
    subtype: a.interaction === 'read' ? AUDIT_SUBTYPES.read : AUDIT_SUBTYPES.search,
    // BALP: a read is action R, a search (query) is action E.
    action: a.interaction === 'read' ? 'R' : 'E',
    outcome: a.outcome,
    outcomeDesc: a.outcomeDesc,
    entities: [
      ...(a.patientBsn ? [patientEntity(a.patientBsn)] : []),
      ...(a.target ? [resourceEntity(a.target)] : []),
      ...(a.related ?? []).map((r) => resourceEntity(r)),
      queryEntity(a.query),
    ],
    extraAgents: a.extraAgents,
  });
}

/**
 * The most of a request's path and query an AuditEvent keeps, in UTF-8 bytes. An ordinary search is far shorter and
 * is kept whole; a longer one (a form body of thousands of ORed values) would otherwise be copied, whole, into a
 * chain nothing may delete for years, once per chain it is recorded in.
 */
export const MAX_AUDITED_QUERY_BYTES = 2048;

/**
 * The BALP Query entity: the query base64-encoded, whole when it fits `MAX_AUDITED_QUERY_BYTES`; else its first bytes
 * (cut at a character boundary), with the whole query's length and SHA-256 as details, so an auditor can still match
 * the row to a request log or a client's own record. The child a search named is an entity of its own, kept in full.
 */
function queryEntity(query: string): AuditEventEntity {
  if (lastQuery?.query !== query) {
    lastQuery = { query, entity: deepFreeze(newQueryEntity(query)) };
  }
  return lastQuery.entity;
}

/**
 * The entity of the query recorded last, frozen: a busy read (`$explain`) is recorded with the same query every time,
 * whose entity, and its canonical text (chain.ts keeps that of frozen parts), are then made once. One query only, so
 * no more of what callers asked for is kept than the last of it.
 */
let lastQuery: { readonly query: string; readonly entity: AuditEventEntity } | undefined;

function newQueryEntity(query: string): AuditEventEntity {
  const bytes = Buffer.from(query, 'utf8');
  if (bytes.length <= MAX_AUDITED_QUERY_BYTES) {
    return { type: SYSTEM_OBJECT, role: QUERY_ROLE, query: bytes.toString('base64') };
  }
  let end = MAX_AUDITED_QUERY_BYTES;
  // A UTF-8 continuation byte (10xxxxxx) at the cut: the character began before it, so cut before that character.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) {
    end--;
  }
  return {
    type: SYSTEM_OBJECT,
    role: QUERY_ROLE,
    query: bytes.subarray(0, end).toString('base64'),
    description: `query cut to its first ${end} of ${bytes.length} bytes`,
    detail: [
      { type: 'query-length', valueString: String(bytes.length) },
      { type: 'query-sha256', valueString: createHash('sha256').update(bytes).digest('hex') },
    ],
  };
}

/**
 * A refused credential (IHE BALP User Authentication, DICOM 110114 / 110122 Login, outcome 4): who cannot be known,
 * so the agent is `anonymous` at the client address, or the API key whose id the refused key named when that id is
 * on file (auth-failures.ts), unverified. `reason` is the refusal's coarse text ("Invalid API key");
 * never the credential, a part of it, or a token's claims (a `sub` may be an e-mail address).
 */
export function authenticationFailed(a: { actor: AuditActor; reason: string; route: string }): AuditEvent {
  return userAuthentication(a.actor, AUDIT_SUBTYPES.login, '4', a.route, a.reason);
}

/**
 * A console sign-in (DICOM 110114 / 110122 Login, outcome 0) or sign-out (110123 Logout): who was signed in when,
 * from where, and for whom, as NEN 7513 asks. In the system chain, beside the refused ones.
 */
export function consoleSession(a: { actor: AuditActor; event: 'login' | 'logout'; route: string }): AuditEvent {
  return userAuthentication(a.actor, AUDIT_SUBTYPES[a.event], '0', a.route);
}

function userAuthentication(
  actor: AuditActor,
  subtype: Coding,
  outcome: AuditOutcome,
  route: string,
  outcomeDesc?: string,
): AuditEvent {
  return buildAuditEvent({
    actor,
    type: AUDIT_TYPES.userAuthentication,
    subtype,
    action: 'E',
    outcome,
    outcomeDesc,
    entities: [{ what: { display: route } }],
  });
}

const SECURITY_USER_ENTITY = deepFreeze({ system: OBJECT_ROLE, code: '11', display: 'Security User Entity' });

/**
 * An API key created or revoked (`npm run api-key`): who was given which access, or had it taken away (DICOM 110113
 * Security Alert / 110136 Security Roles Changed, action C or D, outcome 0), by whom (the operating-system user or
 * `--by`) on which machine. The key as its principal id with its role and scope; never the key or its hash.
 */
export function apiKeyChanged(a: {
  actor: AuditActor;
  change: 'create' | 'revoke';
  keyId: string;
  /** Role and scope: `role auditor; practices 01234567`. */
  access: string;
}): AuditEvent {
  return buildAuditEvent({
    actor: a.actor,
    type: AUDIT_TYPES.securityAlert,
    subtype: AUDIT_SUBTYPES.securityRolesChanged,
    action: a.change === 'create' ? 'C' : 'D',
    outcome: '0',
    entities: [
      {
        what: { identifier: { system: PRINCIPAL_SYSTEM, value: `api-key:${a.keyId}` } },
        type: SYSTEM_OBJECT,
        role: SECURITY_USER_ENTITY,
        description: `${a.change === 'create' ? 'created' : 'revoked'}: ${a.access}`,
      },
    ],
  });
}

/**
 * The chain that records accesses not tied to one practice (an auditor's search that found nothing), sign-ins, key
 * changes and integrity alerts. Not an AGB code, so it can never collide with a practice's chain; visible to auditors
 * and operators with the `'*'` scope.
 */
export const SYSTEM_TENANT = 'system';

/** Ours: what became of an audit chain's integrity (`integrityChanged`). */
const CHAIN_INTEGRITY_SYSTEM = 'https://jeugdbrug.nl/fhir/CodeSystem/audit-chain-integrity';

/**
 * A change of an audit chain's verdict (DICOM 110113 Security Alert, in the system chain): found broken (outcome 8,
 * by which check, at which rows, what), its break acknowledged by an auditor (outcome 0, the auditor as agent: signing
 * resumes) or found intact again (outcome 0). The chain as entity `audit_chain/<tenant>`, the rows and the problem in
 * its description: they name rows and columns, never a value.
 */
export function integrityChanged(a: {
  actor: AuditActor;
  tenant: string;
  verdict: 'broken' | 'acknowledged' | 'intact';
  brokenFromSeq?: number | undefined;
  brokenAtSeq?: number | undefined;
  problem?: string | undefined;
  foundBy?: string | undefined;
}): AuditEvent {
  const rows =
    a.brokenAtSeq === undefined
      ? ''
      : a.brokenFromSeq !== undefined && a.brokenFromSeq < a.brokenAtSeq
        ? `rows ${a.brokenFromSeq} to ${a.brokenAtSeq}`
        : `row ${a.brokenAtSeq}`;
  const description = [
    a.verdict,
    ...(rows ? [`at ${rows}`] : []),
    ...(a.foundBy ? [`found by ${a.foundBy}`] : []),
    ...(a.problem ? [a.problem] : []),
  ].join('; ');
  return buildAuditEvent({
    actor: a.actor,
    type: AUDIT_TYPES.securityAlert,
    subtype: { system: CHAIN_INTEGRITY_SYSTEM, code: a.verdict },
    action: 'E',
    outcome: a.verdict === 'broken' ? '8' : '0',
    outcomeDesc: description,
    entities: [resourceEntity(`audit_chain/${a.tenant}`, description)],
  });
}
