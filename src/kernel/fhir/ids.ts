import { hash } from 'node:crypto';

/**
 * A deterministic UUID (version 5 layout, SHA-256 based) from its parts: the same practice and source record give
 * the same FHIR id, so a re-sent, changed record updates the resource instead of duplicating it.
 */
export function deterministicId(...parts: string[]): string {
  // One-shot hash: several ids per mapped event, and a Hash object each measured at about a tenth of the mapping.
  const h = hash('sha256', parts.join('\u001f'), 'buffer');
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x50;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** An id as the database's uuid columns take it (jeugdbrug's own ids): anything else is unknown, without asking. */
export function isUuid(id: string): boolean {
  return UUID.test(id);
}
