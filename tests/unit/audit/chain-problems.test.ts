import { CHAIN_PROBLEMS, chainProblem, chainProblemOf, type ChainProblemCode } from '../../../src/audit/chain-problems';
import { chainProblemInWords } from '../../../src/http/console/i18n';

const CHECKPOINT = 'the checkpoint signed at 2026-12-07T02:00:00.000Z with key k1 (seq 10, hash 0a1b)';
/** What each problem names, as verification fills it in. */
const ARGS: Record<ChainProblemCode, (string | number)[]> = {
  gap: [4],
  'prev-hash': [],
  'content-hash': [],
  'not-audit-event': [],
  column: ['patient_bsn'],
  'columns-line-drift': [],
  'rows-missing': [5, 9, 9],
  'head-mismatch': [],
  'purge-unrecorded': [5],
  'purge-unsigned': [5, '2026-12-07T02:00:00.000Z'],
  'chain-ends-early': [8, CHECKPOINT],
  'purge-too-early': [5, CHECKPOINT, 1826],
  'purge-contradicts': [10, CHECKPOINT],
  'signed-row-missing': [10, CHECKPOINT],
  'head-not-extending': [12, CHECKPOINT],
  rewritten: [10, 'ffff', CHECKPOINT],
  'acknowledged-head-changed': [40, '2026-12-07T02:00:00.000Z'],
  'acknowledged-rows-changed': ['2026-12-07T02:00:00.000Z'],
  'acknowledged-row-changed': [3, '2026-12-07T02:00:00.000Z'],
  'too-many-breaks': [100, 250],
};

// The console translated problems by regexes copied by hand from src/audit: a problem reworded there fell back to
// English on the console, unseen. Problems now have codes in src/audit, and the console's words are keyed by them.
describe('the problems verification names for a broken chain', () => {
  it.each(Object.keys(CHAIN_PROBLEMS) as ChainProblemCode[])('%s: its text is found back as its code', (code) => {
    const text = chainProblem(code, ...ARGS[code]);
    expect(text).not.toMatch(/\{\d\}/);
    expect(chainProblemOf(text)).toEqual({ code, args: ARGS[code].map(String) });
  });

  it.each(Object.keys(CHAIN_PROBLEMS) as ChainProblemCode[])('%s: is said in Dutch on the console', (code) => {
    const words = chainProblemInWords('nl', chainProblem(code, ...ARGS[code]));
    expect(words).not.toBe(chainProblem(code, ...ARGS[code]));
    expect(words).not.toContain('the checkpoint signed at');
  });

  it('leaves a problem of no known code as recorded', () => {
    expect(chainProblemOf('something a newer build says')).toBeUndefined();
    expect(chainProblemInWords('nl', 'something a newer build says')).toBe('something a newer build says');
  });
});

// xaudit finding 11: the banner said "gevonden op 7 dec 2026, 06:31:55" beside "ondertekend op 2026-12-07T05:31:34.249Z":
// local time and UTC in one sentence. A checkpoint's time is said as every other time on the console.
describe('a signed checkpoint named in a problem, on the console', () => {
  it('is dated in Dutch time, as the rest of the page', () => {
    const words = chainProblemInWords('nl', chainProblem('rewritten', 10, 'ffff', CHECKPOINT));
    expect(words).not.toContain('2026-12-07T02:00:00.000Z');
    expect(words).toContain('ondertekend op 7 dec 2026, 03:00:00');
  });
});
