import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { caseNames, DIALECTS_UNDER_TEST, FIXTURES, readInput, runBody } from './run-dialect';

/**
 * Golden files: `tests/fixtures/<dialect>/<case>.input.*` (any extension: read as text or JSON by the dialect's media
 * types) next to `<case>.expected.json`, the result of every record (its CanonicalEvent, or its rejection).
 * `UPDATE_GOLDEN=1 npx jest tests/unit/mapping/golden` writes the expected files from the current output; review the
 * diff by hand before committing it.
 */
const UPDATE = process.env.UPDATE_GOLDEN === '1';

describe.each(DIALECTS_UNDER_TEST.map((d) => [d.name, d] as const))('dialect %s', (name, dialect) => {
  const cases = caseNames(name);

  it('has at least ten golden cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(10);
  });

  it.each(cases)('maps %s as its expected file says, every resource valid FHIR', (c) => {
    const actual = JSON.parse(JSON.stringify(runBody(dialect, readInput(name, c)))) as unknown;
    const expectedPath = path.join(FIXTURES, name, `${c}.expected.json`);
    if (UPDATE) {
      writeFileSync(expectedPath, `${JSON.stringify(actual, null, 2)}\n`);
    }
    if (!existsSync(expectedPath)) {
      throw new Error(`${expectedPath} is missing: run with UPDATE_GOLDEN=1 and review it`);
    }
    expect(actual).toEqual(JSON.parse(readFileSync(expectedPath, 'utf8')));
  });
});

describe('dialects cannot be told apart', () => {
  const generic = DIALECTS_UNDER_TEST.find((d) => d.name === 'generic-json');
  const bundle = DIALECTS_UNDER_TEST.find((d) => d.name === 'fhir-bundle');
  // A POST transaction without resource ids: the HIS's ids are the urn:uuids, so the resource ids differ.
  const idsFromUuids = new Set(['consent-14y-child-and-parents']);
  const shared = caseNames('generic-json').filter((c) => caseNames('fhir-bundle').includes(c) && !idsFromUuids.has(c));

  it('has shared cases to compare', () => {
    expect(shared.length).toBeGreaterThanOrEqual(10);
  });

  it.each(shared)('gives the same events for %s as generic JSON and as a FHIR Bundle', (c) => {
    const fromJson = runBody(generic!, readInput('generic-json', c));
    const fromBundle = runBody(bundle!, readInput('fhir-bundle', c));
    // Rejections name fields in each dialect's own terms; mapped events must be identical.
    expect(fromBundle.map((r) => ('event' in r ? r.event : r.location))).toEqual(
      fromJson.map((r) => ('event' in r ? r.event : r.location)),
    );
  });
});
