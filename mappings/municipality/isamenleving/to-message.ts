import type {
  Coding,
  Encounter,
  EpisodeOfCare,
  Identifier,
  MeasureReport,
  Patient,
  RelatedPerson,
  Resource,
  ServiceRequest,
} from '@medplum/fhirtypes';
import type { DeliveryEventType } from '../../../src/contracts/delivery-event-type';
import { BSN_SYSTEM, MUNICIPALITY_CODE_SYSTEM } from '../../../src/kernel/fhir/identifiers';
import { COD327_SYSTEM, JZ020_SYSTEM, NHG_TABLE_14_SYSTEM } from '../../../src/kernel/fhir/systems';
import {
  EXTENSION,
  HELP_QUESTION_CATEGORY_SYSTEM,
  INTERVENTION_SYSTEM,
  PROFESSIONAL_ROLE_SYSTEM,
  REFERRAL_TARGET_SYSTEM,
  TRAJECTORY_OUTCOME_SYSTEM,
} from '../../../src/kernel/fhir/terminology';
import { parseLocalReference, RESOURCE_ID_SYSTEM } from '../shared/resource-identifier';

/**
 * The outgoing mapping for iSamenleving-style social-domain systems: plain JSON, one "aanmelding" (registration
 * of a referral with the social team) per `referral.*` event, one "contactmoment" per `contact.recorded`, and one
 * "trajectafsluiting" (end and outcome of the trajectory) per `trajectory.closed`.
 *
 * There is no public iSamenleving interface specification: this layout is jeugdbrug's documented mapping
 * (docs/delivery.md, "iSamenleving-style messages"), which a municipality matches to its own interface agreement.
 * Every field is optional except the message identity: the agreement's allow-list decides what is left after
 * minimisation, and a field whose FHIR element was cut away is simply absent, never empty.
 */

/** A code with its display, when the tables give one. */
export interface Code {
  readonly code: string;
  readonly omschrijving?: string;
}

export interface Client {
  /** Stable pseudonymous reference of the child across messages (jeugdbrug resource id). */
  readonly referentie: string;
  readonly bsn?: string;
  readonly geboortedatum?: string;
  readonly gemeente?: string;
}

export interface Gezagsdrager {
  readonly referentie: string;
  readonly bsn?: string;
  readonly relatie?: Code;
  /** Whether this parent or guardian holds parental authority. */
  readonly gezag?: boolean;
}

export interface Aanmelding {
  readonly berichtId: string;
  readonly berichtType: 'aanmelding';
  /** `aangemeld` for referral.created, `ingetrokken` for referral.cancelled. */
  readonly gebeurtenis: 'aangemeld' | 'ingetrokken';
  readonly client?: Client;
  readonly gezagsdragers?: readonly Gezagsdrager[];
  readonly verwijzing: {
    readonly referentie: string;
    /** The practice's own referral id. */
    readonly bronReferentie?: string;
    /**
     * The referral's business identifier (ServiceRequest.identifier) in full: what the municipality sends status
     * back with (`/municipality/v1/referrals/{waarde}/status`, or `{systeem}|{waarde}`).
     */
    readonly identificatie?: { readonly systeem: string; readonly waarde: string };
    readonly datum?: string;
    readonly productcategorie?: Code;
    readonly verwijzerType?: Code;
    readonly verwijzerAgb?: string;
    readonly doel?: Code;
    /** Free text: present only when the agreement explicitly allows `note`. */
    readonly toelichting?: string;
  };
}

export interface Contactmoment {
  readonly berichtId: string;
  readonly berichtType: 'contactmoment';
  readonly client?: Client;
  readonly contactmoment: {
    readonly referentie: string;
    readonly bronReferentie?: string;
    readonly datum?: string;
    readonly duurMinuten?: number;
    readonly contactwijze?: Code;
    readonly soort?: string;
    readonly interventies?: readonly Code[];
    readonly professional?: { readonly agb?: string; readonly rol?: Code };
    readonly trajectReferentie?: string;
  };
  readonly traject?: Traject;
}

export interface Traject {
  readonly referentie: string;
  readonly bronReferentie?: string;
  readonly status?: string;
  readonly startdatum?: string;
  readonly einddatum?: string;
  readonly hulpvraag?: Code;
  readonly uitkomst?: Code;
}

/** The end of a trajectory (`trajectory.closed`): its end date and outcome, what municipalities monitor. */
export interface Trajectafsluiting {
  readonly berichtId: string;
  readonly berichtType: 'trajectafsluiting';
  readonly client?: Client;
  readonly traject: Traject;
}

