type Json = Record<string, unknown>;

/** A deep copy of `body` with one change at `path`: a value set, or deleted when the value is `undefined`. */
export function withChange(body: unknown, path: readonly (string | number)[], value: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(body)) as Json;
  let at: Json = copy;
  for (const key of path.slice(0, -1)) {
    at = at[key] as Json;
  }
  const last = path[path.length - 1]!;
  if (value === undefined) {
    delete at[last];
  } else {
    at[last] = value;
  }
  return copy;
}

/** A day over a year from now (YYYY-MM-DD): a date a record cannot have yet. */
export function futureDate(): string {
  return new Date(Date.now() + 400 * 86_400_000).toISOString().slice(0, 10);
}

/** A dateTime `minutes` from now, written in the Amsterdam winter offset as a HIS would: the instant is what counts. */
export function dateTimeFromNow(minutes: number): string {
  const t = new Date(Date.now() + minutes * 60_000 + 3600_000);
  return `${t.toISOString().slice(0, 19)}+01:00`;
}
