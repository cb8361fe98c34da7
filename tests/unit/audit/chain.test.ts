import {
  canonicalizeJcs,
  chainHash,
  chainHashOfCanonical,
  chainHashOfLaidOut,
  ChainVerifier,
  GENESIS_HASH,
  HASH_PREFIX_ROOM,
  layOutRow,
  verifyChain,
  type ChainRow,
} from '../../../src/audit/chain';
import { chainColumnsOf, columnsLine } from '../../../src/audit/chain-columns';
import { awkwardEvents } from '../../helpers/audit-awkward';

/** A valid chain of `n` rows starting after `start`. */
function chainOf(n: number, start = { seq: 0, hash: GENESIS_HASH }): ChainRow[] {
  const rows: ChainRow[] = [];
  let prev = start;
  for (let i = 1; i <= n; i++) {
    const seq = prev.seq + 1;
    const resource = {
      resourceType: 'AuditEvent',
      id: `e${seq}`,
      outcome: '0',
      entity: [{ what: { reference: `x/${i}` } }],
    };
    const hash = chainHash(prev.hash, seq, resource);
    rows.push({ seq, resource, prevHash: prev.hash, hash });
    prev = { seq, hash };
  }
  return rows;
}

describe('canonicalizeJcs', () => {
  it('sorts keys at every depth and leaves out undefined values, so jsonb round trips hash the same', () => {
    expect(canonicalizeJcs({ b: 1, a: { d: [{ z: 1, y: 2 }], c: undefined } })).toBe(
      '{"a":{"d":[{"y":2,"z":1}]},"b":1}',
    );
    expect(canonicalizeJcs(JSON.parse('{"y":"é","x":null}'))).toBe('{"x":null,"y":"é"}');
  });
});

describe('verifyChain', () => {
  it('accepts an intact chain and reports its head', () => {
    const rows = chainOf(5);
    expect(verifyChain(rows)).toEqual({ ok: true, rows: 5, headSeq: 5, headHash: rows[4]!.hash });
  });

  it('accepts an empty chain as the genesis', () => {
    expect(verifyChain([])).toEqual({ ok: true, rows: 0, headSeq: 0, headHash: GENESIS_HASH });
  });

  it.each([
    ['a row removed', (rows: ChainRow[]) => rows.splice(2, 1), 4, 'gap: expected seq 3'],
    [
      'content changed',
      (rows: ChainRow[]) => (rows[1] = { ...rows[1]!, resource: { changed: true } }),
      2,
      'content does not match its hash',
    ],
    [
      'a link re-pointed',
      (rows: ChainRow[]) => (rows[3] = { ...rows[3]!, prevHash: 'f'.repeat(64) }),
      4,
      'prev_hash does not match the previous row',
    ],
  ])('finds %s at the right seq', (_what, tamper, brokenAtSeq, problem) => {
    const rows = chainOf(6);
    tamper(rows);
    expect(verifyChain(rows)).toEqual(expect.objectContaining({ ok: false, brokenAtSeq, problem }));
  });

  it('starts from a retention checkpoint instead of the genesis', () => {
    const all = chainOf(10);
    const checkpoint = { seq: 4, hash: all[3]!.hash };
    expect(verifyChain(all.slice(4), checkpoint)).toEqual({ ok: true, rows: 6, headSeq: 10, headHash: all[9]!.hash });
    expect(verifyChain(all.slice(4))).toEqual(expect.objectContaining({ ok: false, brokenAtSeq: 5 }));
  });
});

describe('ChainVerifier', () => {
  it('gives row by row the verdict verifyChain gives for the whole', () => {
    const rows = chainOf(7);
    rows[5] = { ...rows[5]!, resource: { x: 1 } };
    const v = new ChainVerifier();
    rows.forEach((r) => v.push(r));
    expect(v.verdict()).toEqual(verifyChain(rows));
    expect(v.ok).toBe(false);
  });

  it('keeps the first problem when a later one is reported', () => {
    const v = new ChainVerifier();
    chainOf(3).forEach((r) => v.push(r));
    v.fail(4, 'rows 4 to 9 are missing');
    v.fail(9, 'the last row does not match the recorded chain head');
    expect(v.verdict()).toEqual({ ok: false, rows: 3, brokenAtSeq: 4, problem: 'rows 4 to 9 are missing' });
  });
});

