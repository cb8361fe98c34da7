import canonicalize from 'canonicalize';
import { canonicalizeJcs } from '../../../src/audit/chain';

/** Reads an IEEE 754 double from the 16 hex digits RFC 8785 Appendix B lists it by. */
function double(hex: string): number {
  return Buffer.from(hex, 'hex').readDoubleBE(0);
}

describe('audit hash canonical JSON is RFC 8785 (JCS)', () => {
  it('serialises the RFC 8785 §3.2.2 example exactly as the RFC shows', () => {
    const input = JSON.parse(
      '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],' +
        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
    ) as unknown;
    expect(canonicalizeJcs(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts properties by UTF-16 code units as in RFC 8785 §3.2.3', () => {
    const input = JSON.parse(
      '{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One",' +
        '"\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}',
    ) as unknown;
    expect(canonicalizeJcs(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it.each([
    ['0000000000000000', '0'],
    ['8000000000000000', '0'],
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ])('writes the IEEE 754 value %s as %s (RFC 8785 Appendix B)', (hex, expected) => {
    expect(canonicalizeJcs(double(hex))).toBe(expected);
    expect(canonicalizeJcs([double(hex)])).toBe(`[${expected}]`);
  });

  it('agrees with the canonicalize reference implementation on 2,000 seeded random JSON documents', () => {
    // A small deterministic generator (mulberry32) so a failure can be reproduced from its seed.
    let state = 0x8785;
    const rnd = (): number => {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const alphabet = ['a', 'B', 'é', '€', '\u0000', '\n', '"', '\\', '\ud83d\ude00', 'דּ', '1', ' ', '\u007f', '\u2028'];
    const str = (): string =>
      Array.from({ length: Math.floor(rnd() * 6) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('');
    const num = (): number => {
      const kind = Math.floor(rnd() * 4);
      return kind === 0
        ? Math.floor(rnd() * 2000) - 1000
        : kind === 1
          ? (rnd() - 0.5) * 10 ** Math.floor(rnd() * 60 - 30)
          : kind === 2
            ? double(
                Math.floor(rnd() * 0xffffffff)
                  .toString(16)
                  .padStart(8, '0') + '00000001',
              )
            : rnd();
    };
    const value = (depth: number): unknown => {
      const kind = Math.floor(rnd() * (depth > 3 ? 4 : 6));
      switch (kind) {
        case 0:
          return null;
        case 1:
          return rnd() < 0.5;
        case 2:
          return num();
        case 3:
          return str();
        case 4:
          return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
        default:
          return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 5) }, () => [str(), value(depth + 1)]));
      }
    };
    for (let i = 0; i < 2000; i++) {
      // Through JSON text and back, so the inputs are exactly what JSON (and a jsonb column) can hold.
      const doc = JSON.parse(JSON.stringify(value(0)) ?? 'null') as unknown;
      const ours = canonicalizeJcs(doc);
      expect(ours).toBe(canonicalize(doc));
      expect(JSON.parse(ours)).toEqual(doc);
    }
  });

  it('serialises a deeply frozen object once, however many events it is part of', () => {
    let reads = 0;
    const coding = Object.freeze({
      system: 'http://dicom.nema.org/resources/ontology/DCM',
      get code(): string {
        reads++;
        return '110106';
      },
    });
    const events = [{ type: coding }, { type: coding, subtype: [coding] }];
    expect(events.map((e) => canonicalizeJcs(e))).toEqual([
      '{"type":{"code":"110106","system":"http://dicom.nema.org/resources/ontology/DCM"}}',
      '{"subtype":[{"code":"110106","system":"http://dicom.nema.org/resources/ontology/DCM"}],' +
        '"type":{"code":"110106","system":"http://dicom.nema.org/resources/ontology/DCM"}}',
    ]);
    expect(reads).toBe(1);
  });

  it('serialises a frozen object anew when something inside it that is not frozen has changed', () => {
    const who = { identifier: { value: 'GM0226' } };
    const agent = Object.freeze({ requestor: false, who });
    const list = Object.freeze([agent]);
    expect(canonicalizeJcs(list)).toBe('[{"requestor":false,"who":{"identifier":{"value":"GM0226"}}}]');
    who.identifier.value = 'GM0344';
    expect(canonicalizeJcs(list)).toBe('[{"requestor":false,"who":{"identifier":{"value":"GM0344"}}}]');
    expect(canonicalizeJcs({ agent: list })).toBe(
      '{"agent":[{"requestor":false,"who":{"identifier":{"value":"GM0344"}}}]}',
    );
  });
});
