import type { z } from 'zod';
import {
  AGB_SYSTEM,
  BSN_SYSTEM,
  isNotInFuture,
  MUNICIPALITY_CODE_SYSTEM,
  URA_SYSTEM,
} from '../../../src/kernel/fhir/identifiers';
import {
  COD327_SYSTEM,
  CONSENT_SCOPE_SYSTEM,
  ICPC_SYSTEM,
  JZ020_SYSTEM,
  NHG_TABLE_14_SYSTEM,
  PARTICIPATION_TYPE_SYSTEM,
  PURPOSE_SYSTEM,
  RESOURCE_TYPE_SYSTEM,
} from '../../../src/kernel/fhir/systems';
import {
  EXTENSION,
  GUARDIAN_RELATIONSHIP_SYSTEM,
  HELP_QUESTION_CATEGORY_SYSTEM,
  INTERVENTION_SYSTEM,
  isKnownCode,
  PROFESSIONAL_ROLE_SYSTEM,
  REFERRAL_TARGET_SYSTEM,
  ROLE_CODE_SYSTEM,
  REFERRER_SUBTYPE_SYSTEM,
  TRAJECTORY_OUTCOME_SYSTEM,
  tryTranslateBack,
  unknownCodeMessage,
} from '../../../src/kernel/fhir/terminology';
import { DATA_CLASSES } from '../../../src/contracts/sharing';
import { amsterdamDayOf } from '../../../src/kernel/dutch-time';
import { helpQuestionOf } from '../shared/derive';
import { agb as agbField, bsn as bsnField, municipalityCode, ura as uraField } from '../../../src/kernel/fhir/fields';
import type { ExpressionOf } from '../../../src/kernel/zod-outcome';
import { IssueCollector } from '../shared/issues';
import { checkTrajectoryDates } from '../shared/trajectory-dates';
import type {
  ChildData,
  ConsentParty,
  ConsentRuleData,
  ContactData,
  GuardianData,
  HisEvent,
  NameData,
  PracticeData,
  ProfessionalData,
  ReferralData,
  TrajectoryData,
} from '../shared/model';
import type {
  BundleConcept,
  BundleExtension,
  BundleIdentifier,
  BundleReference,
  EntryResource,
  FhirBundle,
} from './schema';

type Path = readonly PropertyKey[];
type ResourceOf<T extends EntryResource['resourceType']> = Extract<EntryResource, { resourceType: T }>;

/** One entry with where it stood and the HIS's own id of its resource. */
interface Item<R extends EntryResource = EntryResource> {
  readonly resource: R;
  readonly path: Path;
  readonly sourceId: string;
}

const DATA_CLASS_SET: ReadonlySet<string> = new Set(DATA_CLASSES);

/**
 * Reads a parsed Bundle into the internal model, collecting every broken rule with its `Bundle.entry[i].resource…`
 * path. Deterministic ids come from the HIS's own resource ids (`resource.id`, else the `urn:uuid:` of the
 * fullUrl), never from the ids it happens to use for references.
 */
class BundleReader {
  readonly issues: IssueCollector;
  private readonly items: Item[] = [];
  private readonly byKey = new Map<string, Item>();

  constructor(
    readonly bundle: FhirBundle,
    expressionOf: ExpressionOf,
  ) {
    this.issues = new IssueCollector(expressionOf);
    const seen = new Set<string>();
    bundle.entry.forEach((entry, i) => {
      const path = ['entry', i, 'resource'];
      const r = entry.resource;
      const sourceId = r.id ?? (entry.fullUrl?.startsWith('urn:uuid:') ? entry.fullUrl.slice(9) : undefined);
      if (!sourceId) {
        this.issues.add(
          [...path, 'id'],
          'an id, or a fullUrl urn:uuid:…, is needed to identify the record',
          'required',
        );
        return;
      }
      if (seen.has(`${r.resourceType}/${sourceId}`)) {
        this.issues.add([...path, 'id'], `a second ${r.resourceType} with the same id`);
        return;
      }
      seen.add(`${r.resourceType}/${sourceId}`);
      const item: Item = { resource: r, path, sourceId };
      this.items.push(item);
      if (entry.fullUrl) {
        this.byKey.set(entry.fullUrl, item);
      }
      if (r.id) {
        this.byKey.set(`${r.resourceType}/${r.id}`, item);
      }
    });
  }

