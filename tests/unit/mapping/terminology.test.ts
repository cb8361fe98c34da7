import {
  ACT_CODE_SYSTEM,
  COD327_SYSTEM,
  ICPC_SYSTEM,
  JZ020_SYSTEM,
  NHG_TABLE_14_SYSTEM,
  PURPOSE_SYSTEM,
} from '../../../src/kernel/fhir/systems';
import {
  CODE_SYSTEMS,
  CONCEPT_MAPS,
  codesOf,
  getCoding,
  GUARDIAN_RELATIONSHIP_SYSTEM,
  HELP_QUESTION_CATEGORY_SYSTEM,
  isKnownCode,
  ROLE_CODE_SYSTEM,
  tryGetConcept,
  tryTranslate,
  tryTranslateBack,
  REFERRER_SUBTYPE_SYSTEM,
} from '../../../src/kernel/fhir/terminology';
import { assertValidResource } from '../../../src/kernel/fhir/validation';
import { PURPOSES } from '../../../src/contracts/sharing';

describe('terminology tables', () => {
  it.each([...CODE_SYSTEMS, ...CONCEPT_MAPS].map((r) => [r.url, r] as const))('%s is valid FHIR R4', (_url, r) => {
    expect(() => assertValidResource(r)).not.toThrow();
  });

  it('knows the ICPC codes of youth psychosocial problems the municipalities ask about', () => {
    for (const code of ['P22', 'P23', 'P24', 'P74', 'P76', 'Z16', 'Z20', 'Z21']) {
      expect(isKnownCode(ICPC_SYSTEM, code)).toBe(true);
    }
  });

  it('maps every accepted ICPC code to a help-question category that exists', () => {
    for (const code of codesOf(ICPC_SYSTEM)) {
      const category = tryTranslate(ICPC_SYSTEM, code, HELP_QUESTION_CATEGORY_SYSTEM);
      expect(category && isKnownCode(HELP_QUESTION_CATEGORY_SYSTEM, category.code ?? '')).toBe(true);
    }
  });

  it.each([
    ['P22', 'child-factors'],
    ['P24', 'school'],
    ['P74', 'emotional'],
    ['Z16', 'parenting'],
    ['Z20', 'family'],
  ])('reads ICPC %s as help question %s', (icpc, category) => {
    expect(tryTranslate(ICPC_SYSTEM, icpc, HELP_QUESTION_CATEGORY_SYSTEM)?.code).toBe(category);
  });

  it('gives every NHG contact mode an Encounter.class from v3-ActEncounterCode', () => {
    expect(codesOf(NHG_TABLE_14_SYSTEM).length).toBeGreaterThan(0);
    for (const code of codesOf(NHG_TABLE_14_SYSTEM)) {
      expect(['AMB', 'HH', 'VR', 'FLD', 'EMER']).toContain(
        tryTranslate(NHG_TABLE_14_SYSTEM, code, ACT_CODE_SYSTEM)?.code,
      );
    }
    expect(tryTranslate(NHG_TABLE_14_SYSTEM, '2', ACT_CODE_SYSTEM)?.code).toBe('HH');
  });

  it('knows 45 as Jeugdhulp ambulant and 54 as Jeugd-ggz (45 is not ggz)', () => {
    expect(tryGetConcept(JZ020_SYSTEM, '45')?.display).toBe('Jeugdhulp ambulant');
    expect(tryGetConcept(JZ020_SYSTEM, '54')?.display).toBe('Jeugd-ggz');
    expect(tryGetConcept(JZ020_SYSTEM, '45')?.display).not.toMatch(/ggz/i);
  });

  it('counts the intervention team (report 003, "Verwijzers") as the municipality’s, a bare 01 still as municipality', () => {
    expect(tryGetConcept(REFERRER_SUBTYPE_SYSTEM, 'intervention-team')?.display).toBe('Interventieteam');
    expect(tryTranslate(REFERRER_SUBTYPE_SYSTEM, 'intervention-team', COD327_SYSTEM)?.code).toBe('01');
    expect(tryTranslateBack(COD327_SYSTEM, '01', REFERRER_SUBTYPE_SYSTEM)).toBe('municipality');
  });

  it('knows the COD327 referrer types, and not the unused 07', () => {
    expect(codesOf(COD327_SYSTEM)).toEqual(['01', '02', '03', '04', '05', '06', '08']);
  });

  it('holds the same purposes as the processing agreements', () => {
    expect([...codesOf(PURPOSE_SYSTEM)].sort()).toEqual([...PURPOSES].sort());
  });

  it('translates guardian relationships to v3-RoleCode and back, except other', () => {
    for (const code of codesOf(GUARDIAN_RELATIONSHIP_SYSTEM)) {
      const role = tryTranslate(GUARDIAN_RELATIONSHIP_SYSTEM, code, ROLE_CODE_SYSTEM);
      if (code === 'other') {
        expect(role).toBeUndefined();
      } else {
        expect(tryTranslateBack(ROLE_CODE_SYSTEM, role?.code ?? '', GUARDIAN_RELATIONSHIP_SYSTEM)).toBe(code);
      }
    }
  });

  it('gives codings with the display of the table, and refuses unknown codes', () => {
    expect(getCoding(JZ020_SYSTEM, '54')).toEqual({ system: JZ020_SYSTEM, code: '54', display: 'Jeugd-ggz' });
    expect(() => getCoding(JZ020_SYSTEM, '47')).toThrow(/Unknown code 47/);
    expect(tryGetConcept('urn:nowhere', 'x')).toBeUndefined();
  });
});
