import { getStatus, OperationOutcomeError } from '@medplum/core';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { Request, RequestHandler, Response } from 'express';
import type { AuthFailureThrottle } from '../access/auth-failure-throttle';
import { API_KEY_PREFIX, tryParseClaimedKeyId } from '../access/api-keys';
import { credentialSent } from '../access/authenticate';
import { authenticationFailed } from '../audit/audit-events';
import type { PipelineContext } from '../event/context';
import { authFailuresThrottled } from '../kernel/fhir/outcomes';
import { errorFields } from '../kernel/logger';
import { SYSTEM_TENANT } from '../reports/audit-scope';
import { actorOf } from './request-context';

/** The label of `jeugdbrug_auth_failures_total`: a handful of values, never anything the client sent. */
export type AuthFailureReason = 'missing' | 'malformed' | 'api-key' | 'jwt' | 'jwt-expired';

/**
 * Failed authentication, on the API and at the console's sign-in (NEN 7513, OWASP ASVS 2.2.1): each refused
 * credential is counted by reason, recorded in the system chain as a failed User Authentication (DICOM 110114,
 * outcome 4, the client address as access point), and counted per client address; past AUTH_FAILURE_LIMIT in
 * AUTH_FAILURE_WINDOW_S the address is answered 429 with Retry-After, before any credential of it is checked, until
 * the window ends. A request without any credential is counted (`missing`) but neither recorded nor throttled: it
 * tries nothing. A successful authentication costs nothing here beyond a look in this process's memory.
 */
export class AuthFailures {
  constructor(
    private readonly ctx: Pick<PipelineContext, 'audit' | 'log' | 'metrics'>,
    private readonly throttle: AuthFailureThrottle,
    /** Whether an API key id is on file (`ApiKeyStore.has`): a refused key naming one is recorded under it. */
    private readonly knownKeyId: (id: string) => boolean = () => false,
  ) {}

  /** The authenticator `authenticate`, with failures recorded and throttled. */
  guard(authenticate: RequestHandler): RequestHandler {
    return (req, res, next) => {
      try {
        this.assertNotThrottled(req, res);
      } catch (err) {
        next(err);
        return;
      }
      void authenticate(req, res, (err?: unknown) => {
        const outcome = refusedCredential(err);
        if (!outcome) {
          next(err);
          return;
        }
        this.failed(req, res, credentialSent(req), outcome).then(
          (throttled) => next(throttled ?? err),
          (e: unknown) => next(e),
        );
      });
    };
  }

  /** Throws the 429 (Retry-After set) while the request's client address is throttled. */
  assertNotThrottled(req: Request, res: Response): void {
    const wait = this.throttle.throttledFor(addressOf(req));
    if (wait !== undefined) {
      res.setHeader('Retry-After', String(wait));
      throw new OperationOutcomeError(authFailuresThrottled(wait));
    }
  }

  /**
   * Records a refused credential (`undefined`: none was sent): the metric, and unless none was sent, the audit row
   * and the address's count. Returns the 429 to answer instead of the 401 once the address is over the limit.
   */
  async failed(
    req: Request,
    res: Response,
    credential: string | undefined,
    outcome: OperationOutcome,
  ): Promise<OperationOutcomeError | undefined> {
    const reason = reasonOf(credential, outcome);
    this.ctx.metrics.authFailures.inc({ reason });
    if (reason === 'missing') {
      return undefined;
    }
    const address = addressOf(req);
    const { count, retryAfterSeconds } = await this.throttle.countFailure(address);
    // The failures up to the limit and the one that crosses it are recorded; those after it, sent to a process that
    // did not know of the throttling yet, only counted: a flood of bad keys must not become a flood of audit rows.
    if (count <= this.throttle.limit + 1) {
      const refused = outcome.issue?.map((i) => i.details?.text).findLast((t) => t !== undefined) ?? 'Unauthorized';
      // A key whose id is on file but whose secret is wrong (or which was revoked) was aimed at that key: recorded
      // under its principal id, unverified (outcome 4, no role), so that guessing at a real key stands out from
      // noise. Key ids are no secret (every AuditEvent of the key names it); the rest of the key is never recorded.
      const claimed = reason === 'api-key' && credential ? tryParseClaimedKeyId(credential) : undefined;
      const aimedAt = claimed !== undefined && this.knownKeyId(claimed) ? claimed : undefined;
      const actor = actorOf(req, res);
      const text = aimedAt ? `${refused}: key id ${aimedAt} is on file, the key sent is not it` : refused;
      const event = authenticationFailed({
        actor: aimedAt ? { ...actor, userId: `api-key:${aimedAt}`, role: undefined } : actor,
        reason: retryAfterSeconds === undefined ? text : `${text}; address throttled for ${retryAfterSeconds} s`,
        route: `${req.method} ${req.baseUrl}${req.path}`.slice(0, 300),
      });
      await this.ctx.audit
        .append(SYSTEM_TENANT, event)
        .catch((e: unknown) => this.ctx.log.error(errorFields(e), 'could not audit a failed authentication'));
    }
    if (retryAfterSeconds === undefined) {
      return undefined;
    }
    res.setHeader('Retry-After', String(retryAfterSeconds));
    return new OperationOutcomeError(authFailuresThrottled(retryAfterSeconds));
  }
}

/** The outcome of a refused credential (401), or undefined for anything else (a 503 of an issuer away, success). */
function refusedCredential(err: unknown): OperationOutcome | undefined {
  return err instanceof OperationOutcomeError && getStatus(err.outcome) === 401 ? err.outcome : undefined;
}

/** The client address the limit counts by: as Express gives it (`trust proxy` decides whose X-Forwarded-For). */
function addressOf(req: Request): string {
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

/** Why a credential was refused, in the metric's few words. */
function reasonOf(credential: string | undefined, outcome: OperationOutcome): AuthFailureReason {
  if (credential === undefined) {
    return 'missing';
  }
  if (credential === '') {
    return 'malformed';
  }
  if (credential.startsWith(API_KEY_PREFIX)) {
    return 'api-key';
  }
  return outcome.issue?.some((i) => i.code === 'expired') ? 'jwt-expired' : 'jwt';
}
