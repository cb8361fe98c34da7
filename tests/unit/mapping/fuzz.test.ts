import { OperationOutcomeError } from '@medplum/core';
import { httpStatusOf } from '../../../src/kernel/fhir/outcomes';
import { assertValidResource } from '../../../src/kernel/fhir/validation';
import type { HisDialect, RawRecord } from '../../../src/contracts/his-dialect';
import { caseNames, DIALECTS_UNDER_TEST, isTextDialect, readInput } from './run-dialect';
import { prng } from '../../helpers/prng';

/**
 * Seeded random mutations of valid records (fields deleted, types changed, long strings, odd unicode, fields and
 * separators of a record that is a line of text, and for a dialect read as text, broken text). Whatever comes in,
 * `map` either returns an event whose resources are valid FHIR or throws an OperationOutcomeError with a 4xx status:
 * never another error, never invalid FHIR.
 */

const ITERATIONS = 3000;
/** Fixed so a failure reproduces; `FUZZ_SEED=… npx jest fuzz` explores other sequences. */
const SEED = Number(process.env.FUZZ_SEED ?? 20250310);

const ODD = [
  '',
  ' ',
  '\u0000',
  '\u0007',
  '\u001b[31m',
  '\ud800',
  '\udc00x',
  '👩‍👧‍👦',
  '\u202e',
  'e\u0301',
  '\u200b',
  '\uffff',
  '\ufeff',
  'İı',
  '"',
  ',',
  ';',
  '\n',
  '\r\n',
  '<script>',
  'null',
  '0',
  '-1',
  '1e400',
  ' 123456782 ',
  'GM0226',
  '2025-02-30',
  '2025-03-10T25:00:00Z',
  'Patient/',
  'urn:uuid:',
];

type Rnd = () => number;
const pick = <T>(rnd: Rnd, list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;

function randomValue(rnd: Rnd): unknown {
  switch (Math.floor(rnd() * 9)) {
    case 0:
      return pick(rnd, [0, -1, 1.5, 1e308, -0, Number.MAX_SAFE_INTEGER, 45, 480, 481]);
    case 1:
      return pick(rnd, ODD);
    case 2:
      // Mostly moderately long; now and then past FHIR's 1 MB string limit.
      return 'a'.repeat(rnd() < 0.05 ? 1_100_000 : 5000);
    case 3:
      return pick(rnd, [true, false, null]);
    case 4:
      return [];
    case 5:
      return {};
    case 6:
      return [pick(rnd, ODD), 1, null];
    case 7:
      return { resourceType: 'Patient', id: pick(rnd, ODD) };
    default:
      return pick(rnd, ODD) + pick(rnd, ODD);
  }
}

type Container = Record<string, unknown> | unknown[];

/** Every (container, key) pair in a JSON value, so any field at any depth can be mutated. */
function slots(value: unknown, out: [Container, string | number][] = []): [Container, string | number][] {
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      out.push([value, i]);
      slots(v, out);
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.push([value as Record<string, unknown>, k]);
      slots(v, out);
    }
  }
  return out;
}

function mutateString(rnd: Rnd, s: string): string {
  const at = Math.floor(rnd() * (s.length + 1));
  switch (Math.floor(rnd() * 5)) {
    case 0:
      return s.slice(0, at) + pick(rnd, ODD) + s.slice(at);
    case 1:
      return s.repeat(1 + Math.floor(rnd() * 50));
    case 2:
      return ` ${s} `;
    case 3:
      return s.toUpperCase();
    default:
      return s.slice(0, at);
  }
}