/**
 * The municipality's monitoring report (`monitoring.report`): the FHIR MeasureReport itself in a thin envelope. It
 * holds only suppressed counts, and no social-domain system has a native layout for its groups and strata, so a
 * flattened home-made table would only lose what the FHIR form says (suppression, the p × q inputs).
 */
export interface Monitoringrapportage {
  readonly berichtId: string;
  readonly berichtType: 'monitoringrapportage';
  /** CBS code of the municipality the report is about. */
  readonly gemeente: string;
  readonly periode: { readonly start: string; readonly eind: string };
  readonly rapportage: MeasureReport;
}

export interface ISamenlevingMessage {
  /** Path under the destination's base URL. */
  readonly path: 'aanmeldingen' | 'contactmomenten' | 'trajectafsluitingen' | 'monitoringrapportages';
  readonly body: Aanmelding | Contactmoment | Trajectafsluiting | Monitoringrapportage;
}

/**
 * The message for an event, or undefined when iSamenleving-style systems have no message for that event type
 * (consents, feedback): the caller turns that into a permanent failure an operator can see.
 */
export function toISamenlevingMessage(
  resources: readonly Resource[],
  eventType: DeliveryEventType,
  idempotencyKey: string,
): ISamenlevingMessage | undefined {
  const patient = find<Patient>(resources, 'Patient');
  const client = patient ? clientOf(patient) : undefined;
  switch (eventType) {
    case 'referral.created':
    case 'referral.cancelled': {
      const request = find<ServiceRequest>(resources, 'ServiceRequest');
      if (!request) {
        return undefined;
      }
      const guardians = resources.filter((r): r is RelatedPerson => r.resourceType === 'RelatedPerson');
      const body: Aanmelding = {
        berichtId: idempotencyKey,
        berichtType: 'aanmelding',
        gebeurtenis: eventType === 'referral.created' ? 'aangemeld' : 'ingetrokken',
        ...(client ? { client } : {}),
        ...(guardians.length ? { gezagsdragers: guardians.map(gezagsdragerOf) } : {}),
        verwijzing: compact({
          referentie: request.id ?? '',
          bronReferentie: sourceIdOf(request.identifier),
          identificatie: businessIdentifierOf(request.identifier),
          datum: request.authoredOn,
          productcategorie: codeIn(
            request.category?.flatMap((c) => c.coding ?? []),
            JZ020_SYSTEM,
          ),
          verwijzerType: codeIn(
            request.extension?.filter((e) => e.url === EXTENSION.referrerType).map((e) => e.valueCoding ?? {}),
            COD327_SYSTEM,
          ),
          verwijzerAgb: request.requester?.identifier?.value,
          doel: codeIn(request.performerType?.coding, REFERRAL_TARGET_SYSTEM),
          toelichting: request.note?.map((n) => n.text).join('\n') || undefined,
        }),
      };
      return { path: 'aanmeldingen', body };
    }
    case 'contact.recorded': {
      const encounter = find<Encounter>(resources, 'Encounter');
      if (!encounter) {
        return undefined;
      }
      const episode = find<EpisodeOfCare>(resources, 'EpisodeOfCare');
      const typeCodings = encounter.type?.flatMap((t) => t.coding ?? []);
      const performer = encounter.participant?.[0];
      const professional = compact({
        agb: performer?.individual?.identifier?.value,
        rol: codeIn(
          performer?.type?.flatMap((t) => t.coding ?? []),
          PROFESSIONAL_ROLE_SYSTEM,
        ),
      });
      const interventies = (typeCodings ?? [])
        .filter((c) => c.system === INTERVENTION_SYSTEM && c.code)
        .map((c) => codeOf(c));
      const body: Contactmoment = {
        berichtId: idempotencyKey,
        berichtType: 'contactmoment',
        ...(client ? { client } : {}),
        contactmoment: compact({
          referentie: encounter.id ?? '',
          bronReferentie: sourceIdOf(encounter.identifier),
          datum: encounter.period?.start,
          duurMinuten: encounter.length?.value,
          contactwijze: codeIn(typeCodings, NHG_TABLE_14_SYSTEM),
          soort: encounter.class?.code,
          interventies: interventies.length ? interventies : undefined,
          professional: Object.keys(professional).length ? professional : undefined,
          trajectReferentie: parseLocalReference(encounter.episodeOfCare?.[0]?.reference)?.id,
        }),
        ...(episode ? { traject: trajectOf(episode) } : {}),
      };
      return { path: 'contactmomenten', body };
    }
    case 'trajectory.closed': {
      const episode = find<EpisodeOfCare>(resources, 'EpisodeOfCare');
      if (!episode) {
        return undefined;
      }
      const body: Trajectafsluiting = {
        berichtId: idempotencyKey,
        berichtType: 'trajectafsluiting',
        ...(client ? { client } : {}),
        traject: trajectOf(episode),
      };
      return { path: 'trajectafsluitingen', body };
    }
    case 'monitoring.report': {
      const report = find<MeasureReport>(resources, 'MeasureReport');
      const municipality = report?.reporter?.identifier;
      if (!report?.period?.start || !report.period.end || municipality?.system !== MUNICIPALITY_CODE_SYSTEM) {
        return undefined;
      }
      const body: Monitoringrapportage = {
        berichtId: idempotencyKey,
        berichtType: 'monitoringrapportage',
        gemeente: municipality.value ?? '',
        periode: { start: report.period.start, eind: report.period.end },
        rapportage: report,
      };
      return { path: 'monitoringrapportages', body };
    }
    case 'consent.recorded':
    case 'consent.withdrawn':
    case 'consent.entered-in-error':
    case 'referral.status':
    case 'municipality.trajectory.intake':
    case 'municipality.trajectory.contact':
    case 'municipality.trajectory.referral':
    case 'municipality.trajectory.closure':
      return undefined;
  }
}