  all<T extends EntryResource['resourceType']>(type: T): Item<ResourceOf<T>>[] {
    return this.items.filter((i): i is Item<ResourceOf<T>> => i.resource.resourceType === type);
  }

  /** The entry a reference points at, which must be of one of `types`; records an issue otherwise. */
  resolve<T extends EntryResource['resourceType']>(
    ref: BundleReference | undefined,
    path: Path,
    types: readonly T[],
  ): Item<ResourceOf<T>> | undefined {
    const target = ref?.reference ? this.byKey.get(ref.reference) : undefined;
    if (!target || !types.includes(target.resource.resourceType as T)) {
      this.issues.add([...path, 'reference'], `must reference a ${types.join(' or ')} in this Bundle`);
      return undefined;
    }
    return target as Item<ResourceOf<T>>;
  }

  /** The single code in `system` among some CodeableConcepts, checked against the tables. */
  code(
    concepts: readonly BundleConcept[] | undefined,
    system: string,
    label: string,
    path: Path,
    required: boolean,
  ): string | undefined {
    const found = codingsIn(concepts, system);
    if (found.length === 0) {
      if (required) {
        this.issues.add(path, `needs a ${label} coding (${system})`, 'required');
      }
      return undefined;
    }
    const first = found[0];
    if (found.length > 1 && found[1]) {
      this.issues.add([...path, ...found[1].path], `only one ${label} coding is allowed`);
    }
    return first ? this.known(first.code, system, label, [...path, ...first.path, 'code']) : undefined;
  }

  /** Every code in `system` among some CodeableConcepts, each checked against the tables. */
  codes(concepts: readonly BundleConcept[] | undefined, system: string, label: string, path: Path): string[] {
    const out: string[] = [];
    for (const f of codingsIn(concepts, system)) {
      const code = this.known(f.code, system, label, [...path, ...f.path, 'code']);
      if (code !== undefined) {
        out.push(code);
      }
    }
    return out;
  }

  known(code: string | undefined, system: string, label: string, path: Path): string | undefined {
    if (code === undefined || !isKnownCode(system, code)) {
      this.issues.add(path, unknownCodeMessage(system, label), 'code-invalid');
      return undefined;
    }
    return code;
  }

  /** Checks a value with a shared field schema, recording its message at `path`. */
  check(schema: z.ZodType, value: string | undefined, path: Path, label: string): string | undefined {
    if (value === undefined) {
      this.issues.add(path, `needs ${label}`, 'required');
      return undefined;
    }
    const r = schema.safeParse(value);
    if (!r.success) {
      this.issues.add(path, r.error.issues[0]?.message ?? 'invalid', 'invalid');
      return undefined;
    }
    return value;
  }

  /** The value of the single identifier in `system`, checked with `schema`. */
  identifier(
    ids: readonly BundleIdentifier[] | undefined,
    system: string,
    schema: z.ZodType,
    label: string,
    path: Path,
    required: boolean,
  ): string | undefined {
    const i = (ids ?? []).findIndex((id) => id.system === system);
    if (i < 0) {
      if (required) {
        this.issues.add(path, `needs a ${label} identifier (${system})`, 'required');
      }
      return undefined;
    }
    return this.check(schema, ids?.[i]?.value, [...path, i, 'value'], label);
  }

  /** The code of an extension's valueCoding, checked against the tables; undefined when the extension is absent. */
  codedExtension(
    exts: readonly BundleExtension[] | undefined,
    url: string,
    system: string,
    label: string,
    path: Path,
  ): string | undefined {
    const found = this.extension(exts, url, path);
    return found
      ? this.known(found.ext.valueCoding?.code, system, label, [...found.path, 'valueCoding', 'code'])
      : undefined;
  }

