import type { EpisodeOfCare, Encounter, Extension, ServiceRequest } from '@medplum/fhirtypes';
import type { CanonicalEvent } from '../contracts/his-dialect';
import { COD327_SYSTEM } from '../kernel/fhir/systems';
import {
  EXTENSION,
  HELP_QUESTION_CATEGORY_SYSTEM,
  INTERVENTION_SYSTEM,
  REFERRAL_TARGET_SYSTEM,
  REFERRER_SUBTYPE_SYSTEM,
  tryTranslate,
  tryTranslateBack,
} from '../kernel/fhir/terminology';
import { JZ020_SYSTEM } from '../kernel/fhir/systems';
import { ageOnDay } from '../policy/age';
import { amsterdamDayOf } from '../kernel/dutch-time';
import type { Pseudonymiser } from './report-pseudonym';

/**
 * The facts the monitoring report needs, cut from a mapped event: categories, dates and counts, keyed by
 * pseudonyms. Pure. What is left out is the point: no BSN, name, free text, ICPC code or source id survives.
 * Every day is the Europe/Amsterdam calendar day (`amsterdamDayOf`), as the policy engine and the referral timeline
 * count days: a referral sent as `2026-09-30T22:30:00Z` was made on 1 October, in Q4.
 */

export type AgeBand = '0-3' | '4-11' | '12-15' | '16-17' | '18+';

export interface TrajectoryFact {
  readonly key: string;
  readonly municipality: string;
  readonly practice: string;
  readonly childPseudonym: string;
  readonly ageBand: AgeBand;
  readonly startDate: string;
  readonly closedOn: string | undefined;
  readonly outcome: string | undefined;
  readonly referrerType: string | undefined;
  readonly referrerSubtype: string;
  readonly helpQuestions: readonly string[];
}

export interface ContactFact {
  readonly key: string;
  readonly trajectoryKey: string;
  readonly contactOn: string;
  readonly ageBand: AgeBand;
  readonly interventions: readonly string[];
  /** How long the contact took, in whole minutes, when the event says (Encounter.length); for the contact hours. */
  readonly durationMinutes: number | undefined;
}

export interface ReferralFact {
  readonly key: string;
  readonly municipality: string;
  readonly practice: string;
  readonly childPseudonym: string;
  readonly target: string | undefined;
  readonly productCategory: string | undefined;
  readonly referrerType: string | undefined;
  readonly status: 'active' | 'revoked';
  readonly referredOn: string;
}

export interface MonitoringFacts {
  readonly trajectory?: TrajectoryFact | undefined;
  readonly contact?: ContactFact | undefined;
  readonly referral?: ReferralFact | undefined;
}

/** The age band on a day; a birth date after the day (bad data) counts as the youngest band. */
function ageBandOn(birthDate: string, day: string): AgeBand {
  const age = ageOnDay(birthDate, day) ?? 0;
  return age <= 3 ? '0-3' : age <= 11 ? '4-11' : age <= 15 ? '12-15' : age <= 17 ? '16-17' : '18+';
}

function codeOf(ext: readonly Extension[] | undefined, url: string): string | undefined {
  return ext?.find((e) => e.url === url)?.valueCoding?.code;
}

/** Who referred: the sub-type when the HIS named one, else the generic sub-type of its COD327 code, else unknown. */
function referrerOf(ext: readonly Extension[] | undefined): { type: string | undefined; subtype: string } {
  const type = codeOf(ext, EXTENSION.referrerType);
  const subtype = codeOf(ext, EXTENSION.referrerSubtype);
  if (subtype) {
    return { type: type ?? tryTranslate(REFERRER_SUBTYPE_SYSTEM, subtype, COD327_SYSTEM)?.code, subtype };
  }
  return {
    type,
    subtype: (type ? tryTranslateBack(COD327_SYSTEM, type, REFERRER_SUBTYPE_SYSTEM) : undefined) ?? 'unknown',
  };
}

function codesIn(concepts: Encounter['type'], system: string): string[] {
  const codes: string[] = [];
  for (const c of concepts ?? []) {
    for (const coding of c.coding ?? []) {
      if (coding.system === system && coding.code && !codes.includes(coding.code)) {
        codes.push(coding.code);
      }
    }
  }
  return codes;
}

/** A duration in whole minutes (Encounter.length in `min` or `h`); undefined when absent or in another unit. */
function minutesOf(length: Encounter['length']): number | undefined {
  const value = length?.value;
  if (value === undefined || value <= 0) {
    return undefined;
  }
  const unit = length?.code ?? length?.unit;
  return unit === 'min' ? Math.round(value) : unit === 'h' ? Math.round(value * 60) : undefined;
}

/** The reporting facts of one event; empty for consents, which the report does not count. */
export function monitoringFactsOf(event: CanonicalEvent, p: Pseudonymiser): MonitoringFacts {
  const municipality = event.municipalityCode;
  const practice = event.practice.agb;
  const key = (kind: string, id: string | undefined): string => p.pseudonym(municipality, `${kind}/${id ?? ''}`);
  const childPseudonym = p.pseudonym(municipality, `bsn/${event.patient.bsn}`);
  const birthDate = event.patient.birthDate;
  const episode = event.resources.find((r): r is EpisodeOfCare => r.resourceType === 'EpisodeOfCare');
  const encounter = event.resources.find((r): r is Encounter => r.resourceType === 'Encounter');
  const request = event.resources.find((r): r is ServiceRequest => r.resourceType === 'ServiceRequest');
  let trajectory: TrajectoryFact | undefined;
  let contact: ContactFact | undefined;
  let referral: ReferralFact | undefined;
  if (episode?.period?.start) {
    const startDate = amsterdamDayOf(episode.period.start);
    const referrer = referrerOf(episode.extension);
    trajectory = {
      key: key('EpisodeOfCare', episode.id),
      municipality,
      practice,
      childPseudonym,
      ageBand: ageBandOn(birthDate, startDate),
      startDate,
      closedOn: episode.period.end === undefined ? undefined : amsterdamDayOf(episode.period.end),
      outcome: codeOf(episode.extension, EXTENSION.trajectoryOutcome),
      referrerType: referrer.type,
      referrerSubtype: referrer.subtype,
      helpQuestions: codesIn(episode.type, HELP_QUESTION_CATEGORY_SYSTEM),
    };
    if (encounter?.period?.start) {
      const contactOn = amsterdamDayOf(encounter.period.start);
      contact = {
        key: key('Encounter', encounter.id),
        trajectoryKey: trajectory.key,
        contactOn,
        ageBand: ageBandOn(birthDate, contactOn),
        interventions: codesIn(encounter.type, INTERVENTION_SYSTEM),
        durationMinutes: minutesOf(encounter.length),
      };
    }
  }
  if (request) {
    const referrer = referrerOf(request.extension);
    referral = {
      key: key('ServiceRequest', request.id),
      municipality,
      practice,
      childPseudonym,
      target: request.performerType?.coding?.find((c) => c.system === REFERRAL_TARGET_SYSTEM)?.code,
      productCategory: request.category?.[0]?.coding?.find((c) => c.system === JZ020_SYSTEM)?.code,
      referrerType: referrer.type,
      status: request.status === 'revoked' ? 'revoked' : 'active',
      referredOn: amsterdamDayOf(request.authoredOn ?? event.occurredAt),
    };
  }
  return { trajectory, contact, referral };
}
