import { getStatus, OperationOutcomeError, unauthorized } from '@medplum/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { decodeJwt } from 'jose';
import { API_KEY_PREFIX, hashApiKey, keyFingerprint } from './api-keys';
import { authenticationRequired, invalidApiKey, unauthorizedBecause } from './auth-outcomes';
import { createJwtVerifier, type IssuerConfig } from './jwt';
import { assertRole, isRole, type Principal, type Role } from './principal';

/** Anything that turns an API key into a principal or throws a 401; `ApiKeyStore` is the real one. */
export interface ApiKeyVerifier {
  verify(key: string): Principal;
}

/** What the authenticator trusts. */
export interface AuthenticatorOptions {
  readonly apiKeys: ApiKeyVerifier;
  readonly issuers: readonly IssuerConfig[];
  /** Allowed clock difference for JWT `exp`/`nbf`, in seconds (default 60, at most 300). */
  readonly clockSkewSeconds?: number;
}

const PRINCIPAL_LOCAL = 'principal';
// RFC 6750 token68 syntax; anything else after "Bearer" cannot be a token we issued or accept.
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
const bothCredentials = unauthorizedBecause('Send one credential: Authorization or X-API-Key, not both');
const unsupportedScheme = unauthorizedBecause('Unsupported authorization scheme; use Bearer');
const emptyBearer = unauthorizedBecause('Bearer token is empty');
const severalTokens = unauthorizedBecause('Bearer takes one token, without spaces');
const notAToken = unauthorizedBecause('Bearer token has characters a token cannot hold');

/** The token of `Authorization: Bearer <token>`; throws a 401 that says what is wrong with anything else. */
function bearerTokenOf(authorization: string): string {
  const [scheme = '', ...rest] = authorization.trim().split(/ +/);
  if (scheme.toLowerCase() !== 'bearer') {
    throw new OperationOutcomeError(unsupportedScheme);
  }
  const [token] = rest;
  if (token === undefined) {
    throw new OperationOutcomeError(emptyBearer);
  }
  if (rest.length > 1) {
    throw new OperationOutcomeError(severalTokens);
  }
  if (!TOKEN68.test(token)) {
    throw new OperationOutcomeError(notAToken);
  }
  return token;
}

/**
 * The credential a request sent, as `authenticate` reads it: the X-API-Key, or the token of a well-formed Bearer
 * header; '' when the header is malformed or both were sent; undefined when none was.
 */
export function credentialSent(req: Request): string | undefined {
  const authorization = req.get('authorization');
  const apiKey = req.get('x-api-key');
  if (authorization === undefined || apiKey === undefined) {
    return apiKey ?? (authorization === undefined ? undefined : tokenOrEmpty(authorization));
  }
  return '';
}

function tokenOrEmpty(authorization: string): string {
  try {
    return bearerTokenOf(authorization);
  } catch {
    return '';
  }
}

/** Stores the authenticated caller for the rest of the request. */
export function setPrincipal(res: Pick<Response, 'locals'>, principal: Principal): void {
  res.locals[PRINCIPAL_LOCAL] = principal;
}

/** The authenticated caller, or undefined on a route without authentication. */
export function tryGetPrincipal(res: Pick<Response, 'locals'>): Principal | undefined {
  const value: unknown = res.locals[PRINCIPAL_LOCAL];
  return isPrincipal(value) ? value : undefined;
}

/** The authenticated caller; throws a 401 when the request was not authenticated. */
export function getPrincipal(res: Pick<Response, 'locals'>): Principal {
  const principal = tryGetPrincipal(res);
  if (!principal) {
    throw new OperationOutcomeError(unauthorized);
  }
  return principal;
}

function isPrincipal(value: unknown): value is Principal {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const v = value as Record<string, unknown>;
  return (
    typeof v.id === 'string' &&
    isRole(v.role) &&
    Array.isArray(v.practices) &&
    Array.isArray(v.municipalities) &&
    (v.via === 'api-key' || v.via === 'jwt')
  );
}

/** A credential the console's sign-in accepted: what it grants, and how long and as which key it holds. */
export interface VerifiedCredential {
  readonly principal: Principal;
  /** A JWT's `exp` (ms since the epoch): the session ends then, whatever the console's own timeouts. */
  readonly expiresAt?: number | undefined;
  /** An API key's `keyFingerprint`: the session ends when the key is re-issued under the same id. */
  readonly keyFingerprint?: string | undefined;
}