  extension(
    exts: readonly BundleExtension[] | undefined,
    url: string,
    path: Path,
  ): { ext: BundleExtension; path: Path } | undefined {
    const i = (exts ?? []).findIndex((e) => e.url === url);
    const ext = exts?.[i];
    return ext ? { ext, path: [...path, i] } : undefined;
  }

  /** The COD327 referrer type extension of a resource, and its code when it is a known one. */
  referrerType(
    exts: readonly BundleExtension[] | undefined,
    path: Path,
  ): { referrer: { ext: BundleExtension; path: Path } | undefined; code: string | undefined } {
    const referrer = this.extension(exts, EXTENSION.referrerType, [...path, 'extension']);
    const code = referrer
      ? this.known(referrer.ext.valueCoding?.code, COD327_SYSTEM, 'COD327 referrer type', [
          ...referrer.path,
          'valueCoding',
          'code',
        ])
      : undefined;
    return { referrer, code };
  }
}

function codingsIn(
  concepts: readonly BundleConcept[] | undefined,
  system: string,
): { code: string | undefined; path: Path }[] {
  const out: { code: string | undefined; path: Path }[] = [];
  (concepts ?? []).forEach((c, i) =>
    (c.coding ?? []).forEach((coding, j) => {
      if (coding.system === system) {
        out.push({ code: coding.code, path: [i, 'coding', j] });
      }
    }),
  );
  return out;
}

function nameOf(
  names: readonly { given?: string[] | undefined; family?: string | undefined }[] | undefined,
): NameData | undefined {
  const n = names?.[0];
  return n && (n.family || n.given?.length) ? { given: n.given, family: n.family } : undefined;
}

function readPractice(r: BundleReader): PracticeData | undefined {
  const orgs = r.all('Organization');
  const org = orgs[0];
  if (orgs.length !== 1 || !org) {
    r.issues.add(['entry'], 'needs exactly one Organization: the sending practice', 'required');
    return undefined;
  }
  const ids = org.resource.identifier;
  const agb = r.identifier(ids, AGB_SYSTEM, agbField, 'AGB', [...org.path, 'identifier'], true);
  const ura = r.identifier(ids, URA_SYSTEM, uraField, 'URA', [...org.path, 'identifier'], false);
  return agb ? { agb, ura } : undefined;
}

function readChild(
  r: BundleReader,
  occurredAt: string,
): { child: ChildData; item: Item<ResourceOf<'Patient'>> } | undefined {
  const patients = r.all('Patient');
  const p = patients[0];
  if (patients.length !== 1 || !p) {
    r.issues.add(['entry'], 'needs exactly one Patient: the child', 'required');
    return undefined;
  }
  const bsn = r.identifier(p.resource.identifier, BSN_SYSTEM, bsnField, 'BSN', [...p.path, 'identifier'], true);
  let municipality: string | undefined;
  p.resource.address.forEach((a, i) => {
    const found = r.extension(a.extension, EXTENSION.municipality, [...p.path, 'address', i, 'extension']);
    if (found && municipality === undefined) {
      const id = found.ext.valueIdentifier;
      municipality =
        id?.system === MUNICIPALITY_CODE_SYSTEM
          ? r.check(municipalityCode, id.value, [...found.path, 'valueIdentifier', 'value'], 'a municipality code')
          : undefined;
      if (id?.system !== MUNICIPALITY_CODE_SYSTEM) {
        r.issues.add([...found.path, 'valueIdentifier', 'system'], `must be ${MUNICIPALITY_CODE_SYSTEM}`);
      }
    }
  });
  if (
    municipality === undefined &&
    !p.resource.address.some((a) => a.extension?.some((e) => e.url === EXTENSION.municipality))
  ) {
    r.issues.add(
      [...p.path, 'address'],
      `needs the municipality of residence (extension ${EXTENSION.municipality})`,
      'required',
    );
  }
  if (p.resource.birthDate > amsterdamDayOf(occurredAt)) {
    r.issues.add([...p.path, 'birthDate'], 'lies after Bundle.timestamp');
  }
  if (!bsn || !municipality) {
    return undefined;
  }
  return {
    item: p,
    child: { id: p.sourceId, bsn, birthDate: p.resource.birthDate, municipality, name: nameOf(p.resource.name) },
  };
}

