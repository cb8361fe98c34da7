import type { Consent } from '@medplum/fhirtypes';
import { applyConsentUpdate } from '../../../src/policy/consent-updates';
import { ConsentCache, type CacheableConsent } from '../../../src/policy/consent-cache';
import { decide } from '../../../src/policy/decide';
import {
  bornAged,
  buildAgreement,
  buildConsent,
  buildFacts,
  buildRequest,
  CHILD,
  OTHER_MUNICIPALITY,
  rule,
} from './builders';
import { randomCases } from './random-facts';

/** The versions the registry has given: a new one on every write that changes a consent (migration 014). */
const registry = new Map<string, { text: string; version: string }>();
let versionsGiven = 0;

/** How the registry hands a stored consent over: its id, its version now, and its text, a new string on every read. */
function storedAs(id: string, text: string): CacheableConsent {
  let row = registry.get(id);
  if (row?.text !== text) {
    row = { text, version: String(++versionsGiven) };
    registry.set(id, row);
  }
  return { id, version: row.version, text: Buffer.from(text).toString('utf8') };
}

function stored(consent: Consent): CacheableConsent {
  return storedAs(consent.id ?? '', JSON.stringify(consent));
}

/** A 17-year-old: the child alone must consent. */
function decideThrough(cache: ConsentCache, consents: readonly Consent[]) {
  const facts = buildFacts({ patient: { id: 'child-1', birthDate: bornAged(17) } });
  return decide(buildRequest(), { ...facts, consents: cache.derivedAll(consents.map(stored)) });
}

