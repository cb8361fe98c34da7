/** Dutch identifier systems (Nictiz conventions) and their checks. */
export const BSN_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/bsn';
export const AGB_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/agb-z';
export const URA_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/ura';
export const BIG_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/big';
export const PSEUDO_BSN_SYSTEM = 'http://fhir.nl/fhir/NamingSystem/pseudo-bsn';
/** No official FHIR URI exists for CBS gemeentecodes; this one is ours and documented in the README. */
export const MUNICIPALITY_CODE_SYSTEM = 'https://jeugdbrug.nl/fhir/NamingSystem/cbs-gemeentecode';

/** The 11-proef: 9 digits, 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 divisible by 11. */
export function isValidBsn(value: string): boolean {
  if (!/^\d{9}$/.test(value)) {
    return false;
  }
  let sum = 0;
  for (let i = 0; i < 8; i++) {
    sum += (9 - i) * Number(value[i]);
  }
  sum -= Number(value[8]);
  return sum % 11 === 0 && value !== '000000000';
}

export function isValidAgb(value: string): boolean {
  return /^\d{8}$/.test(value);
}

export function isValidUra(value: string): boolean {
  return /^\d{8}$/.test(value);
}

/** CBS gemeentecode, written `GM0226`. */
export function isValidMunicipalityCode(value: string): boolean {
  return /^GM\d{4}$/.test(value);
}
