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
 * A binary array of byte strings of `bytesOf` each item, each element written as it is: bytea elements, or text
 * elements given as their UTF-8 bytes (`elementOid` TEXT_OID). Null and undefined become NULL.
 */
export function bytesArray<T>(
  items: readonly T[],
  bytesOf: (item: T) => Uint8Array | null | undefined,
  elementOid = BYTEA_OID,
): Buffer {
  const elements = new Array<Uint8Array | null | undefined>(items.length);
  let bytes = ARRAY_HEADER_BYTES + items.length * 4;
  let hasNulls = false;
  for (let i = 0; i < items.length; i++) {
    const e = bytesOf(items[i] as T);
    elements[i] = e;
    if (e === null || e === undefined) {
      hasNulls = true;
    } else {
      bytes += e.length;
    }
  }
  const buf = binaryArray(bytes, elementOid, items.length, hasNulls);
  let at = ARRAY_HEADER_BYTES;
  for (const e of elements) {
    if (e === null || e === undefined) {
      buf.writeInt32BE(NULL_LENGTH, at);
      at += 4;
    } else {
      buf.writeInt32BE(e.length, at);
      buf.set(e, at + 4);
      at += 4 + e.length;
    }
  }
  return buf;
}

/** A binary text[] of `valueOf` each item, written as UTF-8 straight into the array; null and undefined become NULL. */
export function textArray<T>(items: readonly T[], valueOf: (item: T) => string | null | undefined): Buffer {
  const values = new Array<string | null | undefined>(items.length);
  const lengths = new Array<number>(items.length);
  let bytes = ARRAY_HEADER_BYTES + items.length * 4;
  let hasNulls = false;
  for (let i = 0; i < items.length; i++) {
    const v = valueOf(items[i] as T);
    values[i] = v;
    if (v === null || v === undefined) {
      hasNulls = true;
      lengths[i] = NULL_LENGTH;
    } else {
      const n = Buffer.byteLength(v);
      lengths[i] = n;
      bytes += n;
    }
  }
  const buf = binaryArray(bytes, TEXT_OID, items.length, hasNulls);
  let at = ARRAY_HEADER_BYTES;
  for (let i = 0; i < values.length; i++) {
    const n = lengths[i] as number;
    buf.writeInt32BE(n, at);
    at += 4;
    if (n !== NULL_LENGTH) {
      at += buf.write(values[i] as string, at);
    }
  }
  return buf;
}
