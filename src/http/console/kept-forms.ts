import { randomBytes } from 'node:crypto';
import type { Response } from 'express';
import type { ConsoleSessionStore } from '../../access/console-sessions';
import type { PayloadCipher } from '../../kernel/payload-crypto';
import { getConsoleState, setConsoleState } from './console-request';

/**
 * POST-redirect-GET for forms that hold a child's BSN (the auditor's search, overview and consents). A BSN may not
 * go in a URL, so the posted fields are kept in the session under an opaque id and the browser is sent to
 * `GET <page>?q=<id>`: Back and reload then show the page again instead of "Confirm Form Resubmission", and the
 * language switch keeps it. Sealed with the payload key, so Redis holds no BSN in the clear; bound to the session,
 * so the address means nothing in another one. The last `KEPT` forms are kept.
 */
const KEPT = 20;

export const KEPT_ID = /^[A-Za-z0-9_-]{16}$/;

/** Keeps the form's text fields (those named) in the session; returns the id for the page's address. */
export async function keepForm(
  cipher: PayloadCipher,
  sessions: ConsoleSessionStore,
  res: Response,
  body: unknown,
  names: readonly string[],
): Promise<string> {
  const state = getConsoleState(res);
  if (!state.session || !state.token) {
    throw new Error('keepForm: no session');
  }
  const fields: Record<string, string> = {};
  for (const name of names) {
    const value = (body as Record<string, unknown> | undefined)?.[name];
    if (typeof value === 'string' && value.trim() !== '') {
      fields[name] = value.trim();
    }
  }
  const id = randomBytes(12).toString('base64url');
  const { keyId, data } = cipher.encrypt(fields);
  const forms = [...(state.session.forms ?? []), { id, sealed: `${keyId}.${data.toString('base64url')}` }].slice(-KEPT);
  const session = { ...state.session, forms };
  await sessions.update(state.token, session);
  setConsoleState(res, { ...state, session });
  return id;
}

/** The form kept under `id` in this session; undefined when there is none (another session's, or pushed out). */
export function keptForm(
  cipher: PayloadCipher,
  res: Response,
  id: string | undefined,
): Record<string, string> | undefined {
  const kept =
    id !== undefined && KEPT_ID.test(id) ? getConsoleState(res).session?.forms?.find((f) => f.id === id) : undefined;
  if (!kept) {
    return undefined;
  }
  const [keyId = '', data = ''] = kept.sealed.split('.');
  try {
    const fields = cipher.decrypt(keyId, Buffer.from(data, 'base64url'));
    return typeof fields === 'object' && fields !== null ? (fields as Record<string, string>) : undefined;
  } catch {
    // A key no longer configured: as if the form were gone.
    return undefined;
  }
}
