import { OperationOutcomeError, unauthorizedTokenAudience, unauthorizedTokenExpired } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import { z } from 'zod';
import { tryReadJsonFile } from '../kernel/json-file';
import { ConfigError } from '../kernel/config';
import { serviceUnavailable } from '../kernel/fhir/outcomes';
import { unauthorizedBecause, unauthorizedTokenNotYetValid } from './auth-outcomes';
import {
  createPrincipal,
  isRole,
  municipalityScopeSchema,
  practiceScopeSchema,
  ROLES,
  scopeProblem,
  type Principal,
} from './principal';

/** Default allowed clock difference between the issuer and us, in seconds. */
const DEFAULT_CLOCK_SKEW_SECONDS = 60;
/** Upper bound on the configurable skew: beyond this an expired token would live on noticeably. */
const MAX_CLOCK_SKEW_SECONDS = 300;

/**
 * Asymmetric algorithms only. HMAC (HS*) would need a shared secret per issuer, and `none` is never acceptable;
 * SMART Backend Services asks for RS384 and ES384, the others are common in client-credentials set-ups.
 */
const DEFAULT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** One trusted token issuer, as configured in issuers.json. */
export const issuerConfigSchema = z.strictObject({
  /** Must equal the token's `iss` exactly. */
  issuer: z.string().min(1),
  /** Where the issuer publishes its public keys. https, except on the loopback interface (tests, sidecars). */
  jwksUri: z.url({ protocol: /^https?$/ }).refine((u) => {
    // zod runs this check even after the URL check failed, so an unparsable value must not throw here.
    const url = URL.canParse(u) ? new URL(u) : undefined;
    return url === undefined || url.protocol === 'https:' || LOOPBACK_HOSTS.has(url.hostname);
  }, 'https is required except on localhost'),
  /** The `aud` the token must carry (one of, when a list). */
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  roleClaim: z.string().min(1).default('jeugdbrug_role'),
  practicesClaim: z.string().min(1).default('jeugdbrug_practices'),
  municipalitiesClaim: z.string().min(1).default('jeugdbrug_municipalities'),
  /** Roles this issuer may grant; an issuer run by municipalities, say, should not mint operator tokens. */
  allowedRoles: z
    .array(z.enum(ROLES))
    .min(1)
    .default([...ROLES]),
  algorithms: z
    .array(z.enum(DEFAULT_ALGORITHMS))
    .min(1)
    .default([...DEFAULT_ALGORITHMS]),
  /**
   * The longest a token may still be valid when it is presented (`exp` at most this many seconds ahead, plus the
   * clock skew); unset, any. Bounds what a stolen long-lived token is worth.
   */
  maxLifetimeS: z.number().int().min(60).optional(),
  /**
   * The `typ` header a token must carry (RFC 9068 access tokens: `at+jwt`, with or without `application/`, in any
   * case); unset, any or none. Explicit typing (RFC 8725 3.11) keeps the issuer's other JWTs, its ID tokens above all,
   * from being taken for access tokens; many issuers send `JWT` on everything, so it is not asked by default. Only a
   * `+jwt` type says what a token is for: `JWT` itself says nothing and is refused here.
   */
  requiredTyp: z
    .string()
    .regex(/^(application\/)?[a-z0-9.-]+\+jwt$/i, 'an explicit JWT type such as at+jwt (RFC 9068)')
    .optional(),
});

/** A trusted issuer with defaults applied. */
export type IssuerConfig = z.output<typeof issuerConfigSchema>;
/** A trusted issuer as written in issuers.json. */
export type IssuerConfigInput = z.input<typeof issuerConfigSchema>;

/** Validates the parsed content of issuers.json; throws a ConfigError naming the file, the entry and the field. */
export function parseIssuersFile(value: unknown, where: string): IssuerConfig[] {
  if (!Array.isArray(value)) {
    throw new ConfigError(`${where}: expected an array of issuers`);
  }
  const issuers = value.map((item: unknown, i) => {
    const parsed = issuerConfigSchema.safeParse(item);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path.map(String).join('.');
      throw new ConfigError(`${where}: issuer ${i}: ${field ? `${field}: ` : ''}${issue?.message ?? 'invalid'}`);
    }
    return parsed.data;
  });
  const seen = new Set<string>();
  issuers.forEach((iss, i) => {
    if (seen.has(iss.issuer)) {
      throw new ConfigError(`${where}: issuer ${i}: issuer: ${JSON.stringify(iss.issuer)} appears twice`);
    }
    seen.add(iss.issuer);
  });
  return issuers;
}

/** Reads and validates issuers.json; a missing file means no trusted issuers (every JWT is then refused). */
export function readIssuersFile(file: string): IssuerConfig[] {
  const json = tryReadJsonFile(file);
  return json === undefined ? [] : parseIssuersFile(json, file);
}