describe('chain format 2 rows', () => {
  const resource = { resourceType: 'AuditEvent', id: 'e1', outcome: '0' };
  const line = '["e1", 1, "t", null, null, "0", null, [], []]';
  const text = canonicalizeJcs(resource);
  const hash = chainHash(GENESIS_HASH, 1, resource, line);

  it('hash their columns line after the canonical JSON, so a changed line or a line left out breaks the hash', () => {
    expect(hash).not.toBe(chainHash(GENESIS_HASH, 1, resource));
    const row = { seq: 1, resource, storedText: text, prevHash: GENESIS_HASH, hash };
    expect(verifyChain([{ ...row, columnsLine: line }]).ok).toBe(true);
    expect(verifyChain([{ ...row, columnsLine: line.replace('"0"', '"4"') }])).toEqual(
      expect.objectContaining({ ok: false, brokenAtSeq: 1, problem: 'content does not match its hash' }),
    );
    expect(verifyChain([row]).ok).toBe(false);
    expect(verifyChain([{ ...row, columnsLine: null }]).ok).toBe(false);
  });

  it('accept only the text that was hashed, not other text saying the same (as PostgreSQL checks them)', () => {
    const spaced = JSON.stringify(resource, null, 1);
    const row = { seq: 1, resource, storedText: spaced, prevHash: GENESIS_HASH, hash, columnsLine: line };
    expect(verifyChain([row]).ok).toBe(false);
    expect(verifyChain([{ ...row, storedText: undefined }]).ok).toBe(true);
  });
});

describe('a row laid out for hashing (the writer)', () => {
  const lines = awkwardEvents.map((e) => columnsLine(chainColumnsOf(e)));

  it('hashes to what chainHash makes of the AuditEvent and its columns line, at every length of seq', () => {
    const seqs = [1, 9, 10, 12_345, 2 ** 31, Number.MAX_SAFE_INTEGER];
    awkwardEvents.forEach((e, i) => {
      const row = layOutRow(canonicalizeJcs(e), lines[i]!);
      for (const seq of seqs) {
        const prev = chainHash(GENESIS_HASH, seq, { seq });
        expect(chainHashOfLaidOut(prev, seq, row)).toBe(chainHash(prev, seq, e, lines[i]));
      }
    });
  });

  it('keeps the canonical text as its stored bytes, however often its prefix is written', () => {
    awkwardEvents.forEach((e, i) => {
      const row = layOutRow(canonicalizeJcs(e), lines[i]!);
      chainHashOfLaidOut(GENESIS_HASH, 1, row);
      chainHashOfLaidOut(GENESIS_HASH, Number.MAX_SAFE_INTEGER, row);
      expect(row.canonical.toString('utf8')).toBe(canonicalizeJcs(e));
      expect(row.bytes.subarray(HASH_PREFIX_ROOM).toString('utf8')).toBe(`${canonicalizeJcs(e)}\n${lines[i]}`);
    });
  });

  it('hashes a head that does not fit the room in front of it as chainHash does', () => {
    const e = awkwardEvents[0]!;
    const row = layOutRow(canonicalizeJcs(e), lines[0]!);
    const long = 'é'.repeat(64);
    expect(chainHashOfLaidOut(long, 7, row)).toBe(chainHash(long, 7, e, lines[0]));
    expect(chainHashOfLaidOut(long, 7, row)).toBe(chainHashOfCanonical(long, 7, canonicalizeJcs(e), lines[0]));
  });

  it('is laid out whole whatever its size, in a shared slab or on its own', () => {
    const big = { resourceType: 'AuditEvent', id: 'big', outcomeDesc: 'x'.repeat(100_000) };
    const rows = [big, ...awkwardEvents, big].map((e) => [e, layOutRow(canonicalizeJcs(e), 'line')] as const);
    for (const [e, row] of rows) {
      expect(row.canonical.toString('utf8')).toBe(canonicalizeJcs(e));
      expect(chainHashOfLaidOut(GENESIS_HASH, 3, row)).toBe(chainHash(GENESIS_HASH, 3, e, 'line'));
    }
  });
});
