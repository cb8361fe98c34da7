import type { Coding, Consent, ConsentProvision, Extension, Period } from '@medplum/fhirtypes';
import { DATA_CLASSES, PURPOSES, type DataClass } from '../../../src/contracts/sharing';
import { MUNICIPALITY_CODE_SYSTEM } from '../../../src/kernel/fhir/identifiers';
import {
  CONSENT_CATEGORY_CODE,
  CONSENT_SCOPE_SYSTEM,
  CONSENT_WITHDRAWN_BY_EXTENSION,
  LOINC_SYSTEM,
  PARTICIPATION_TYPE_SYSTEM,
  PURPOSE_SYSTEM,
  RESOURCE_TYPE_SYSTEM,
} from '../../../src/kernel/fhir/systems';
import type { DecisionFacts, DecisionRequest, GuardianFact } from '../../../src/policy/types';
import { prng } from '../../helpers/prng';
import { buildAgreement, CHILD, CHILD_ID, FATHER, MOTHER, MUNICIPALITY, OTHER_MUNICIPALITY } from './builders';

/**
 * Seeded random decisions for property tests of the engine: consents that vary every element the rules read (status,
 * scope, performers, withdrawals, periods at every precision, actors, purposes, classes, partial rules, nesting),
 * agreements of every legal basis and guardian rule, children of every age. Mostly near the typical case, so the
 * permits and every kind of deny all occur often.
 */
export interface RandomCase {
  readonly request: DecisionRequest;
  readonly facts: DecisionFacts;
}

type Random = () => number;

function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

function some<T>(random: Random, items: readonly T[], max: number): T[] {
  const n = Math.floor(random() * (max + 1));
  return Array.from({ length: n }, () => pick(random, items));
}

const DAYS = ['2024', '2025', '2026', '2025-06', '2025-05', '2025-07', '2025-06-14', '2025-06-15', '2025-06-16'];
const INSTANTS = ['2025-06-15T09:59:59Z', '2025-06-15T10:00:00Z', '2025-06-15T12:00:00+02:00', '2025-06-15T23:30:00Z'];
const BOUNDS = [...DAYS, ...INSTANTS, 'not a date', '2025-6-1'];

function period(random: Random): Period | undefined {
  if (random() < 0.4) {
    return undefined;
  }
  return {
    ...(random() < 0.7 ? { start: pick(random, BOUNDS) } : {}),
    ...(random() < 0.5 ? { end: pick(random, BOUNDS) } : {}),
  };
}

function coding(random: Random, system: string, codes: readonly string[]): Coding {
  return random() < 0.9 ? { system, code: pick(random, codes) } : { system: 'urn:other', code: pick(random, codes) };
}

function provision(random: Random, depth: number): ConsentProvision {
  const p: ConsentProvision = {};
  if (depth === 0 ? random() < 0.97 : random() < 0.6) {
    p.type = depth === 0 ? (random() < 0.8 ? 'permit' : 'deny') : random() < 0.6 ? 'deny' : 'permit';
  }
  const span = period(random);
  if (span) {
    p.period = span;
  }
  if (random() < (depth === 0 ? 0.8 : 0.2)) {
    p.actor = Array.from({ length: 1 + Math.floor(random() * 2) }, () => ({
      role: { coding: [coding(random, PARTICIPATION_TYPE_SYSTEM, ['IRCP', 'IRCP', 'IRCP', 'PRCP'])] },
      reference: {
        identifier: {
          system: random() < 0.95 ? MUNICIPALITY_CODE_SYSTEM : 'urn:other',
          value: pick(random, [MUNICIPALITY, MUNICIPALITY, OTHER_MUNICIPALITY]),
        },
      },
    }));
  }
  if (random() < (depth === 0 ? 0.7 : 0.2)) {
    p.purpose = some(random, PURPOSES, 2).map((code) => coding(random, PURPOSE_SYSTEM, [code]));
  }
  if (random() < (depth === 0 ? 0.3 : 0.8)) {
    p.class = some(random, DATA_CLASSES, 2).map((code) => coding(random, RESOURCE_TYPE_SYSTEM, [code]));
  }
  if (random() < 0.05) {
    p.code = [{ coding: [{ system: 'urn:other', code: 'x' }] }];
  }
  if (random() < 0.03) {
    p.securityLabel = [{ system: 'urn:other', code: 'R' }];
  }
  if (random() < 0.02) {
    p.dataPeriod = { start: '2025-01-01' };
  }
  if (random() < 0.02) {
    p.data = [{ meaning: 'instance', reference: { reference: 'Encounter/e-1' } }];
  }
  if (depth < 3 && random() < (depth === 0 ? 0.35 : 0.15)) {
    p.provision = Array.from({ length: 1 + Math.floor(random() * 2) }, () => provision(random, depth + 1));
  }
  return p;
}

