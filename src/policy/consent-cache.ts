import type { Consent } from '@medplum/fhirtypes';
import { LRUCache } from 'lru-cache';
import { compileConsent, type CompiledConsent } from './compiled-consent';

/** A consent as the registry stores it: its id, the version of it stored now, and its resource as text, unparsed. */
export interface StoredConsent {
  readonly id: string;
  /** New on every write of the consent, never given twice (the consent table's `version`, migration 014). */
  readonly version: string;
  /**
   * Which version of this consent it is (1, 2, ...: its FHIR `meta.versionId`, migration 087), as decisions cite it
   * (`Consent/<id>/_history/<versionId>`). Unlike `version`, a write that changes nothing keeps it.
   */
  readonly versionId: number;
  readonly text: string;
}

/** What the cache reads of a stored consent: its id, the write it is (`version`) and its text. */
export type CacheableConsent = Pick<StoredConsent, 'id' | 'version' | 'text'>;

/**
 * How many compiled consents the pipeline keeps per database. It covers the consents of the children whose events are
 * between their map and deliver decisions at 1,000 events a second, the second decision being the one that hits.
 */
export const CACHED_CONSENTS = 4096;

/**
 * The most stored text the cache holds, in UTF-16 code units: a typical consent's is under 1 KB, but a count alone
 * would let unusually large consents grow the cache past what the process's memory budget allows. The compiled form
 * is smaller than the text it comes from.
 */
const CACHED_TEXT_UNITS = 8 * 1024 * 1024;

interface Entry<T> {
  readonly version: string;
  /** The stored text's length, in UTF-16 code units: what the entry counts against CACHED_TEXT_UNITS. */
  readonly size: number;
  readonly value: T;
}

/**
 * What is derived from stored consents, one per consent id, each valid for exactly the stored version it was derived
 * from. The version is the key's second half because the database sets it on every write of the row, from one
 * sequence (migration 014): a re-send, a withdrawal, a voiding or any other write that changes the resource gives a
 * new version, and the next lookup derives it again; no writer can forget to. Comparing the stored text instead, as
 * before, was exact too, but cost a fifth of a decision (a memory comparison of about a kilobyte per consent). A hit
 * skips JSON.parse as well as deriving. Bounded: the least recently used consents are dropped first.
 */
export class StoredConsentCache<T> {
  private readonly entries: LRUCache<string, Entry<T>>;

  /** `derive` must depend on the resource alone: its answer is served for as long as the version is current. */
  constructor(
    maxConsents: number,
    private readonly derive: (consent: Consent) => T,
  ) {
    this.entries = new LRUCache<string, Entry<T>>({
      max: maxConsents,
      maxSize: CACHED_TEXT_UNITS,
      sizeCalculation: (entry) => Math.max(1, entry.size),
    });
  }

  /** What is derived from the stored consent: from the cache when this id was last derived from the same version. */
  derived(stored: CacheableConsent): T {
    const entry = this.entries.get(stored.id);
    if (entry !== undefined && entry.version === stored.version) {
      return entry.value;
    }
    const value = this.derive(JSON.parse(stored.text) as Consent);
    this.entries.set(stored.id, { version: stored.version, size: stored.text.length, value });
    return value;
  }

  /** `derived` of each, in order: a child's consents as a decision takes them. */
  derivedAll(stored: readonly CacheableConsent[]): T[] {
    // Made at its final length: a list grown from empty by push reserves room for 17 at once.
    const out = new Array<T>(stored.length);
    for (let i = 0; i < stored.length; i++) {
      out[i] = this.derived(stored[i] as CacheableConsent);
    }
    return out;
  }

  /** How many consents are held now. */
  get size(): number {
    return this.entries.size;
  }
}

/** Compiled consents (compiled-consent.ts), as the policy engine takes them. */
export class ConsentCache extends StoredConsentCache<CompiledConsent> {
  constructor(maxConsents: number) {
    super(maxConsents, compileConsent);
  }
}
