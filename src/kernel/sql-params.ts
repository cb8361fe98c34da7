/** Collects positional parameters while a query is assembled, so conditions can be composed without counting `$n`. */
export class SqlParams {
  readonly values: unknown[] = [];

  /** Adds a value and returns its placeholder (`$3`), with a cast when given. */
  add(value: unknown, cast?: string): string {
    this.values.push(value);
    return cast ? `$${this.values.length}::${cast}` : `$${this.values.length}`;
  }
}

/** `a AND b AND …`, or TRUE for none. */
export function and(conditions: readonly string[]): string {
  return conditions.length === 0 ? 'TRUE' : conditions.map((c) => `(${c})`).join(' AND ');
}

/** `a OR b OR …`, or FALSE for none. */
export function or(conditions: readonly string[]): string {
  return conditions.length === 0 ? 'FALSE' : conditions.map((c) => `(${c})`).join(' OR ');
}