/**
 * What an issuers file allows but probably does not mean (among `reviewConfiguration`'s warnings, which
 * `config:check` prints and start-up logs): an issuer without `allowedRoles` may grant every role, operator and
 * auditor with `'*'` included, so an IdP realm shared with HIS vendors is one mis-mapped claim from a deployment-wide
 * operator; one without `maxLifetimeS` takes a token valid for years. None for a file that is absent or invalid (that
 * is a problem, reported as such).
 */
export function issuerWarnings(file: string | undefined): string[] {
  if (file === undefined) {
    return [];
  }
  let raw: unknown;
  try {
    raw = tryReadJsonFile(file);
    parseIssuersFile(raw, file);
  } catch {
    return [];
  }
  const warnings: string[] = [];
  (Array.isArray(raw) ? (raw as Record<string, unknown>[]) : []).forEach((entry, i) => {
    const which = `${file}: issuer ${i} (${String(entry.issuer)})`;
    if (entry.allowedRoles === undefined) {
      warnings.push(`${which}: no allowedRoles, so it may grant every role, operator and auditor included`);
    }
    if (entry.maxLifetimeS === undefined) {
      warnings.push(`${which}: no maxLifetimeS, so a token valid for years is taken`);
    }
  });
  return warnings;
}

/** Options of the JWT verifier. */
export interface JwtVerifierOptions {
  /** Allowed clock difference in seconds for `exp` and `nbf`; 0 to MAX_CLOCK_SKEW_SECONDS, default 60. */
  readonly clockSkewSeconds?: number;
  /** Give up fetching a key set after this long, in milliseconds (default 5000). */
  readonly jwksTimeoutMs?: number;
}

/** Verifies bearer JWTs from the configured issuers. */
export interface JwtVerifier {
  /** The principal for a token; rejects with a 401 OperationOutcomeError (503 when a key set cannot be fetched). */
  verify(token: string): Promise<Principal>;
}

const malformed = unauthorizedBecause('Token is malformed');
const untrustedIssuer = unauthorizedBecause('Token issuer is not trusted');
const badSignature = unauthorizedBecause('Token signature is invalid');
/** A role claim that names no role this issuer may grant: the claim and the roles it may hold. */
const badRole = (cfg: IssuerConfig) =>
  unauthorizedBecause(`Token's ${cfg.roleClaim} claim must be one of ${cfg.allowedRoles.join(', ')}`);
/** A scope claim of the wrong shape: the claim and the shape it must have. */
const badScope = (claim: string, codes: string) =>
  unauthorizedBecause(
    `Token's ${claim} claim must be an array of ${codes} (or '*'), or one string of them separated by spaces`,
  );
// Claim names come from our `requiredClaims` or jose's own checks of registered claims, never from the token.
const missingClaim = (claim: string) => unauthorizedBecause(`Token has no ${claim} claim`);
const invalidClaim = (claim: string) => unauthorizedBecause(`Token's ${claim} claim has the wrong type`);
const notAccessToken = (typ: string) =>
  unauthorizedBecause(`Token's typ header is not ${typ}: an access token of this issuer (RFC 9068) is required`);
const tooLongLived = (maxS: number) =>
  unauthorizedBecause(`Token's exp claim lies further ahead than this issuer allows (${maxS} s)`);
const keySetUnavailable = serviceUnavailable('Cannot verify the token now: the issuer key set is unavailable');

/** A verifier over trusted issuers; each issuer's key set is fetched on first use and cached by jose. */
export function createJwtVerifier(issuers: readonly IssuerConfig[], options: JwtVerifierOptions = {}): JwtVerifier {
  const skew = options.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
  if (!Number.isFinite(skew) || skew < 0 || skew > MAX_CLOCK_SKEW_SECONDS) {
    throw new ConfigError(`clockSkewSeconds must be between 0 and ${MAX_CLOCK_SKEW_SECONDS}, got ${skew}`);
  }
  const byIssuer = new Map(
    parseIssuersFile(issuers, 'issuers').map((cfg) => [
      cfg.issuer,
      {
        cfg,
        keys: createRemoteJWKSet(new URL(cfg.jwksUri), { timeoutDuration: options.jwksTimeoutMs ?? 5000 }),
      },
    ]),
  );

  return {
    async verify(token: string): Promise<Principal> {
      let claimedIssuer: string | undefined;
      try {
        claimedIssuer = decodeJwt(token).iss;
      } catch {
        throw new OperationOutcomeError(malformed);
      }
      // Only used to pick the key set; jwtVerify checks `iss` again against the signed payload.
      const trusted = claimedIssuer === undefined ? undefined : byIssuer.get(claimedIssuer);
      if (!trusted) {
        throw new OperationOutcomeError(untrustedIssuer);
      }
      const { cfg, keys } = trusted;
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keys, {
          issuer: cfg.issuer,
          audience: cfg.audience,
          algorithms: cfg.algorithms,
          clockTolerance: skew,
          requiredClaims: ['exp', 'sub'],
          // jose compares it as RFC 7515 says: case-insensitively, `application/` optional.
          ...(cfg.requiredTyp === undefined ? {} : { typ: cfg.requiredTyp }),
        }));
      } catch (err) {
        const typRefused = err instanceof errors.JWTClaimValidationFailed && err.claim === 'typ';
        throw new OperationOutcomeError(
          typRefused && cfg.requiredTyp !== undefined ? notAccessToken(cfg.requiredTyp) : outcomeOfJoseError(err),
          err,
        );
      }
      if (cfg.maxLifetimeS !== undefined && (payload.exp ?? 0) > Date.now() / 1000 + cfg.maxLifetimeS + skew) {
        throw new OperationOutcomeError(tooLongLived(cfg.maxLifetimeS));
      }
      return principalOf(payload, cfg);
    },
  };
}