function mutateJson(rnd: Rnd, root: unknown): void {
  const all = slots(root);
  if (all.length === 0) {
    return;
  }
  const [container, key] = pick(rnd, all);
  const current = (container as Record<string | number, unknown>)[key];
  const op = rnd();
  if (op < 0.25) {
    if (Array.isArray(container)) {
      container.splice(key as number, 1);
    } else {
      delete container[key];
    }
  } else if (op < 0.5) {
    (container as Record<string | number, unknown>)[key] = randomValue(rnd);
  } else if (typeof current === 'string') {
    (container as Record<string | number, unknown>)[key] = mutateString(rnd, current);
  } else if (Array.isArray(current) && current.length > 0) {
    current.push(JSON.parse(JSON.stringify(pick(rnd, current))));
  } else if (current !== null && typeof current === 'object') {
    (current as Record<string, unknown>)[pick(rnd, ['extra', 'resourceType', 'id', '__proto__x'])] = randomValue(rnd);
  } else if (typeof current === 'number') {
    (container as Record<string | number, unknown>)[key] = pick(rnd, [
      current + 1,
      -current,
      current * 1000,
      current / 3,
    ]);
  } else {
    (container as Record<string | number, unknown>)[key] = randomValue(rnd);
  }
}

function mutateText(rnd: Rnd, text: string): string {
  let out = text;
  const n = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rnd() * (out.length + 1));
    const insert = pick(rnd, ['"', '""', ',', ';', '\n', '\r', '\r\n', 'x', '\u0000', '\ud800', pick(rnd, ODD)]);
    out =
      rnd() < 0.2
        ? out.slice(0, at) + out.slice(at + 1 + Math.floor(rnd() * 10))
        : out.slice(0, at) + insert + out.slice(at);
  }
  return out;
}

/**
 * What of a record to mutate: the cells of a row-shaped record (`{header, fields}`, as parse-csv makes them for the CSV
 * dialect and any text dialect built on it), else the whole record.
 */
function cellsOf(value: unknown): unknown {
  const row = value as { header?: unknown; fields?: unknown } | null;
  return row && typeof row === 'object' && Array.isArray(row.header) && Array.isArray(row.fields) ? row.fields : value;
}

/**
 * A record that is a line of text (a line-based dialect's record): one of its fields (the runs of letters and digits
 * between its punctuation, so whatever the separator is) changed or emptied, a separator dropped or doubled, the line
 * broken as a body is in the broken-text run, or a value of another type in its place.
 */
function mutateLine(rnd: Rnd, line: string): unknown {
  const op = rnd();
  if (op < 0.1) {
    return randomValue(rnd);
  }
  if (op < 0.3) {
    return mutateText(rnd, line);
  }
  // Odd indexes are the separators between fields (split keeps the captured group), even ones the fields.
  const tokens = line.split(/([^\p{L}\p{N}]+)/u);
  const at = Math.floor(rnd() * tokens.length);
  const token = tokens[at]!;
  if (at % 2 === 1) {
    tokens[at] = rnd() < 0.5 ? '' : token + token;
  } else {
    tokens[at] = rnd() < 0.3 ? '' : rnd() < 0.5 ? pick(rnd, ODD) : mutateString(rnd, token);
  }
  return tokens.join('');
}

/**
 * Mutates a record's value once and returns it. Objects and arrays (and the cells of a `{header, fields}` row) are
 * changed in place; a string is a line of text and comes back changed; another value is replaced.
 */
function mutateRecordValue(rnd: Rnd, value: unknown): unknown {
  const target = cellsOf(value);
  if (typeof target === 'string') {
    return mutateLine(rnd, target);
  }
  if (target === null || typeof target !== 'object') {
    return randomValue(rnd);
  }
  mutateJson(rnd, target);
  return value;
}

interface Tally {
  mapped: number;
  rejected: number;
}

/** Maps one record and holds it to the rule; a breach fails with what was mapped, to reproduce it. */
function holdToRule(dialect: HisDialect, record: RawRecord, tally: Tally, context: string): void {
  let resources;
  try {
    resources = dialect.map(record).resources;
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) {
      throw new Error(`${context}: map threw ${String(err)} for ${JSON.stringify(record).slice(0, 2000)}`, {
        cause: err,
      });
    }
    const status = httpStatusOf(err.outcome);
    if (status < 400 || status > 499) {
      throw new Error(`${context}: status ${status} for ${JSON.stringify(record).slice(0, 2000)}`, { cause: err });
    }
    tally.rejected++;
    return;
  }
  for (const r of resources) {
    try {
      assertValidResource(r);
    } catch (err) {
      throw new Error(
        `${context}: invalid ${r.resourceType} ${JSON.stringify(err)} from ${JSON.stringify(record).slice(0, 2000)}`,
        { cause: err },
      );
    }
  }
  tally.mapped++;
}