function readGuardians(r: BundleReader): GuardianData[] {
  const out: GuardianData[] = [];
  for (const g of r.all('RelatedPerson')) {
    const res = g.resource;
    r.resolve(res.patient, [...g.path, 'patient'], ['Patient']);
    const bsn = r.identifier(res.identifier, BSN_SYSTEM, bsnField, 'BSN', [...g.path, 'identifier'], false);
    let relationship = r.code(
      res.relationship,
      GUARDIAN_RELATIONSHIP_SYSTEM,
      'relationship',
      [...g.path, 'relationship'],
      false,
    );
    if (relationship === undefined) {
      const roleCode = codingsIn(res.relationship, ROLE_CODE_SYSTEM)[0]?.code;
      relationship = roleCode ? tryTranslateBack(ROLE_CODE_SYSTEM, roleCode, GUARDIAN_RELATIONSHIP_SYSTEM) : undefined;
      if (relationship === undefined) {
        r.issues.add(
          [...g.path, 'relationship'],
          `needs a relationship coding (${GUARDIAN_RELATIONSHIP_SYSTEM}, or v3-RoleCode MTH, FTH, GUARD, PRNFOST)`,
          'required',
        );
      }
    }
    const authority = r.extension(res.extension, EXTENSION.parentalAuthority, [...g.path, 'extension']);
    if (typeof authority?.ext.valueBoolean !== 'boolean') {
      r.issues.add(
        authority ? [...authority.path, 'valueBoolean'] : [...g.path, 'extension'],
        `needs whether they hold parental authority (extension ${EXTENSION.parentalAuthority}, valueBoolean)`,
        'required',
      );
    }
    if (relationship !== undefined && typeof authority?.ext.valueBoolean === 'boolean') {
      out.push({
        id: g.sourceId,
        bsn,
        name: nameOf(res.name),
        relationship,
        hasAuthority: authority.ext.valueBoolean,
      });
    }
  }
  return out;
}

function readTrajectory(
  r: BundleReader,
  e: Item<ResourceOf<'EpisodeOfCare'>>,
  encounter: Item<ResourceOf<'Encounter'>> | undefined,
): TrajectoryData | undefined {
  const res = e.resource;
  r.resolve(res.patient, [...e.path, 'patient'], ['Patient']);
  const icpc =
    r.code(res.type, ICPC_SYSTEM, 'ICPC-1NL code', [...e.path, 'type'], false) ??
    (encounter
      ? r.code(encounter.resource.reasonCode, ICPC_SYSTEM, 'ICPC-1NL code', [...encounter.path, 'reasonCode'], false)
      : undefined);
  // A trajectory may carry several help questions (one EpisodeOfCare.type each); the first is the main one.
  const [category, ...moreHelpQuestions] = r.codes(res.type, HELP_QUESTION_CATEGORY_SYSTEM, 'help-question category', [
    ...e.path,
    'type',
  ]);
  const hasIcpcCoding =
    codingsIn(res.type, ICPC_SYSTEM).length > 0 || codingsIn(encounter?.resource.reasonCode, ICPC_SYSTEM).length > 0;
  if (category === undefined && !hasIcpcCoding && codingsIn(res.type, HELP_QUESTION_CATEGORY_SYSTEM).length === 0) {
    r.issues.add(
      [...e.path, 'type'],
      `needs a help-question category (${HELP_QUESTION_CATEGORY_SYSTEM}) or an ICPC-1NL code`,
      'required',
    );
  }
  const startDate = amsterdamDayOf(res.period.start);
  if (!isNotInFuture(startDate)) {
    r.issues.add([...e.path, 'period', 'start'], 'lies in the future');
  }
  const { code: referrerType } = r.referrerType(res.extension, e.path);
  const referrerSubtype = r.codedExtension(
    res.extension,
    EXTENSION.referrerSubtype,
    REFERRER_SUBTYPE_SYSTEM,
    'referrer sub-type',
    [...e.path, 'extension'],
  );
  let closedOn: string | undefined;
  let outcome: string | undefined;
  if (res.status === 'finished') {
    closedOn = res.period.end === undefined ? undefined : amsterdamDayOf(res.period.end);
    if (closedOn === undefined) {
      r.issues.add([...e.path, 'period', 'end'], 'a finished trajectory needs its end date', 'required');
    } else if (closedOn < startDate || !isNotInFuture(closedOn)) {
      r.issues.add(
        [...e.path, 'period', 'end'],
        closedOn < startDate ? 'lies before period.start' : 'lies in the future',
      );
    }
    const found = r.extension(res.extension, EXTENSION.trajectoryOutcome, [...e.path, 'extension']);
    outcome = found
      ? r.known(found.ext.valueCoding?.code, TRAJECTORY_OUTCOME_SYSTEM, 'trajectory outcome', [
          ...found.path,
          'valueCoding',
          'code',
        ])
      : undefined;
    if (!found) {
      r.issues.add(
        [...e.path, 'extension'],
        `a finished trajectory needs its outcome (extension ${EXTENSION.trajectoryOutcome})`,
        'required',
      );
    }
  }
  const helpQuestion = category ?? (icpc ? helpQuestionOf(icpc) : undefined);
  if (!helpQuestion) {
    return undefined;
  }
  return {
    id: e.sourceId,
    startDate,
    icpc,
    helpQuestion,
    ...(moreHelpQuestions.length ? { moreHelpQuestions } : {}),
    referrerType,
    ...(referrerSubtype ? { referrerSubtype } : {}),
    closedOn,
    outcome,
  };
}

