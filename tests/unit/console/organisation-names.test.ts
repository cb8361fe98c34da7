import type { Registry } from '../../../src/event/registry';
import { chainName, municipalityName } from '../../../src/http/console/organisation-names';
import { buildAgreement, buildDestination, OTHER_PRACTICE_AGB, PRACTICE_AGB } from '../../helpers/builders';

const registry: Registry = {
  agreements: [
    buildAgreement({ practice: { agb: PRACTICE_AGB, name: 'Huisartsenpraktijk De Linde' } }),
    buildAgreement({ id: 'other', practice: { agb: OTHER_PRACTICE_AGB } }),
  ],
  destinations: [buildDestination('http://127.0.0.1:1', { id: 'gm0226' })],
  practices: [],
};
const ctx = { registry };

// The auditor console showed chains by their ids alone (01234567, destination/gm0226): a person reads names.
describe('an audit chain or municipality in words', () => {
  it.each([
    [PRACTICE_AGB, `Huisartsenpraktijk De Linde (${PRACTICE_AGB})`],
    // A practice whose agreements name it not: its AGB code alone.
    [OTHER_PRACTICE_AGB, OTHER_PRACTICE_AGB],
    ['destination/gm0226', 'Overbetuwe (destination/gm0226)'],
    ['destination/gone', 'destination/gone'],
    ['system', 'system'],
  ])('names the chain %s as %s', (chain, words) => {
    expect(chainName(ctx, chain)).toBe(words);
  });

  it('names a municipality with its code, or by its code alone when no agreement names it', () => {
    expect(municipalityName(ctx, 'GM0226')).toBe('Overbetuwe (GM0226)');
    expect(municipalityName(ctx, 'GM0999')).toBe('GM0999');
  });
});
