import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from '../../../src/kernel/trace-context';

describe('new trace and span ids', () => {
  it('are lower-case hex of the W3C lengths, a valid traceparent together, and never repeat across pool refills', () => {
    // 1,000 of each draws 24 KB: the 4 KiB pool is refilled several times on the way.
    const traceIds = Array.from({ length: 1000 }, newTraceId);
    const spanIds = Array.from({ length: 1000 }, newSpanId);
    expect(traceIds.every((id) => /^[0-9a-f]{32}$/.test(id))).toBe(true);
    expect(spanIds.every((id) => /^[0-9a-f]{16}$/.test(id))).toBe(true);
    expect(new Set(traceIds).size).toBe(traceIds.length);
    expect(new Set(spanIds).size).toBe(spanIds.length);
    const header = formatTraceparent(traceIds[0]!, spanIds[0]!);
    expect(parseTraceparent(header)).toEqual({ traceId: traceIds[0], parentId: spanIds[0], flags: '01' });
  });
});