/** The provision of the typical case (bench/policy.bench.ts), sometimes with exceptions nested in it. */
function typicalProvision(random: Random): ConsentProvision {
  return {
    type: 'permit',
    period: { start: '2025-01-01' },
    actor: [
      {
        role: { coding: [{ system: PARTICIPATION_TYPE_SYSTEM, code: 'IRCP' }] },
        reference: { identifier: { system: MUNICIPALITY_CODE_SYSTEM, value: MUNICIPALITY } },
      },
    ],
    purpose: [{ system: PURPOSE_SYSTEM, code: 'referral' }],
    ...(random() < 0.3 ? { provision: [provision(random, 1)] } : {}),
  };
}

const STATUSES: Consent['status'][] = ['active', 'active', 'active', 'active', 'inactive', 'entered-in-error', 'draft'];
const PEOPLE = [CHILD, MOTHER, FATHER, 'RelatedPerson/stranger-1'];

function consent(random: Random, index: number, performer: string): Consent {
  const performers = random() < 0.15 ? [performer, ...some(random, PEOPLE, 2)] : [performer];
  const withdrawnBy = performers.filter(() => random() < 0.1);
  const extension: Extension[] = withdrawnBy.map((reference) => ({
    url: CONSENT_WITHDRAWN_BY_EXTENSION,
    valueReference: { reference },
  }));
  const c: Consent = {
    resourceType: 'Consent',
    status: pick(random, STATUSES),
    scope: { coding: [coding(random, CONSENT_SCOPE_SYSTEM, ['patient-privacy'])] },
    category:
      random() < 0.97
        ? [{ coding: [{ system: LOINC_SYSTEM, code: CONSENT_CATEGORY_CODE }] }]
        : [{ coding: [{ system: LOINC_SYSTEM, code: '64292-6' }] }],
    performer: performers.map((reference) => ({ reference })),
    provision: random() < 0.5 ? typicalProvision(random) : provision(random, 0),
  };
  if (random() < 0.95) {
    c.id = `c-${index}`;
  }
  const patient = random();
  if (patient < 0.9) {
    c.patient = { reference: CHILD };
  } else if (patient < 0.95) {
    c.patient = { reference: 'Patient/other-child' };
  }
  if (random() < 0.95) {
    c.dateTime = pick(random, ['2025-01-10T09:00:00+01:00', '2025-03-01', '2025-05-20T12:00:00Z', 'garbage']);
  }
  if (extension.length > 0) {
    c.extension = extension;
  }
  return c;
}

function guardians(random: Random): GuardianFact[] {
  const out: GuardianFact[] = [];
  for (const id of ['mother-1', 'father-1', 'mother-1']) {
    if (random() < (id === 'mother-1' && out.length > 0 ? 0.05 : 0.8)) {
      out.push({
        relatedPersonId: id,
        hasAuthority: random() < 0.85,
        ...(random() < 0.3 ? { hisId: `his-${id}` } : {}),
        ...(random() < 0.3 ? { relationship: id.startsWith('mother') ? 'mother' : 'father' } : {}),
      });
    }
  }
  return out;
}

/** `count` cases from `seed`: the same cases for the same seed on every machine. */
export function* randomCases(seed: number, count: number): Generator<RandomCase> {
  const random = prng(seed);
  const agreements = [
    buildAgreement(),
    buildAgreement({ guardianRule: 'any' }),
    buildAgreement({ legalBasis: 'public-task' }),
    buildAgreement({ legalBasis: 'public-task', objectionBlocks: false }),
    buildAgreement({ validFrom: '2025-06-16' }),
    buildAgreement({ status: 'suspended' }),
  ];
  for (let i = 0; i < count; i++) {
    const classes: DataClass[] = some(random, ['Patient', 'ServiceRequest', 'RelatedPerson', 'Encounter'], 3);
    const request: DecisionRequest = {
      practiceAgb: buildAgreement().practice.agb,
      municipalityCode: random() < 0.9 ? MUNICIPALITY : OTHER_MUNICIPALITY,
      purpose: random() < 0.8 ? 'referral' : pick(random, PURPOSES),
      dataClasses: classes.length > 0 || random() < 0.05 ? classes : ['Patient'],
      at: new Date(pick(random, ['2025-06-15T10:00:00Z', '2025-06-14T22:30:00Z', '2025-06-15T21:59:59Z'])),
    };
    const age = Math.floor(random() * 19);
    const facts: DecisionFacts = {
      agreements:
        random() < 0.5 ? [buildAgreement()] : random() < 0.9 ? [pick(random, agreements)] : some(random, agreements, 2),
      // Usually one consent of each person who may speak, then a few of anyone's.
      consents: [...[CHILD, MOTHER, FATHER].filter(() => random() < 0.8), ...some(random, PEOPLE, 3)].map((person, n) =>
        consent(random, n, person),
      ),
      patient: {
        id: CHILD_ID,
        ...(random() < 0.95 ? { birthDate: `${2025 - age}-${random() < 0.5 ? '03-01' : '06-15'}` } : {}),
        ...(random() < 0.3 ? { hisId: 'his-child-1' } : {}),
      },
      guardians: guardians(random),
    };
    yield { request, facts };
  }
}
