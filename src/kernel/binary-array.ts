/**
 * Array parameters in PostgreSQL's binary array format. pg sends a Buffer as it is, marked binary, so PostgreSQL
 * reads such an array with `array_recv`, element by element at their lengths, instead of scanning a text literal
 * character by character (`array_in`) and running each element's own input function on it. For bytea elements that
 * is the difference between copying the bytes and decoding twice their length in hex (measured on the pipeline's
 * grouped inbox insert: `array_in` was a tenth of PostgreSQL's CPU). The parameter's type must be the array's: the
 * statement casts it (`$7::bytea[]`), and the element type written here must match that cast.
 */

export const BYTEA_OID = 17;
export const INT8_OID = 20;
export const TEXT_OID = 25;
export const TIMESTAMPTZ_OID = 1184;

/** Dimensions, null flag, element type, length and lower bound of a one-dimensional array. */
const ARRAY_HEADER_BYTES = 20;
const INT8_ELEMENT_BYTES = 12;
const TWO_TO_THE_32 = 2 ** 32;
/** The length word that marks an element NULL. */
const NULL_LENGTH = -1;

/** A buffer of `bytes` for a binary one-dimensional array of `length` elements, its header written. */
function binaryArray(bytes: number, elementOid: number, length: number, hasNulls: boolean): Buffer {
  const buf = Buffer.allocUnsafe(bytes);
  buf.writeInt32BE(1, 0);
  buf.writeInt32BE(hasNulls ? 1 : 0, 4);
  buf.writeUInt32BE(elementOid, 8);
  buf.writeInt32BE(length, 12);
  buf.writeInt32BE(1, 16);
  return buf;
}

/**
 * A binary array of 8-byte integers (bigint, or timestamptz in microseconds since 2000) of `valueOf` each item: safe
 * integers, as sequence numbers and times to the microsecond are.
 */
export function int8Array<T>(items: readonly T[], valueOf: (item: T) => number, elementOid = INT8_OID): Buffer {
  const buf = binaryArray(ARRAY_HEADER_BYTES + items.length * INT8_ELEMENT_BYTES, elementOid, items.length, false);
  let at = ARRAY_HEADER_BYTES;
  for (const item of items) {
    const v = valueOf(item);
    const high = Math.floor(v / TWO_TO_THE_32);
    buf.writeInt32BE(8, at);
    buf.writeInt32BE(high, at + 4);
    buf.writeUInt32BE(v - high * TWO_TO_THE_32, at + 8);
    at += INT8_ELEMENT_BYTES;
  }
  return buf;
}

/**
 * A binary array of variable-length elements: `values` (null and undefined become NULL), each written after its
 * length by `write`.
 */
function lengthPrefixedArray<V>(
  values: readonly (V | null | undefined)[],
  elementOid: number,
  lengthOf: (value: V) => number,
  write: (buf: Buffer, value: V, at: number) => void,
): Buffer {
  const lengths = new Array<number>(values.length);
  let bytes = ARRAY_HEADER_BYTES + values.length * 4;
  let hasNulls = false;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      hasNulls = true;
      lengths[i] = NULL_LENGTH;
    } else {
      lengths[i] = lengthOf(v);
      bytes += lengths[i] as number;
    }
  }
  const buf = binaryArray(bytes, elementOid, values.length, hasNulls);
  let at = ARRAY_HEADER_BYTES;
  for (let i = 0; i < values.length; i++) {
    const n = lengths[i] as number;
    buf.writeInt32BE(n, at);
    at += 4;
    if (n !== NULL_LENGTH) {
      write(buf, values[i] as V, at);
      at += n;
    }
  }
  return buf;
}

/**
 * A binary array of byte strings of `bytesOf` each item, each element written as it is: bytea elements, or text
 * elements given as their UTF-8 bytes (`elementOid` TEXT_OID). Null and undefined become NULL.
 */
export function bytesArray<T>(
  items: readonly T[],
  bytesOf: (item: T) => Uint8Array | null | undefined,
  elementOid = BYTEA_OID,
): Buffer {
  return lengthPrefixedArray(
    items.map(bytesOf),
    elementOid,
    (e) => e.length,
    (buf, e, at) => buf.set(e, at),
  );
}

/** A binary text[] of `valueOf` each item, written as UTF-8 straight into the array; null and undefined become NULL. */
export function textArray<T>(items: readonly T[], valueOf: (item: T) => string | null | undefined): Buffer {
  return lengthPrefixedArray(
    items.map(valueOf),
    TEXT_OID,
    (v) => Buffer.byteLength(v),
    (buf, v, at) => buf.write(v, at),
  );
}