function readContact(
  r: BundleReader,
  enc: Item<ResourceOf<'Encounter'>>,
): { contact: ContactData; professional?: ProfessionalData } | undefined {
  const res = enc.resource;
  r.resolve(res.subject, [...enc.path, 'subject'], ['Patient']);
  const mode = r.code(res.type, NHG_TABLE_14_SYSTEM, 'NHG Tabel 14 contact mode', [...enc.path, 'type'], true);
  const interventions = r.codes(res.type, INTERVENTION_SYSTEM, 'intervention', [...enc.path, 'type']);
  let durationMinutes = res.length?.value;
  if (durationMinutes === undefined && res.period.end !== undefined) {
    const minutes = (Date.parse(res.period.end) - Date.parse(res.period.start)) / 60000;
    if (Number.isInteger(minutes) && minutes >= 1 && minutes <= 480) {
      durationMinutes = minutes;
    } else {
      r.issues.add([...enc.path, 'period', 'end'], 'must lie 1 to 480 whole minutes after period.start');
    }
  } else if (durationMinutes === undefined) {
    r.issues.add([...enc.path, 'length'], 'needs the duration (length in min, or period.end)', 'required');
  }
  let professional: ProfessionalData | undefined;
  const part = res.participant?.[0];
  if (part) {
    const path = [...enc.path, 'participant', 0];
    const agb = r.identifier(
      part.individual?.identifier ? [part.individual.identifier] : [],
      AGB_SYSTEM,
      agbField,
      'AGB',
      [...path, 'individual', 'identifier'],
      false,
    );
    const role = r.code(part.type, PROFESSIONAL_ROLE_SYSTEM, 'professional role', [...path, 'type'], false);
    professional = { agb, role, name: part.individual?.display };
  }
  if (mode === undefined || durationMinutes === undefined) {
    return undefined;
  }
  return { contact: { id: enc.sourceId, start: res.period.start, durationMinutes, mode, interventions }, professional };
}

/** Identifier systems jeugdbrug gives (or a BSN): never forwarded as the HIS's own identifier of a referral. */
function isTheHisOwn(system: string): boolean {
  return system !== BSN_SYSTEM && !system.startsWith('urn:agb:') && !system.startsWith('https://jeugdbrug.nl/');
}

/**
 * The HIS's own business identifiers of its ServiceRequest, each once, those with a system and a value: forwarded to
 * the municipality after the referral id (`ReferralData.hisIdentifiers`), so both name the referral alike.
 */
