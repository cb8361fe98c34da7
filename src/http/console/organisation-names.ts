import type { PipelineContext } from '../../event/context';

/** A municipality's name from the loaded agreements; undefined when none names it (any more). */
export function municipalityNameOf(ctx: Pick<PipelineContext, 'registry'>, code: string): string | undefined {
  return ctx.registry.agreements.find((a) => a.municipality.code === code)?.municipality.name;
}

/** A municipality in words: its name from the loaded agreements, and its code. */
export function municipalityName(ctx: Pick<PipelineContext, 'registry'>, code: string): string {
  const name = municipalityNameOf(ctx, code);
  return name ? `${name} (${code})` : code;
}

/**
 * An audit chain in words, for a person reading the auditor's pages: a practice's chain (its AGB code) with the
 * practice's name from the loaded agreements, a destination's with its municipality's name; the chain's own name
 * stays beside it, as the API and the exports name it. A name not configured (any more): the chain's name alone.
 */
export function chainName(ctx: Pick<PipelineContext, 'registry'>, chain: string): string {
  if (/^\d{8}$/.test(chain)) {
    const name = ctx.registry.agreements.find((a) => a.practice.agb === chain && a.practice.name)?.practice.name;
    return name ? `${name} (${chain})` : chain;
  }
  const destination = chain.startsWith('destination/')
    ? ctx.registry.destinations.find((d) => `destination/${d.id}` === chain)
    : undefined;
  const name = destination && municipalityNameOf(ctx, destination.municipality);
  return name ? `${name} (${chain})` : chain;
}
