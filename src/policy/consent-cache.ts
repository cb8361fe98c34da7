import type { Consent } from '@medplum/fhirtypes';
import { LRUCache } from 'lru-cache';
import { compileConsent, type CompiledConsent } from './compiled-consent';

/** A consent as the registry stores it: its id and its resource as stored text, unparsed. */
export interface StoredConsent {
  readonly id: string;
  readonly text: string;
}

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

interface Entry {
  readonly text: string;
  readonly compiled: CompiledConsent;
}

/**
 * Compiled consents, one per consent id, each valid for exactly the stored text it was compiled from. The text is
 * the key's second half because it is the only thing that cannot drift from what it describes: a re-send, a
 * withdrawal, a voiding or any other write that changes the resource changes its text, and the next lookup compiles
 * the new version; a timestamp or counter kept beside the resource would be right only while every writer keeps it
 * up. Comparing the text costs a memory comparison of about a kilobyte on a hit, far less than parsing it, and a
 * hit skips JSON.parse as well as compiling. Bounded: the least recently used consents are dropped first.
 */
export class ConsentCache {
  private readonly entries: LRUCache<string, Entry>;

  constructor(maxConsents: number) {
    this.entries = new LRUCache<string, Entry>({
      max: maxConsents,
      maxSize: CACHED_TEXT_UNITS,
      sizeCalculation: (entry) => Math.max(1, entry.text.length),
    });
  }

  /** The compiled form of the stored consent: from the cache when this id was last compiled from the same text. */
  compiled(stored: StoredConsent): CompiledConsent {
    const entry = this.entries.get(stored.id);
    if (entry !== undefined && entry.text === stored.text) {
      return entry.compiled;
    }
    const compiled = compileConsent(JSON.parse(stored.text) as Consent);
    this.entries.set(stored.id, { text: stored.text, compiled });
    return compiled;
  }

  /** `compiled` of each, in order: a child's consents as a decision takes them. */
  compiledAll(stored: readonly StoredConsent[]): CompiledConsent[] {
    const out: CompiledConsent[] = [];
    for (const s of stored) {
      out.push(this.compiled(s));
    }
    return out;
  }

  /** How many consents are held now. */
  get size(): number {
    return this.entries.size;
  }
}