describe('the compiled consent cache', () => {
  it('compiles a stored version once and serves it again while its stored text is the same', () => {
    const cache = new ConsentCache(10);
    const consent = buildConsent({ id: 'c-1' });
    const first = cache.derived(stored(consent));
    expect(cache.derived(stored(consent))).toBe(first);
    expect(cache.size).toBe(1);
  });

  it('answers by the stored version alone: the same version is not compared or parsed again, a new one is compiled', () => {
    const cache = new ConsentCache(10);
    const consent = buildConsent({ id: 'c-1' });
    const first = cache.derived({ id: 'c-1', version: '7', text: JSON.stringify(consent) });
    // The text of a version never changes in the registry; were it read, this one would not even parse.
    expect(cache.derived({ id: 'c-1', version: '7', text: 'not read' })).toBe(first);
    const again = cache.derived({ id: 'c-1', version: '8', text: JSON.stringify(consent) });
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });

  it('keeps no consent whose stored text alone is larger than the cache may hold, and still compiles it', () => {
    const cache = new ConsentCache(10);
    const huge = buildConsent({ id: 'c-huge' });
    // 9 million code units of text: more than the 8 Mi the cache holds in all.
    huge.text = {
      status: 'generated',
      div: `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(9_000_000)}</div>`,
    };
    expect(cache.derived(stored(huge)).id).toBe('c-huge');
    expect(cache.size).toBe(0);
    cache.derived(stored(buildConsent({ id: 'c-1' })));
    expect(cache.size).toBe(1);
  });

  it('gives the new verdict when a consent is withdrawn between two decisions', () => {
    const cache = new ConsentCache(10);
    const given = buildConsent({ id: 'c-1', by: CHILD });
    expect(decideThrough(cache, [given]).effect).toBe('permit');
    const withdrawn = applyConsentUpdate(given, { ...given, status: 'inactive', performer: [] });
    const decision = decideThrough(cache, [withdrawn]);
    expect(decision.effect).toBe('deny');
    expect(decision.reasons.map((r) => r.code)).toEqual(['consent-withdrawn']);
  });

  it('gives the new verdict when the same consent id is stored with other content', () => {
    const cache = new ConsentCache(10);
    expect(decideThrough(cache, [buildConsent({ id: 'c-1' })]).effect).toBe('permit');
    const objection = decideThrough(cache, [buildConsent({ id: 'c-1', type: 'deny' })]);
    expect(objection.effect).toBe('deny');
    expect(objection.reasons.map((r) => r.code)).toEqual(['consent-denied']);
    const otherPurpose = decideThrough(cache, [buildConsent({ id: 'c-1', purposes: ['monitoring'] })]);
    expect(otherPurpose.reasons.map((r) => r.code)).toEqual(['consent-purpose-not-covered']);
    expect(decideThrough(cache, [buildConsent({ id: 'c-1' })]).effect).toBe('permit');
    expect(cache.size).toBe(1);
  });

  it('no longer counts a consent voided as entered in error after it was cached', () => {
    const cache = new ConsentCache(10);
    const given = buildConsent({ id: 'c-1' });
    expect(decideThrough(cache, [given]).effect).toBe('permit');
    const decision = decideThrough(cache, [applyConsentUpdate(given, { ...given, status: 'entered-in-error' })]);
    expect(decision.reasons).toEqual([
      expect.objectContaining({ code: 'consent-missing-child', recordedInError: ['c-1'] }),
    ]);
  });

  it('holds at most its maximum, dropping the least recently used and compiling it again when asked', () => {
    const cache = new ConsentCache(2);
    const [a, b, c] = ['c-a', 'c-b', 'c-c'].map((id) => buildConsent({ id })) as [Consent, Consent, Consent];
    const compiledA = cache.derived(stored(a));
    const compiledB = cache.derived(stored(b));
    expect(cache.derived(stored(a))).toBe(compiledA);
    cache.derived(stored(c));
    expect(cache.size).toBe(2);
    expect(cache.derived(stored(a))).toBe(compiledA);
    const againB = cache.derived(stored(b));
    expect(againB).not.toBe(compiledB);
    expect(againB).toEqual(compiledB);
  });

  it('decides the same cached consents anew when the moment, municipality, purpose or classes change', () => {
    // A day-bounded permit of Patient (objecting to Encounter) and an instant-bounded permit of ServiceRequest.
    const consents = [
      buildConsent({
        id: 'c-days',
        period: { start: '2025-06-15', end: '2025-06-15' },
        classes: ['Patient', 'Encounter'],
        exceptions: [rule({ type: 'deny', classes: ['Encounter'] })],
      }),
      buildConsent({
        id: 'c-instants',
        period: { start: '2025-06-15T09:00:00Z', end: '2025-06-15T11:00:00Z' },
        classes: ['ServiceRequest'],
      }),
    ];
    const cache = new ConsentCache(10);
    const compiled = cache.derivedAll(consents.map(stored));
    const facts = buildFacts({
      agreements: [
        buildAgreement(),
        buildAgreement({ id: 'agr-other', municipality: { code: OTHER_MUNICIPALITY, name: 'Lingewaard' } }),
      ],
      patient: { id: 'child-1', birthDate: bornAged(17) },
    });
    // Each other disclosure right after the first, so nothing but the one difference tells them apart.
    const first = buildRequest({ dataClasses: ['Patient', 'ServiceRequest'] });
    const others = [
      buildRequest({ dataClasses: ['Patient', 'ServiceRequest'], at: new Date('2025-06-15T12:00:00Z') }),
      buildRequest({ dataClasses: ['Patient', 'ServiceRequest'], at: new Date('2025-06-15T22:00:00Z') }),
      buildRequest({ dataClasses: ['Patient', 'ServiceRequest'], municipalityCode: OTHER_MUNICIPALITY }),
      buildRequest({ dataClasses: ['Patient', 'ServiceRequest'], purpose: 'contact-registration' }),
      buildRequest({ dataClasses: ['Patient', 'Encounter'] }),
      buildRequest({ dataClasses: ['Patient'] }),
    ];
    const requests = others.flatMap((other) => [first, other]);
    const viaCache = requests.map((request) => decide(request, { ...facts, consents: compiled }));
    expect(viaCache).toEqual(requests.map((request) => decide(request, { ...facts, consents })));
    expect(viaCache.map((d) => d.reasons.map((r) => r.code).join())).toEqual(
      [
        'consent-class-not-covered',
        'consent-expired',
        'actor-not-covered',
        'consent-purpose-not-covered',
        'consent-denied',
        'permitted-by-consent',
      ].flatMap((other) => ['permitted-by-consent', other]),
    );
  });

  it('decides through the cache exactly as from the FHIR consents, while versions change under the same ids', () => {
    // Small on purpose: ids repeat from case to case (c-0, c-1, ...) with other content, and entries are evicted.
    const cache = new ConsentCache(4);
    const differing: string[] = [];
    let cases = 0;
    for (const { request, facts } of randomCases(12, 500)) {
      const stored = facts.consents.map((c, i) => storedAs(c.id ?? `no-id-${i}`, JSON.stringify(c)));
      const viaCache = JSON.stringify(decide(request, { ...facts, consents: cache.derivedAll(stored) }));
      if (viaCache !== JSON.stringify(decide(request, facts))) {
        differing.push(`case ${cases}: ${viaCache}`);
      }
      cases++;
    }
    expect(differing).toEqual([]);
    expect(cases).toBe(500);
  });
});
