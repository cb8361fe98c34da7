import type { BuiltFigures } from '../../../src/reports/monitoring/measure-report';
import { GROUPS } from '../../../src/reports/monitoring/measure';
import { cellsToForce, exposedCells, tableSystem } from '../../../src/reports/monitoring/table-audit';

/**
 * The interval audit of one period's table (table-audit.ts) on the tester's 2026-Q4 age bands (xpolicy H1), as the
 * four reports showed them: each row and column safe alone, the table not.
 */

const K = 5;
const BANDS = GROUPS.find((g) => g.code === 'inflow')?.stratifiers[0]?.codes ?? [];
const REFERRERS = GROUPS.find((g) => g.code === 'inflow')?.stratifiers[1]?.codes ?? [];

/** A report of trajectories started: counts by age band (all referred by the GP), `W` where it withholds one. */
function row(bands: Record<string, number | [number, 'W']>): BuiltFigures {
  const values = BANDS.map((b) => {
    const v = bands[b] ?? 0;
    return typeof v === 'number' ? v : v[0];
  });
  const total = values.reduce((a, b) => a + b, 0);
  const byReferrer = REFERRERS.map((r) => (r === 'gp' ? total : 0));
  return {
    figures: new Map([['inflow', { total, strata: [values, byReferrer] }]]),
    withheld: new Map([
      [
        'inflow',
        {
          total: false,
          strata: [BANDS.map((b) => Array.isArray(bands[b])), REFERRERS.map(() => false)],
        },
      ],
    ]),
  };
}

const municipality = row({ '0-3': [2, 'W'], '4-11': 14, '12-15': [4, 'W'], '16-17': [1, 'W'] });
const practices = [
  row({ '0-3': [2, 'W'], '4-11': 5, '12-15': [3, 'W'] }),
  row({ '4-11': [5, 'W'], '16-17': [1, 'W'] }),
  row({ '4-11': [4, 'W'], '12-15': [1, 'W'] }),
];

describe('the interval audit of one period as one table', () => {
  it('finds the cells the tester worked out, which no row or column gives alone', () => {
    const at = (r: string, band: string) => `${r}|inflow|0.${BANDS.indexOf(band)}`;
    expect(exposedCells(tableSystem(K, municipality, practices)).sort()).toEqual(
      [at('1', '4-11'), at('1', '16-17'), at('2', '4-11'), at('2', '12-15'), at('municipality', '16-17')].sort(),
    );
    // Each row alone: two withheld cells, each 1 to 4; so is the municipality's.
    expect(exposedCells(tableSystem(K, practices[1] ?? municipality, [practices[1] ?? municipality]))).toEqual([]);
  });

  it("withholds a practice's shown stratum beside them, not a total that would take the whole row", () => {
    expect(cellsToForce(K, municipality, practices)).toEqual([{ row: 0, code: 'inflow', where: [0, 1] }]);
  });
});