function hisIdentifiersOf(
  identifiers: readonly { system?: string | undefined; value?: string | undefined }[] | undefined,
): { hisIdentifiers?: { system: string; value: string }[] } {
  const own = new Map<string, { system: string; value: string }>();
  for (const { system, value } of identifiers ?? []) {
    if (system && value && isTheHisOwn(system)) {
      own.set(`${system}|${value}`, { system, value });
    }
  }
  return own.size > 0 ? { hisIdentifiers: [...own.values()] } : {};
}

function readReferral(
  r: BundleReader,
  sr: Item<ResourceOf<'ServiceRequest'>>,
): { referral: ReferralData; professional?: ProfessionalData } {
  const res = sr.resource;
  const created = res.status === 'active';
  r.resolve(res.subject, [...sr.path, 'subject'], ['Patient']);
  const { referrer, code: referrerType } = r.referrerType(res.extension, sr.path);
  if (!referrer && created) {
    r.issues.add(
      [...sr.path, 'extension'],
      `needs the COD327 referrer type (extension ${EXTENSION.referrerType})`,
      'required',
    );
  }
  if (created && res.authoredOn === undefined) {
    r.issues.add([...sr.path, 'authoredOn'], 'is required', 'required');
  }
  const requesterAgb = r.identifier(
    res.requester?.identifier ? [res.requester.identifier] : [],
    AGB_SYSTEM,
    agbField,
    'AGB',
    [...sr.path, 'requester', 'identifier'],
    false,
  );
  return {
    referral: {
      id: sr.sourceId,
      target: r.code(
        res.performerType ? [res.performerType] : [],
        REFERRAL_TARGET_SYSTEM,
        'referral target',
        [...sr.path, 'performerType'],
        created,
      ),
      productCategory: r.code(res.category, JZ020_SYSTEM, 'JZ020 product category', [...sr.path, 'category'], created),
      referrerType,
      authoredOn: res.authoredOn,
      reasonText: res.note?.[0]?.text,
      icpc: r.code(res.reasonCode, ICPC_SYSTEM, 'ICPC-1NL code', [...sr.path, 'reasonCode'], false),
      ...hisIdentifiersOf(res.identifier),
    },
    ...(requesterAgb ? { professional: { agb: requesterAgb } } : {}),
  };
}

function readParties(r: BundleReader, refs: readonly BundleReference[] | undefined, path: Path): ConsentParty[] {
  const out: ConsentParty[] = [];
  (refs ?? []).forEach((ref, i) => {
    const target = r.resolve(ref, [...path, i], ['Patient', 'RelatedPerson']);
    if (target) {
      out.push(
        target.resource.resourceType === 'Patient'
          ? { kind: 'child' }
          : { kind: 'guardian', guardianId: target.sourceId },
      );
    }
  });
  return out;
}

type Provision = NonNullable<ResourceOf<'Consent'>['provision']>;
type ProvisionRule = Pick<Provision, 'type' | 'period' | 'purpose' | 'class'>;

function readRule(r: BundleReader, p: ProvisionRule, path: Path): ConsentRuleData {
  const purposes: string[] = [];
  (p.purpose ?? []).forEach((c, i) => {
    if (c.system !== PURPOSE_SYSTEM) {
      r.issues.add([...path, 'purpose', i, 'system'], `must be ${PURPOSE_SYSTEM}`, 'code-invalid');
    } else {
      const code = r.known(c.code, PURPOSE_SYSTEM, 'purpose', [...path, 'purpose', i, 'code']);
      if (code !== undefined) {
        purposes.push(code);
      }
    }
  });
  const dataClasses: string[] = [];
  (p.class ?? []).forEach((c, i) => {
    if (c.system !== RESOURCE_TYPE_SYSTEM || c.code === undefined || !DATA_CLASS_SET.has(c.code)) {
      r.issues.add(
        [...path, 'class', i],
        `must be a data class (${RESOURCE_TYPE_SYSTEM}): ${DATA_CLASSES.join(', ')}`,
        'code-invalid',
      );
    } else {
      dataClasses.push(c.code);
    }
  });
  if (p.period?.end !== undefined && p.period.end < p.period.start) {
    r.issues.add([...path, 'period', 'end'], 'lies before start');
  }
  return { decision: p.type, purposes, dataClasses, period: p.period };
}