function trajectOf(episode: EpisodeOfCare): Traject {
  return compact({
    referentie: episode.id ?? '',
    bronReferentie: sourceIdOf(episode.identifier),
    status: episode.status,
    startdatum: episode.period?.start,
    einddatum: episode.period?.end,
    hulpvraag: codeIn(
      episode.type?.flatMap((t) => t.coding ?? []),
      HELP_QUESTION_CATEGORY_SYSTEM,
    ),
    uitkomst: codeIn(
      episode.extension?.filter((e) => e.url === EXTENSION.trajectoryOutcome).map((e) => e.valueCoding ?? {}),
      TRAJECTORY_OUTCOME_SYSTEM,
    ),
  });
}

/** The HIS's own identifier of the record in full (neither a BSN nor ours). */
function businessIdentifierOf(
  identifiers: readonly Identifier[] | undefined,
): { systeem: string; waarde: string } | undefined {
  const own = identifiers?.find((i) => i.system !== RESOURCE_ID_SYSTEM && i.system !== BSN_SYSTEM);
  return own?.system && own.value ? { systeem: own.system, waarde: own.value } : undefined;
}

function find<T extends Resource>(resources: readonly Resource[], type: T['resourceType']): T | undefined {
  return resources.find((r): r is T => r.resourceType === type);
}

function clientOf(patient: Patient): Client {
  const municipality = patient.address
    ?.flatMap((a) => a.extension ?? [])
    .find((e) => e.url === EXTENSION.municipality)?.valueIdentifier;
  return compact({
    referentie: patient.id ?? '',
    bsn: patient.identifier?.find((i) => i.system === BSN_SYSTEM)?.value,
    geboortedatum: patient.birthDate,
    gemeente: municipality?.system === MUNICIPALITY_CODE_SYSTEM ? municipality.value : undefined,
  });
}

function gezagsdragerOf(person: RelatedPerson): Gezagsdrager {
  const authority = person.extension?.find((e) => e.url === EXTENSION.parentalAuthority)?.valueBoolean;
  const relation = person.relationship?.[0]?.coding?.[0];
  return compact({
    referentie: person.id ?? '',
    bsn: person.identifier?.find((i) => i.system === BSN_SYSTEM)?.value,
    relatie: relation?.code ? codeOf(relation) : undefined,
    gezag: authority,
  });
}

/** The HIS's own record id: the identifier that is neither a BSN nor ours. */
function sourceIdOf(identifiers: readonly Identifier[] | undefined): string | undefined {
  return identifiers?.find((i) => i.system !== RESOURCE_ID_SYSTEM && i.system !== BSN_SYSTEM)?.value;
}

function codeIn(codings: readonly Coding[] | undefined, system: string): Code | undefined {
  const c = codings?.find((x) => x.system === system && x.code);
  return c ? codeOf(c) : undefined;
}

function codeOf(c: Coding): Code {
  return { code: c.code ?? '', ...(c.display ? { omschrijving: c.display } : {}) };
}

/** Drops undefined fields, so absent data is absent in the JSON rather than `null` or `""`. */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
