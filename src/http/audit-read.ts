import type { Request, Response } from 'express';
import { tryGetPrincipal } from '../access/authenticate';
import { ALL } from '../access/principal';
import { actorOf } from './request-context';
import type { PipelineContext } from '../event/context';
import { dataAccess, type AuditOutcome } from '../audit/audit-events';
import { SYSTEM_TENANT } from '../reports/audit-scope';

/** What a read of audit or consent data touched, for its own AuditEvent. */
export interface ReadAudit {
  /** The child whose data was read, when the request named one. */
  readonly patientBsn?: string | undefined;
  /** The request as received (path and query string); `req.originalUrl` is usually right. */
  readonly query: string;
  /** `search` (the default) for queries, `read` for one resource or one chain. */
  readonly interaction?: 'read' | 'search' | undefined;
  /** What was read: `AuditEvent/…`, `Consent/…`, `audit_chain/<tenant>`. */
  readonly target?: string | undefined;
  /** '0' (the default) when served, '4' when refused. */
  readonly outcome?: AuditOutcome | undefined;
  readonly outcomeDesc?: string | undefined;
  /**
   * The chains to record it in: those of the practices whose data was read, so each practice's log shows who
   * looked. Default: the caller's own practice, or the system chain for callers without one.
   */
  readonly tenants?: readonly string[] | undefined;
}

/**
 * Records a read (or a refused read) of audit or consent data as an AuditEvent, with the principal as agent and
 * the client address as access point, durable before it returns: call it before sending the answer, so nothing is
 * ever served without its trace.
 */
export async function auditRead(
  ctx: Pick<PipelineContext, 'audit'>,
  req: Request,
  res: Response,
  a: ReadAudit,
): Promise<void> {
  const actor = actorOf(req, res);
  const tenants = a.tenants && a.tenants.length > 0 ? [...new Set(a.tenants)] : defaultTenants(res);
  // One AuditEvent per chain: an AuditEvent id is unique across the whole log.
  await Promise.all(
    tenants.map((tenant) =>
      ctx.audit.append(
        tenant,
        dataAccess({
          actor,
          interaction: a.interaction ?? 'search',
          outcome: a.outcome ?? '0',
          outcomeDesc: a.outcomeDesc,
          query: a.query,
          patientBsn: a.patientBsn,
          target: a.target,
        }),
      ),
    ),
  );
}

function defaultTenants(res: Response): string[] {
  const p = tryGetPrincipal(res);
  const own = p?.role === 'practice' ? p.practices.filter((agb) => agb !== ALL).slice(0, 1) : [];
  return own.length > 0 ? own : [SYSTEM_TENANT];
}
