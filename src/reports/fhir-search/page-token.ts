import { badRequest, OperationOutcomeError } from '@medplum/core';
import { z } from 'zod';
import type { PayloadCipher } from '../../kernel/payload-crypto';

/**
 * An opaque page token: base64url JSON of a sort key, checked against the provider's schema on the way back, so a
 * token another server (or a client) made is a 400 rather than a query on arbitrary values. Tokens hold sort keys
 * and moments only, never personal data: they end up in URLs.
 */
export function encodePageToken(key: unknown): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/**
 * A moment in a page token (or any moment that reaches SQL as a timestamptz): ISO 8601, a date that exists (zod checks
 * each month's days and the hours), and not in year 0, which PostgreSQL does not have. Checked only as a string, a
 * moment PostgreSQL refuses was its error, a 500 with an error in the log (report-xpen 3). `precision`: the digits of
 * its fraction, when the server always writes as many (`exactTimeSql`: 6); `offset`: a time zone other than Z is
 * taken; `message`: what a refusal says.
 */
export function tokenMoment(
  opts: { readonly precision?: number; readonly offset?: boolean; readonly message?: string } = {},
): z.ZodType<string> {
  return z.iso.datetime(opts).refine((s) => !s.startsWith('0000-'), { message: opts.message });
}

/**
 * What a 400 says of a token this build cannot read: during a rolling upgrade it is most often a token of another
 * build of jeugdbrug behind the same address, and a client recovers by starting its list or poll again.
 */
export const FOREIGN_TOKEN = 'made by another build of jeugdbrug, or not by it: start again from the first page';

export function decodePageToken<T>(token: string, schema: z.ZodType<T>): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const r = schema.safeParse(parsed);
  if (!r.success) {
    throw new OperationOutcomeError(badRequest(`_page: ${FOREIGN_TOKEN}`, '_page'));
  }
  return r.data;
}

/**
 * The paging links of a POST `_search`. Its parameters came in a form body so that a child's BSN stays out of URLs,
 * proxy logs and browser history; its `self`/`next`/`previous` links must not put them back. They carry one `_page`
 * value instead: the applied parameters and the page's own token, encrypted and authenticated with the server's
 * payload key (so a client can neither read nor alter them). A GET with such a token runs the same search again,
 * under the caller's own scope, as any search does.
 */
const SEALED_PREFIX = 's.';

export function sealSearchLink(cipher: PayloadCipher, applied: URLSearchParams, page: string | undefined): string {
  const { keyId, data } = cipher.encrypt({ q: applied.toString(), p: page });
  return `${SEALED_PREFIX}${keyId}.${data.toString('base64url')}`;
}

/**
 * A GET whose `_page` is a sealed link: the search's parameters restored from it (with the page token, if any).
 * Any other parameter beside it is refused, since the sealed set already says what applies. Other params: unchanged.
 */
export function unsealSearchLink(cipher: PayloadCipher, params: URLSearchParams): URLSearchParams {
  const token = params.get('_page');
  if (!token?.startsWith(SEALED_PREFIX)) {
    return params;
  }
  const extra = [...params.keys()].find((name) => name !== '_page' && name !== '_format');
  if (extra) {
    throw new OperationOutcomeError(badRequest(`${extra}: not allowed beside a sealed _page link`, extra));
  }
  const [keyId, data] = token.slice(SEALED_PREFIX.length).split('.');
  const schema = z.object({ q: z.string(), p: z.string().optional() });
  let sealed: z.infer<typeof schema> | undefined;
  try {
    sealed = schema.parse(cipher.decrypt(keyId ?? '', Buffer.from(data ?? '', 'base64url')));
  } catch {
    throw new OperationOutcomeError(badRequest(`_page: ${FOREIGN_TOKEN}`, '_page'));
  }
  const restored = new URLSearchParams(sealed.q);
  if (sealed.p) {
    restored.set('_page', sealed.p);
  }
  return restored;
}
