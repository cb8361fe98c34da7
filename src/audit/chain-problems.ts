/**
 * The problems verification names for a broken chain (chain.ts, verify.ts, signed-heads.ts), each under a stable code,
 * with the English text the API, the log and `npm run audit-verify` say (`{1}`, `{2}`… what it names: rows, columns,
 * a checkpoint). Those that read a recorded problem (the console's words, audit_chain_integrity's `problem`) find its
 * code here, not by patterns of their own.
 */
export const CHAIN_PROBLEMS = {
  gap: 'gap: expected seq {1}',
  'prev-hash': 'prev_hash does not match the previous row',
  'content-hash': 'content does not match its hash',
  'not-audit-event': 'resource is not an AuditEvent',
  column: 'column {1} does not match the resource',
  'columns-line-drift': 'the search columns do not hash as PostgreSQL writes them',
  'rows-missing': 'rows {1} to {2} are missing (the chain head is at {3})',
  'head-mismatch': 'the last row does not match the recorded chain head',
  'purge-unrecorded': 'the retention checkpoint at seq {1} has no purge AuditEvent in the chain after it',
  'purge-unsigned':
    'the retention checkpoint at seq {1} is not signed by a known key (purged at {2}): not a retention purge',
  'chain-ends-early': 'the chain ends at seq {1}, before {2}',
  'purge-too-early':
    'the retention checkpoint at seq {1} deleted rows written after {2}, less than {3} days ago: not a retention purge',
  'purge-contradicts': 'the retention checkpoint at seq {1} contradicts {2}',
  'signed-row-missing': 'row {1} is missing, contradicting {2}',
  'head-not-extending': 'its head (seq {1}) does not extend {2}',
  rewritten: 'the chain was rewritten: row {1} has hash {2}, contradicting {3}',
  'acknowledged-head-changed':
    'row {1} no longer has the hash it had when the break was acknowledged at {2}: the rows up to it were changed again',
  'acknowledged-rows-changed':
    'the rows up to the head acknowledged at {1} no longer show the breaks acknowledged: they were changed again',
  'acknowledged-row-changed':
    'row {1} is no longer as it was found when its break was acknowledged at {2}: it, or the rows before it, were changed again',
  'too-many-breaks':
    'the hash chain shows more than {1} broken rows up to row {2}: the rows after the last one searched were not checked',
} as const;

export type ChainProblemCode = keyof typeof CHAIN_PROBLEMS;

/** How a problem names a signed checkpoint (signed-heads.ts `namedCheckpoint`): when, which key, its row and hash. */
export const NAMED_CHECKPOINT = 'the checkpoint signed at {1} with key {2} (seq {3}, hash {4})';

const escaped = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A template as a pattern: each `{n}` a group. */
const patternOf = (template: string, anchored: boolean, flags = ''): RegExp =>
  new RegExp(`${anchored ? '^' : ''}${escaped(template).replace(/\\\{\d\\\}/g, '(.+?)')}${anchored ? '$' : ''}`, flags);

const PATTERNS = (Object.entries(CHAIN_PROBLEMS) as [ChainProblemCode, string][]).map(
  ([code, template]) => [code, patternOf(template, true)] as const,
);

/** A problem's text with what it names: `{1}`… of its template filled. */
export function chainProblem(code: ChainProblemCode, ...args: readonly (string | number)[]): string {
  return fillTemplate(CHAIN_PROBLEMS[code], ...args);
}

/** `template` with each `{n}` replaced by `args[n - 1]` (empty when missing): `CHAIN_PROBLEMS`, `NAMED_CHECKPOINT`. */
export function fillTemplate(template: string, ...args: readonly (string | number)[]): string {
  return template.replace(/\{(\d)\}/g, (_m, i: string) => String(args[Number(i) - 1] ?? ''));
}

/** The code of a problem as verification words it, and what it names (`args[0]` is `{1}`); undefined when unknown. */
export function chainProblemOf(problem: string): { code: ChainProblemCode; args: string[] } | undefined {
  for (const [code, pattern] of PATTERNS) {
    const m = pattern.exec(problem);
    if (m) {
      return { code, args: m.slice(1) };
    }
  }
  return undefined;
}

/** Every signed checkpoint a problem names, replaced by `words(when, kid, seq, hash)`. */
export function replaceNamedCheckpoints(
  problem: string,
  words: (signedAt: string, kid: string, seq: string, hash: string) => string,
): string {
  return problem.replace(patternOf(NAMED_CHECKPOINT, false, 'g'), (_m, a: string, b: string, c: string, d: string) =>
    words(a, b, c, d),
  );
}
