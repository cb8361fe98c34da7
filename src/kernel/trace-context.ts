import { randomFillSync } from 'node:crypto';

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` header a caller sends, and the ids
 * jeugdbrug uses when it sends none. The trace id goes with the event through every job, log line and span.
 */
export interface TraceParent {
  /** 32 lower-case hex digits, not all zero. */
  readonly traceId: string;
  /** 16 lower-case hex digits, not all zero: the caller's span. */
  readonly parentId: string;
  /** 2 hex digits; `01` = sampled. */
  readonly flags: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ALL_ZERO = /^0+$/;

/**
 * Parses a `traceparent` header; undefined when absent or invalid (the specification says to start a new trace then,
 * never to refuse the request). Version `ff` is invalid; a future version may carry more fields after the fourth.
 */
export function parseTraceparent(header: string | undefined): TraceParent | undefined {
  const m = header === undefined ? null : TRACEPARENT.exec(header.trim());
  if (!m) {
    return undefined;
  }
  const [, version, traceId, parentId, flags, rest] = m as unknown as [string, string, string, string, string, string?];
  if (
    version === 'ff' ||
    (version === '00' && rest !== undefined) ||
    ALL_ZERO.test(traceId) ||
    ALL_ZERO.test(parentId)
  ) {
    return undefined;
  }
  return { traceId, parentId, flags };
}

// Every request without a traceparent takes a trace id and a span id. Drawn from a pool filled 4 KiB at a time, that
// is one call into the CSPRNG per ~170 requests instead of two per request (crypto.randomUUID caches the same way).
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function randomHex(bytes: number): string {
  if (poolOffset + bytes > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const hex = pool.toString('hex', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return hex;
}

/** A new random trace id (16 bytes, hex), for work that did not arrive with one. */
export function newTraceId(): string {
  return randomHex(16);
}

/** A new random span id (8 bytes, hex). */
export function newSpanId(): string {
  return randomHex(8);
}

/** `00-<trace id>-<span id>-<flags>`: the header value for `traceparent` and `traceresponse`. */
export function formatTraceparent(traceId: string, spanId: string, flags = '01'): string {
  return `00-${traceId}-${spanId}-${flags}`;
}