describe.each(DIALECTS_UNDER_TEST.map((d) => [d.name, d] as const))('fuzzing dialect %s', (name, dialect) => {
  // Records of every golden case that maps, as the starting points of the mutations.
  const seeds: RawRecord[] = caseNames(name).flatMap((c) =>
    dialect.split(readInput(name, c)).filter((r) => {
      try {
        dialect.map(r);
        return true;
      } catch {
        return false;
      }
    }),
  );

  it(`maps or rejects with a 4xx, for ${ITERATIONS} seeded random mutations of valid records`, () => {
    const rnd = prng(SEED);
    const tally: Tally = { mapped: 0, rejected: 0 };
    let unchanged = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const seed = pick(rnd, seeds);
      const before = JSON.stringify(seed.value);
      let value: unknown = JSON.parse(before);
      const mutations = 1 + Math.floor(rnd() * 3);
      for (let m = 0; m < mutations; m++) {
        value = mutateRecordValue(rnd, value);
      }
      if (JSON.stringify(value) === before) {
        unchanged++;
      }
      holdToRule(dialect, { value, location: seed.location }, tally, `${name} iteration ${i}`);
    }
    if (unchanged > ITERATIONS / 10) {
      // Before the counts below: "rejected 0" would read as "the dialect accepts anything".
      throw new Error(
        `${name}: ${unchanged} of ${ITERATIONS} mutations left the record as split made it; a record value must be ` +
          'an object, an array, a {header, fields} row or a string (mappings/his/README.md, "What split returns")',
      );
    }
    // A fuzz run that only ever rejects (or only maps) tests little: both must happen.
    expect(tally.rejected).toBeGreaterThan(ITERATIONS / 10);
    expect(tally.mapped).toBeGreaterThan(ITERATIONS / 50);
  });

  if (isTextDialect(dialect)) {
    it(`splits and maps ${ITERATIONS / 3} randomly broken texts without other errors`, () => {
      const rnd = prng(SEED + 4180);
      const texts = caseNames(dialect).map((c) => readInput(dialect, c) as string);
      const tally: Tally = { mapped: 0, rejected: 0 };
      for (let i = 0; i < ITERATIONS / 3; i++) {
        const text = mutateText(rnd, pick(rnd, texts));
        let records: RawRecord[];
        try {
          records = dialect.split(text);
        } catch (err) {
          expect(err).toBeInstanceOf(OperationOutcomeError);
          expect(httpStatusOf((err as OperationOutcomeError).outcome)).toBe(400);
          tally.rejected++;
          continue;
        }
        records.forEach((r) => holdToRule(dialect, r, tally, `${name} text ${i}`));
      }
      expect(tally.rejected).toBeGreaterThan(0);
      expect(tally.mapped).toBeGreaterThan(0);
    });
  }
});

describe('the mutations', () => {
  // Every shape a record value may take (mappings/his/README.md): each must really be changed, or a dialect that
  // uses it is not fuzzed at all.
  it.each([
    ['an object', { child: { bsn: '123456782', birthDate: '2012-03-04' }, referral: { target: 'social-team' } }],
    ['an array', ['123456782', '2012-03-04', ['social-team', 'mother']]],
    ['a {header, fields} row', { header: ['bsn', 'birthDate', 'target'], fields: ['123456782', '2012-03-04', 'x'] }],
    ['a string (a line of text)', 'REF|p-1|2026-11-20T10:15:00+01:00|123456782|mother|J|social-team|45'],
  ])('change a record value that is %s in nearly every one of 300 runs', (_shape, original) => {
    const rnd = prng(SEED);
    const runs = 300;
    let unchanged = 0;
    for (let i = 0; i < runs; i++) {
      const before = JSON.stringify(original);
      if (JSON.stringify(mutateRecordValue(rnd, JSON.parse(before))) === before) {
        unchanged++;
      }
    }
    expect(unchanged).toBeLessThan(runs / 10);
  });
});
