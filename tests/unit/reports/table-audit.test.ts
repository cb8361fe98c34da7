import type { BuiltFigures } from '../../../src/reports/monitoring/measure-report';
import { GROUPS } from '../../../src/reports/monitoring/measure';
import { eitherWithheld, jointTableMasks, type FailedClosed } from '../../../src/reports/monitoring/joint-suppression';
import type { ForcedCells } from '../../../src/reports/monitoring/measure-report';
import { auditTable, cellsToForce, exposedCells, tableSystem } from '../../../src/reports/monitoring/table-audit';

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

/** The tester's table through `jointTableMasks`: each report withholds its own cells and those forced on it. */
function suppressTable(options?: Parameters<typeof jointTableMasks>[4]) {
  const entry = (r: BuiltFigures) => ({ ...r, forcedBefore: new Map() as ForcedCells });
  return jointTableMasks(
    K,
    entry(municipality),
    practices.map(entry),
    (e, forced) => ({ figures: e.figures, withheld: eitherWithheld(e.withheld, forced) }),
    options,
  );
}
const allWithheld = (r: BuiltFigures) => {
  const g = r.withheld.get('inflow');
  return g?.total === true && (g.strata.flat().every(Boolean) ?? false);
};

describe("a longer period's table audit (rev-late1 1)", () => {
  it('withholds no cell its quarters show: a group that needs one is withheld whole, and told', () => {
    const told: FailedClosed[] = [];
    // As a half-year's table: started trajectories add up over the quarters, so no shown cell may be withheld.
    const table = suppressTable({ mayForce: (c) => c.code !== 'inflow', onFailClosed: (f) => told.push(f) });
    expect([table.municipality, ...table.practices].map(allWithheld)).toEqual([true, true, true, true]);
    expect(told).toEqual([{ groups: ['inflow'], reason: 'no cell to withhold' }]);
  });
});

describe("the audit's limits fail closed (rev-late1 2)", () => {
  it('counts a narrowing that does not end within its sweeps as not audited', () => {
    expect(auditTable(K, municipality, practices, { sweeps: 1 })).toEqual({
      force: [],
      failed: ['inflow'],
      reason: 'sweeps',
    });
    expect(auditTable(K, municipality, practices).failed).toEqual([]);
  });

  it('counts an exposed cell with no cell to withhold beside it as not safe', () => {
    expect(auditTable(K, municipality, practices, { mayForce: () => false })).toEqual({
      force: [],
      failed: ['inflow'],
      reason: 'no cell to withhold',
    });
  });

  it.each([
    [{ rounds: 0 }, 'rounds'],
    [{ sweeps: 1 }, 'sweeps'],
  ] as const)('withholds the group whole in every report when %j runs out, and tells', (limits, reason) => {
    const told: FailedClosed[] = [];
    const table = suppressTable({ ...limits, onFailClosed: (f) => told.push(f) });
    expect([table.municipality, ...table.practices].map(allWithheld)).toEqual([true, true, true, true]);
    expect(told).toEqual([{ groups: ['inflow'], reason }]);
  });

  it('with the default limits withholds a cell beside them, not the group', () => {
    const table = suppressTable();
    expect([table.municipality, ...table.practices].map(allWithheld)).toEqual([false, false, false, false]);
  });
});
