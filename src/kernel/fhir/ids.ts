import { hash } from 'node:crypto';

/** The hex digit of a UUID's variant from the hash's own digit: its two high bits set to 10 (8, 9, a or b). */
function variantDigit(hex: string): string {
  const c = hex.charCodeAt(16);
  // '0'-'9' are 48-57, 'a'-'f' 97-102 (hash() writes lower case): the digit's two low bits pick one of 8, 9, a, b.
  return '89ab'[(c <= 57 ? c - 48 : c - 87) & 3] as string;
}

/**
 * A deterministic UUID (version 5 layout, SHA-256 based) from its parts: the same practice and source record give
 * the same FHIR id, so a re-sent, changed record updates the resource instead of duplicating it.
 */
export function deterministicId(...parts: string[]): string {
  // One-shot hash, as hex text: several ids per mapped event, and a Hash object each measured at about a tenth of
  // the mapping; setting the version and variant bits on the text spares a buffer and its conversion.
  const hex = hash('sha256', parts.join('\u001f'), 'hex');
  return (
    `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-` +
    `${variantDigit(hex)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`
  );
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An id as the database's uuid columns take it (jeugdbrug's own ids): anything else is unknown, without asking. */
export function isUuid(id: string): boolean {
  return UUID.test(id);
}