/**
 * Turns one credential (an API key `jb_…` or a JWT) into a principal, or throws a 401. The console's sign-in form
 * uses it too, so a browser session is granted exactly what the same credential gets from the API, for no longer
 * than the credential holds (a JWT's expiry; an API key as long as it is in the key file unchanged).
 */
export function createCredentialVerifier(
  options: AuthenticatorOptions,
): (credential: string) => Promise<VerifiedCredential> {
  const verify = credentialVerifier(options);
  return async (credential) => {
    const principal = await verify(credential);
    if (principal.via === 'api-key') {
      return { principal, keyFingerprint: keyFingerprint(hashApiKey(credential)) };
    }
    // Verified above, `exp` included (a required claim).
    const { exp } = decodeJwt(credential);
    return { principal, expiresAt: typeof exp === 'number' ? exp * 1000 : undefined };
  };
}

// An API key is checked synchronously (in memory); only a JWT may need the network (its issuer's keys), so only it
// costs a request a promise and a turn of the event loop.
function credentialVerifier(options: AuthenticatorOptions): (credential: string) => Principal | Promise<Principal> {
  const jwt = createJwtVerifier(options.issuers, { clockSkewSeconds: options.clockSkewSeconds });
  return (credential) =>
    credential.startsWith(API_KEY_PREFIX) ? options.apiKeys.verify(credential) : jwt.verify(credential);
}

/** Only a JWT is checked asynchronously: anything with a `then` is its answer still to come. */
function isPending(p: Principal | PromiseLike<Principal>): p is PromiseLike<Principal> {
  return typeof (p as Partial<PromiseLike<Principal>>).then === 'function';
}

/**
 * Middleware that authenticates every request: `Authorization: Bearer <jb_… API key | JWT>` or `X-API-Key`.
 * Sets the principal on success; on failure passes the OperationOutcomeError to `next` for the error handler.
 */
export function createAuthenticator(options: AuthenticatorOptions): RequestHandler {
  const verifyCredential = credentialVerifier(options);

  function authenticate(req: Request): Principal | Promise<Principal> {
    const authorization = req.get('authorization');
    const apiKey = req.get('x-api-key');
    // Two credentials could name two different callers; picking one silently would hide a client bug.
    if (authorization !== undefined && apiKey !== undefined) {
      throw new OperationOutcomeError(bothCredentials);
    }
    if (apiKey !== undefined) {
      if (!apiKey.startsWith(API_KEY_PREFIX)) {
        throw new OperationOutcomeError(invalidApiKey);
      }
      return options.apiKeys.verify(apiKey);
    }
    if (authorization === undefined) {
      throw new OperationOutcomeError(authenticationRequired);
    }
    return verifyCredential(bearerTokenOf(authorization));
  }

  function refuse(req: Request, res: Response, next: NextFunction, err: unknown): void {
    if (err instanceof OperationOutcomeError && getStatus(err.outcome) === 401) {
      // RFC 6750: a 401 tells the client which scheme to use, and whether the credential it sent was bad.
      const sent = req.get('authorization') !== undefined || req.get('x-api-key') !== undefined;
      res.set('WWW-Authenticate', `Bearer realm="jeugdbrug"${sent ? ', error="invalid_token"' : ''}`);
    }
    next(err);
  }

  return (req, res, next) => {
    let principal: Principal | Promise<Principal>;
    try {
      principal = authenticate(req);
    } catch (err) {
      refuse(req, res, next, err);
      return;
    }
    if (isPending(principal)) {
      principal.then(
        (p) => {
          setPrincipal(res, p);
          next();
        },
        (err: unknown) => refuse(req, res, next, err),
      );
      return;
    }
    setPrincipal(res, principal);
    next();
  };
}

/** Middleware that lets only principals with one of the roles through (403 otherwise, 401 if unauthenticated). */
export function requireRole(...roles: readonly Role[]): RequestHandler {
  return (_req, res, next) => {
    try {
      assertRole(getPrincipal(res), ...roles);
    } catch (err) {
      next(err);
      return;
    }
    next();
  };
}