function readConsent(r: BundleReader, c: Item<ResourceOf<'Consent'>>): HisConsent | undefined {
  const res = c.resource;
  r.resolve(res.patient, [...c.path, 'patient'], ['Patient']);
  if (!codingsIn([res.scope], CONSENT_SCOPE_SYSTEM).some((x) => x.code === 'patient-privacy')) {
    r.issues.add([...c.path, 'scope'], `must be ${CONSENT_SCOPE_SYSTEM}#patient-privacy`, 'code-invalid');
  }
  const parties = readParties(r, res.performer, [...c.path, 'performer']);
  if (res.status === 'entered-in-error') {
    return { kind: 'entered-in-error', data: { id: c.sourceId, dateTime: res.dateTime } };
  }
  if (res.status === 'inactive') {
    return {
      kind: 'withdrawn',
      data: { id: c.sourceId, dateTime: res.dateTime, decision: res.provision?.type ?? 'permit', withdrawnBy: parties },
    };
  }
  const p = res.provision;
  const path = [...c.path, 'provision'];
  if (!p) {
    r.issues.add(path, 'an active consent needs its provision', 'required');
    return undefined;
  }
  if (!res.performer?.length) {
    r.issues.add([...c.path, 'performer'], 'needs who gave the consent', 'required');
  }
  const main = readRule(r, p, path);
  if (!p.period) {
    r.issues.add([...path, 'period'], 'is required', 'required');
  }
  if (!main.purposes.length && !p.purpose?.length) {
    r.issues.add([...path, 'purpose'], 'needs at least one purpose', 'required');
  }
  if (!main.dataClasses.length && !p.class?.length) {
    r.issues.add([...path, 'class'], 'needs at least one data class', 'required');
  }
  const recipients = (p.actor ?? []).filter((a) =>
    codingsIn([a.role], PARTICIPATION_TYPE_SYSTEM).some((x) => x.code === 'IRCP'),
  );
  const recipient = recipients[0]?.reference;
  const recipientIndex = recipients[0] ? (p.actor ?? []).indexOf(recipients[0]) : -1;
  let municipality: string | undefined;
  if (recipients.length !== 1 || !recipient) {
    r.issues.add([...path, 'actor'], 'needs exactly one actor with role IRCP: the municipality', 'required');
  } else if (recipient.identifier?.system !== MUNICIPALITY_CODE_SYSTEM) {
    r.issues.add(
      [...path, 'actor', recipientIndex, 'reference', 'identifier', 'system'],
      `must be ${MUNICIPALITY_CODE_SYSTEM}`,
    );
  } else {
    municipality = r.check(
      municipalityCode,
      recipient.identifier.value,
      [...path, 'actor', recipientIndex, 'reference', 'identifier', 'value'],
      'a municipality code',
    );
  }
  const exceptions = (p.provision ?? []).map((x, i) => readRule(r, x, [...path, 'provision', i]));
  if (!municipality || !p.period) {
    return undefined;
  }
  return {
    kind: 'recorded',
    data: {
      id: c.sourceId,
      dateTime: res.dateTime,
      decision: main.decision,
      givenBy: parties,
      recipient: { municipality, name: recipient?.display },
      purposes: main.purposes,
      dataClasses: main.dataClasses,
      period: p.period,
      exceptions,
    },
  };
}

type HisConsent =
  | { kind: 'recorded'; data: Extract<HisEvent, { eventType: 'consent.recorded' }>['consent'] }
  | { kind: 'withdrawn'; data: Extract<HisEvent, { eventType: 'consent.withdrawn' }>['consent'] }
  | { kind: 'entered-in-error'; data: Extract<HisEvent, { eventType: 'consent.entered-in-error' }>['consent'] };

