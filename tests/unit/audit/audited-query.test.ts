import { createHash } from 'node:crypto';
import { validateResource } from '@medplum/core';
import type { AuditEvent, AuditEventEntity } from '@medplum/fhirtypes';
import { dataAccess, MAX_AUDITED_QUERY_BYTES, type AuditActor } from '../../../src/audit/audit-events';
import { canonicalizeJcs } from '../../../src/audit/chain';
import { BSN_SYSTEM } from '../../../src/kernel/fhir/identifiers';
import { initFhirValidation } from '../../../src/kernel/fhir/validation';

// report-xsec 1: a search's query is kept in its AuditEvent, in chains nothing may delete for years. An ordinary one
// whole, as before; a huge one (a 64 kB form body) cut, with its length and hash to match it to a request log.
describe('the query a read AuditEvent keeps', () => {
  beforeAll(() => initFhirValidation());
  const actor: AuditActor = { userId: 'api-key:practice', role: 'practice', person: false, accessPoint: '10.0.0.7' };
  const read = (query: string): AuditEvent =>
    dataAccess({ actor, interaction: 'search', outcome: '0', query, patientBsn: '111222333' });
  const queryOf = (e: AuditEvent): AuditEventEntity => e.entity!.find((x) => x.role?.code === '24')!;
  const decoded = (e: AuditEvent): string => Buffer.from(queryOf(e).query!, 'base64').toString('utf8');

  it('keeps an ordinary search whole, with nothing added', () => {
    const query = '/fhir/AuditEvent?patient=111222333&type=110113&_count=50';
    const e = read(query);
    expect(decoded(e)).toBe(query);
    expect(queryOf(e).description).toBeUndefined();
    expect(queryOf(e).detail).toBeUndefined();
  });

  it('keeps a query of exactly the limit whole', () => {
    const query = `/fhir/Consent?actor=${'a'.repeat(MAX_AUDITED_QUERY_BYTES - '/fhir/Consent?actor='.length)}`;
    expect(Buffer.byteLength(query)).toBe(MAX_AUDITED_QUERY_BYTES);
    expect(decoded(read(query))).toBe(query);
  });

  it('cuts a 64 kB search to its first bytes, with its whole length and SHA-256, and keeps the child in full', () => {
    const query = `/fhir/AuditEvent?agent=${Array.from({ length: 3300 }, (_, i) => `k${i}x${'z'.repeat(12)}`).join(',')}`;
    expect(Buffer.byteLength(query)).toBeGreaterThan(60_000);
    const e = read(query);
    // Bounded: the whole AuditEvent is a few kB (the cut query base64-encoded, agents, source), not the query’s 64.
    expect(JSON.stringify(e).length).toBeLessThan(6 * 1024);
    expect(query.startsWith(decoded(e))).toBe(true);
    expect(Buffer.byteLength(decoded(e))).toBe(MAX_AUDITED_QUERY_BYTES);
    expect(queryOf(e).detail).toEqual([
      { type: 'query-length', valueString: String(Buffer.byteLength(query)) },
      { type: 'query-sha256', valueString: createHash('sha256').update(query).digest('hex') },
    ]);
    expect(queryOf(e).description).toBe(
      `query cut to its first ${MAX_AUDITED_QUERY_BYTES} of ${Buffer.byteLength(query)} bytes`,
    );
    expect(e.entity?.[0]?.what?.identifier).toEqual({ system: BSN_SYSTEM, value: '111222333' });
    expect(validateResource(e).filter((i) => i.severity === 'error')).toEqual([]);
  });

  it('cuts before a character of several bytes, never through it', () => {
    // 'é' is two bytes in UTF-8: after the 17-byte prefix each one starts at an odd byte, so byte 2048 is inside one.
    const query = `/fhir/Consent?xy=${'é'.repeat(3000)}`;
    const kept = decoded(read(query));
    expect(kept).not.toContain('\uFFFD');
    expect(query.startsWith(kept)).toBe(true);
    expect(Buffer.byteLength(kept)).toBe(MAX_AUDITED_QUERY_BYTES - 1);
  });

  it('makes the entity of a query read again once, frozen, with the same canonical text as a new one', () => {
    const query = '/policy/v1/$explain';
    const [first, again] = [read(query), read(query)];
    expect(queryOf(again)).toBe(queryOf(first));
    expect(Object.isFrozen(queryOf(first))).toBe(true);
    expect(decoded(again)).toBe(query);
    const other = read('/fhir/Consent?patient=111222333');
    expect(decoded(other)).toBe('/fhir/Consent?patient=111222333');
    // Back to the first query: an entity of its own again, equal to the one before, and canonically the same.
    const third = read(query);
    expect(queryOf(third)).not.toBe(queryOf(first));
    expect(queryOf(third)).toEqual(queryOf(first));
    expect(canonicalizeJcs(third)).toBe(canonicalizeJcs(JSON.parse(JSON.stringify(third)) as AuditEvent));
  });
});
