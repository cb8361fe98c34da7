import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HisDialect } from '../../../src/contracts/his-dialect';
import { DIALECTS } from '../../../mappings/his/index';
import { caseNames, FIXTURES, isTextDialect, readInput, runBody } from './run-dialect';

/**
 * The golden and fuzz helpers serve any dialect README "Extending" describes: `<case>.input.*` files, read as text or
 * JSON by the dialect's media types. Until 6 December they knew `.input.json` and `.input.csv` only, and read text
 * only for the dialect named `csv` (xnewcomer F2).
 */
const csv = DIALECTS.find((d) => d.name === 'csv')!;
const json = DIALECTS.find((d) => d.name === 'generic-json')!;
const tsv: HisDialect = {
  ...csv,
  name: 'tsv',
  contentTypes: ['text/tab-separated-values'],
  split: (body) => csv.split(typeof body === 'string' ? body.replaceAll('\t', ',') : body),
};
const vendorJson: HisDialect = { ...json, name: 'vendor-json' };

describe('golden helpers for a dialect of any name and media type', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-dialect-'));
    mkdirSync(path.join(dir, 'tsv'));
    mkdirSync(path.join(dir, 'vendor-json'));
    const csvCases = readdirSync(path.join(FIXTURES, 'csv')).filter((f) => f.endsWith('.input.csv'));
    const jsonCases = readdirSync(path.join(FIXTURES, 'generic-json')).filter((f) => f.endsWith('.input.json'));
    for (const f of csvCases) {
      const text = readFileSync(path.join(FIXTURES, 'csv', f), 'utf8');
      writeFileSync(path.join(dir, 'tsv', f.replace('.csv', '.tsv')), text.replaceAll(',', '\t'));
    }
    for (const f of jsonCases) {
      writeFileSync(path.join(dir, 'vendor-json', f), readFileSync(path.join(FIXTURES, 'generic-json', f)));
    }
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a dialect as text or JSON by its media types, not its name', () => {
    expect(isTextDialect(csv)).toBe(true);
    expect(isTextDialect(tsv)).toBe(true);
    expect(isTextDialect(json)).toBe(false);
    expect(isTextDialect(vendorJson)).toBe(false);
  });

  it('finds `<case>.input.*` of a text dialect and hands its text to split', () => {
    const cases = caseNames(tsv, dir);
    expect(cases.length).toBeGreaterThanOrEqual(10);
    const body = readInput(tsv, cases[0]!, dir);
    expect(typeof body).toBe('string');
    expect(body).toContain('\t');
    expect(runBody(tsv, body).length).toBeGreaterThan(0);
  });

  it('parses the input of a JSON dialect of another name', () => {
    const cases = caseNames(vendorJson, dir);
    expect(cases.length).toBeGreaterThanOrEqual(10);
    expect(typeof readInput(vendorJson, cases[0]!, dir)).toBe('object');
  });
});