type EventBody =
  | { eventType: 'consent.recorded'; consent: Extract<HisConsent, { kind: 'recorded' }>['data'] }
  | { eventType: 'consent.withdrawn'; consent: Extract<HisConsent, { kind: 'withdrawn' }>['data'] }
  | { eventType: 'consent.entered-in-error'; consent: Extract<HisConsent, { kind: 'entered-in-error' }>['data'] }
  | {
      eventType: 'referral.created' | 'referral.cancelled';
      referral: ReferralData;
      professional?: ProfessionalData | undefined;
    }
  | {
      eventType: 'contact.recorded';
      trajectory: TrajectoryData;
      contact: ContactData;
      professional?: ProfessionalData | undefined;
    }
  | { eventType: 'trajectory.closed'; trajectory: TrajectoryData };

/** The event-specific part, from which main resources the Bundle holds. */
function readEventBody(r: BundleReader): EventBody | undefined {
  const [consents, requests, encounters, episodes] = [
    r.all('Consent'),
    r.all('ServiceRequest'),
    r.all('Encounter'),
    r.all('EpisodeOfCare'),
  ];
  const shape = `${consents.length}${requests.length}${encounters.length}${episodes.length}`;
  if (shape === '1000' && consents[0]) {
    const c = readConsent(r, consents[0]);
    if (!c) {
      return undefined;
    }
    switch (c.kind) {
      case 'recorded':
        return { eventType: 'consent.recorded', consent: c.data };
      case 'withdrawn':
        return { eventType: 'consent.withdrawn', consent: c.data };
      case 'entered-in-error':
        return { eventType: 'consent.entered-in-error', consent: c.data };
    }
  }
  if (shape === '0100' && requests[0]) {
    const { referral, professional } = readReferral(r, requests[0]);
    const eventType = requests[0].resource.status === 'active' ? 'referral.created' : 'referral.cancelled';
    return { eventType, referral, professional };
  }
  if (shape === '0011' && encounters[0] && episodes[0]) {
    const enc = encounters[0];
    const linked = r.resolve(enc.resource.episodeOfCare[0], [...enc.path, 'episodeOfCare', 0], ['EpisodeOfCare']);
    const trajectory = readTrajectory(r, episodes[0], enc);
    const contact = readContact(r, enc);
    return linked && trajectory && contact
      ? { eventType: 'contact.recorded', trajectory, contact: contact.contact, professional: contact.professional }
      : undefined;
  }
  if (shape === '0001' && episodes[0]) {
    const e = episodes[0];
    if (e.resource.status !== 'finished') {
      r.issues.add([...e.path, 'status'], 'an EpisodeOfCare on its own closes a trajectory: status must be finished');
    }
    const trajectory = readTrajectory(r, e, undefined);
    return trajectory ? { eventType: 'trajectory.closed', trajectory } : undefined;
  }
  r.issues.add(
    ['entry'],
    'one Bundle is one event: a Consent, a ServiceRequest, an Encounter with its EpisodeOfCare, or a finished EpisodeOfCare',
  );
  return undefined;
}

/** The internal model from a parsed Bundle: one Bundle is one event. Throws a 422 naming every broken rule. */
export function fromBundle(bundle: FhirBundle, expressionOf: ExpressionOf): HisEvent {
  const r = new BundleReader(bundle, expressionOf);
  const practice = readPractice(r);
  const childRead = readChild(r, bundle.timestamp);
  const guardians = readGuardians(r);
  const body = readEventBody(r);
  const episode = r.all('EpisodeOfCare')[0];
  if (childRead && body && 'trajectory' in body && episode) {
    const encounter = r.all('Encounter')[0];
    checkTrajectoryDates(
      r.issues,
      {
        birthDate: childRead.child.birthDate,
        startDate: body.trajectory.startDate,
        contactStart: 'contact' in body ? body.contact.start : undefined,
      },
      {
        startDate: [...episode.path, 'period', 'start'],
        contactStart: [...(encounter?.path ?? []), 'period', 'start'],
      },
      { birthDate: "the Patient's birthDate", startDate: "the EpisodeOfCare's period.start" },
    );
  }
  r.issues.throwIfAny();
  if (!practice || !childRead || !body) {
    // Each reader records why it read nothing; this only guards the types.
    return r.issues.throwAll();
  }
  const common = {
    eventId: bundle.identifier.value,
    occurredAt: bundle.timestamp,
    practice,
    child: childRead.child,
    guardians,
  };
  return { ...common, ...body };
}