/** @medplum/core's 401s name no field; ours name `Authorization`, as the README promises of every 401. */
const tokenExpired = namingAuthorization(unauthorizedTokenExpired);
const tokenAudience = namingAuthorization(unauthorizedTokenAudience);

function namingAuthorization(outcome: OperationOutcome): OperationOutcome {
  return { ...outcome, issue: (outcome.issue ?? []).map((i) => ({ ...i, expression: ['Authorization'] })) };
}

function outcomeOfJoseError(err: unknown): OperationOutcome {
  if (err instanceof errors.JWTExpired) {
    return tokenExpired;
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') {
      return missingClaim(err.claim);
    }
    switch (err.claim) {
      case 'aud':
        return tokenAudience;
      case 'nbf':
        return unauthorizedTokenNotYetValid;
      case 'exp':
        return tokenExpired;
      default:
        // iss cannot differ (the issuer was looked up by it); anything else is a claim of the wrong type.
        return invalidClaim(err.claim);
    }
  }
  if (
    err instanceof errors.JWSSignatureVerificationFailed ||
    err instanceof errors.JWKSNoMatchingKey ||
    err instanceof errors.JWKSMultipleMatchingKeys ||
    err instanceof errors.JOSEAlgNotAllowed
  ) {
    return badSignature;
  }
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || !(err instanceof errors.JOSEError)) {
    // Not the caller's fault (issuer down, network): a 401 would wrongly tell them to get a new token.
    return keySetUnavailable;
  }
  return malformed;
}

/**
 * A scope claim as a list. An identity provider's admin often cannot make a claim an array, and OAuth's own `scope`
 * is one string of values separated by spaces: such a string is taken as the list it spells.
 */
function asList(claim: unknown): unknown {
  return typeof claim === 'string' ? claim.split(/\s+/).filter((v) => v !== '') : claim;
}

function principalOf(payload: JWTPayload, cfg: IssuerConfig): Principal {
  // jose checks that `sub` is present, not that it is a string.
  const sub: unknown = payload.sub;
  if (typeof sub !== 'string') {
    throw new OperationOutcomeError(invalidClaim('sub'));
  }
  if (sub === '') {
    throw new OperationOutcomeError(missingClaim('sub'));
  }
  const role: unknown = payload[cfg.roleClaim];
  if (!isRole(role) || !cfg.allowedRoles.includes(role)) {
    throw new OperationOutcomeError(badRole(cfg));
  }
  const practices = practiceScopeSchema.optional().safeParse(asList(payload[cfg.practicesClaim]));
  if (!practices.success) {
    throw new OperationOutcomeError(badScope(cfg.practicesClaim, 'AGB codes of 8 digits'));
  }
  const municipalities = municipalityScopeSchema.optional().safeParse(asList(payload[cfg.municipalitiesClaim]));
  if (!municipalities.success) {
    throw new OperationOutcomeError(badScope(cfg.municipalitiesClaim, 'CBS municipality codes such as GM0226'));
  }
  const p = practices.data ?? [];
  const m = municipalities.data ?? [];
  const problem = scopeProblem(role, p, m);
  if (problem) {
    const claim = problem.field === 'practices' ? cfg.practicesClaim : cfg.municipalitiesClaim;
    throw new OperationOutcomeError(unauthorizedBecause(`Token's ${claim} claim: ${problem.message}`));
  }
  // Only the subject (a client id under client credentials) and scope are kept: no names, emails or other claims.
  return createPrincipal({ id: `jwt:${cfg.issuer}#${sub}`, role, practices: p, municipalities: m, via: 'jwt' });
}
