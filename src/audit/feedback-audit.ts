import { randomUUID } from 'node:crypto';
import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding } from '@medplum/fhirtypes';
import { AGB_SYSTEM, MUNICIPALITY_CODE_SYSTEM } from '../fhir/identifiers';
import { PURPOSE_SYSTEM } from '../fhir/systems';
import { AUDIT_SUBTYPES, AUDIT_TYPES, patientEntity, resourceEntity, type AuditActor, type AuditOutcome } from './balp';

/**
 * AuditEvents of the feedback path (a municipality's status on a referral, going back to the practice), in the same
 * BALP shapes as balp.ts: receiving it is an Import (DCM 110107) with the municipality as responsible agent;
 * sending it on is an Export/disclose (DCM 110106) whose recipient is the practice, where balp.ts's `disclosure`
 * always names a municipality. Both go into the practice's chain, next to the rest of that referral's trail.
 */

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const SECURITY_ROLE = 'http://terminology.hl7.org/CodeSystem/extra-security-role-type';

type OrganisationKind = 'practice' | 'municipality';

function organisationIdentifier(kind: OrganisationKind, code: string): { system: string; value: string } {
  return { system: kind === 'practice' ? AGB_SYSTEM : MUNICIPALITY_CODE_SYSTEM, value: code };
}

/** The same agent layout as balp.ts: the principal or component, and whom it acted for. */
function actorAgents(actor: AuditActor): AuditEventAgent[] {
  const agents: AuditEventAgent[] = [
    {
      type: {
        coding: [{ system: SECURITY_ROLE, code: actor.userId.startsWith('system/') ? 'dataprocessor' : 'humanuser' }],
      },
      who: { identifier: { system: 'https://jeugdbrug.nl/principal', value: actor.userId } },
      requestor: true,
      network: {
        address: actor.accessPoint,
        type: actor.accessPoint.includes('.') || actor.accessPoint.includes(':') ? '2' : '1',
      },
    },
  ];
  if (actor.onBehalfOf) {
    agents.push({
      type: { coding: [{ system: PARTICIPATION, code: 'RESP', display: 'responsible party' }] },
      who: { identifier: organisationIdentifier(actor.onBehalfOf.kind, actor.onBehalfOf.code) },
      requestor: false,
    });
  }
  return agents;
}

function roleAgent(code: '110152' | '110153', display: string, kind: OrganisationKind, id: string): AuditEventAgent {
  return {
    type: { coding: [{ system: DCM, code, display }] },
    who: { identifier: organisationIdentifier(kind, id) },
    requestor: false,
  };
}

function build(b: {
  actor: AuditActor;
  type: Coding;
  subtype: Coding;
  action: NonNullable<AuditEvent['action']>;
  outcome: AuditOutcome;
  outcomeDesc?: string | undefined;
  entities: AuditEventEntity[];
  extraAgents: AuditEventAgent[];
}): AuditEvent {
  return {
    resourceType: 'AuditEvent',
    id: randomUUID(),
    type: b.type,
    subtype: [b.subtype],
    action: b.action,
    recorded: new Date().toISOString(),
    outcome: b.outcome,
    ...(b.outcomeDesc ? { outcomeDesc: b.outcomeDesc } : {}),
    purposeOfEvent: [{ coding: [{ system: PURPOSE_SYSTEM, code: 'referral' }] }],
    agent: [...actorAgents(b.actor), ...b.extraAgents],
    source: {
      site: 'jeugdbrug',
      observer: { display: 'jeugdbrug' },
      type: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/security-source-type',
          code: '4',
          display: 'Application Server',
        },
      ],
    },
    entity: b.entities,
  };
}

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
  return build({
    actor: a.actor,
    type: AUDIT_TYPES.import,
    subtype: AUDIT_SUBTYPES.receive,
    action: 'C',
    outcome: '0',
    entities: [
      patientEntity(a.patientBsn),
      resourceEntity(`Task/${a.feedbackId}`, `referral status ${a.status}`),
      resourceEntity(`ServiceRequest/${a.serviceRequestId}`),
      resourceEntity(`inbox/${a.inboxId}`),
    ],
    extraAgents: [
      roleAgent('110153', 'Source Role ID', 'municipality', a.municipality),
      roleAgent('110152', 'Destination Role ID', 'practice', a.practiceAgb),
    ],
  });
}

/** A status update disclosed to the practice's HIS (Export/disclose), or a failed attempt when outcome is not 0. */
export function feedbackDisclosure(a: {
  actor: AuditActor;
  outcome: AuditOutcome;
  outcomeDesc?: string | undefined;
  practiceAgb: string;
  municipality: string;
  patientBsn: string;
  inboxId: string;
  feedbackId: string;
  serviceRequestId: string;
  endpoint: string;
}): AuditEvent {
  return build({
    actor: a.actor,
    type: AUDIT_TYPES.export,
    subtype: AUDIT_SUBTYPES.disclose,
    action: 'R',
    outcome: a.outcome,
    outcomeDesc: a.outcomeDesc,
    entities: [
      patientEntity(a.patientBsn),
      resourceEntity(`Task/${a.feedbackId}`, `endpoint ${a.endpoint}`),
      resourceEntity(`ServiceRequest/${a.serviceRequestId}`),
      resourceEntity(`inbox/${a.inboxId}`),
    ],
    extraAgents: [
      roleAgent('110153', 'Source Role ID', 'municipality', a.municipality),
      roleAgent('110152', 'Destination Role ID', 'practice', a.practiceAgb),
    ],
  });
}
