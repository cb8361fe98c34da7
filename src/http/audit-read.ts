import path from 'node:path';
import {
  integrityHistoryPage,
  recordChainIntegrity,
  wholeVerificationStart,
  type IntegrityHistoryCursor,
  type IntegrityHistoryPage,
} from '../audit/chain-integrity';
import { notFound, OperationOutcomeError } from '@medplum/core';
import { isUuid } from '../kernel/fhir/ids';
import { forbiddenField, notFoundField } from '../kernel/fhir/outcomes';
import type { AuditEventAgent } from '@medplum/fhirtypes';
import type { Request, Response } from 'express';
import { getPrincipal, tryGetPrincipal } from '../access/authenticate';
import { ALL } from '../access/principal';
import { actorOf } from './request-context';
import { publicKeysOf, verifySignedChain, type SignedTenantVerdict } from '../audit/signed-heads';
import type { PipelineContext } from '../event/context';
import type { EventRow, SealedEvent } from '../event/event-store';
import { tryGetPatientBsn } from '../event/stored-event';
import { dataAccess, type AuditOutcome } from '../audit/audit-events';
import { canExportChain, canReadChain, SYSTEM_TENANT } from '../reports/audit-scope';
import { tryGetAuditRow, type AuditRow } from '../reports/audit-search/search';
import { listChainTenants, tryGetChainHead } from '../audit/verify';

/** Why a read was refused (outcome 4) when the caller may not see what it asked for: its outcome description. */
export const NOT_IN_SCOPE = 'not within the caller’s scope';

/** `res.locals` key set when a route has recorded its own refusal (outcome 4) before answering 403. */
export const REFUSAL_AUDITED = 'refusalAudited';

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
  /** What else the read touched (`inbox/<event id>` of a Task's referral). */
  readonly related?: readonly string[] | undefined;
  /** '0' (the default) when served, '4' when refused. */
  readonly outcome?: AuditOutcome | undefined;
  readonly outcomeDesc?: string | undefined;
  /**
   * The chains to record it in: those of the practices whose data was read, so each practice's log shows who
   * looked. Default: the caller's own practice, or the system chain for callers without one.
   */
  readonly tenants?: readonly string[] | undefined;
  /** Organisations the read concerns besides the caller's own (see `dataAccess`). */
  readonly extraAgents?: readonly AuditEventAgent[] | undefined;
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
          related: a.related,
          extraAgents: a.extraAgents,
        }),
      ),
    ),
  );
}

/** A row of a listed page that belongs to a practice (null: to none, as a pushed monitoring report), by reference. */
export interface ListedRow {
  readonly practice: string | null;
  /** `inbox/<id>` of the event the row is about, `trajectory_event/<id>`. */
  readonly ref: string;
}

/** A listed row about a practice's event (the event, a dead letter, a status update on its referral). */
export const inboxListed = (practice: string | null, inboxId: string): ListedRow => ({
  practice,
  ref: `inbox/${inboxId}`,
});

/** A listed trajectory event a municipality sent a practice, as a `ListedRow`. */
export const trajectoryEventListed = (r: { readonly practice: string; readonly id: string }): ListedRow => ({
  practice: r.practice,
  ref: `trajectory_event/${r.id}`,
});

/**
 * Records a page of a list (events, dead letters, status updates and trajectory events to practices) as a search of
 * `target`, as `GET /his/v1/events` is recorded: in the chain of each practice whose rows were listed, naming those
 * rows, so its auditor sees who looked at them; rows of no practice in the system chain; an empty page in the
 * caller's own chain (the system chain for a caller without one).
 */
export async function auditListRead(
  ctx: Pick<PipelineContext, 'audit'>,
  req: Request,
  res: Response,
  target: string,
  rows: readonly ListedRow[],
): Promise<void> {
  const byTenant = new Map<string, string[]>();
  for (const r of rows) {
    const tenant = r.practice ?? SYSTEM_TENANT;
    const refs = byTenant.get(tenant);
    if (refs) {
      refs.push(r.ref);
    } else {
      byTenant.set(tenant, [r.ref]);
    }
  }
  if (byTenant.size === 0) {
    await auditRead(ctx, req, res, { query: req.originalUrl, target });
    return;
  }
  // Each practice's row names its own rows only: another practice's ids are none of its auditor's business.
  await Promise.all(
    [...byTenant].map(([tenant, related]) =>
      auditRead(ctx, req, res, { query: req.originalUrl, target, tenants: [tenant], related: [...new Set(related)] }),
    ),
  );
}

/** A page of practices' events, recorded by `auditListRead` as a search of `inbox` naming each event. */
export function auditEventListRead(
  ctx: Pick<PipelineContext, 'audit'>,
  req: Request,
  res: Response,
  events: readonly { readonly practice: string; readonly id: string }[],
): Promise<void> {
  return auditListRead(
    ctx,
    req,
    res,
    'inbox',
    events.map((e) => inboxListed(e.practice, e.id)),
  );
}

/** A page of rows about practices' events (dead letters, status updates), by `auditListRead` naming each event. */
export function auditEventRowsRead(
  ctx: Pick<PipelineContext, 'audit'>,
  req: Request,
  res: Response,
  target: 'delivery' | 'feedback',
  rows: readonly { readonly practice: string | null; readonly inboxId: string }[],
): Promise<void> {
  return auditListRead(
    ctx,
    req,
    res,
    target,
    rows.map((r) => inboxListed(r.practice, r.inboxId)),
  );
}

function defaultTenants(res: Response): string[] {
  const p = tryGetPrincipal(res);
  const own = p?.role === 'practice' ? p.practices.filter((agb) => agb !== ALL).slice(0, 1) : [];
  return own.length > 0 ? own : [SYSTEM_TENANT];
}

/**
 * Refuses access to a chain: recorded in that chain (its practice sees the attempt), then 403. For `export`, a practice
 * is refused its own chain too (`canExportChain`).
 */
export async function assertChainAccess(
  ctx: Pick<PipelineContext, 'audit'>,
  req: Request,
  res: Response,
  tenant: string,
  to: 'verify' | 'export' = 'verify',
): Promise<void> {
  const principal = getPrincipal(res);
  if (!(to === 'export' ? canExportChain : canReadChain)(principal, tenant)) {
    await auditRead(ctx, req, res, {
      query: req.originalUrl,
      interaction: 'read',
      target: `audit_chain/${tenant}`,
      outcome: '4',
      outcomeDesc: NOT_IN_SCOPE,
      tenants: [tenant],
    });
    // Tells the error handler's generic refusal audit that this refusal is on record already.
    res.locals[REFUSAL_AUDITED] = true;
    throw new OperationOutcomeError(
      forbiddenField(
        principal.role === 'practice' && canReadChain(principal, tenant)
          ? 'A practice verifies its own chain; exporting its rows is for its auditor'
          : 'This chain is not within the caller’s scope',
        'tenant',
      ),
    );
  }
}

/** One AuditEvent by id, its read recorded (a refused one too); out of scope looks like absent (404). */
export async function readAuditEvent(
  ctx: Pick<PipelineContext, 'audit' | 'db'>,
  req: Request,
  res: Response,
  id: string,
): Promise<AuditRow> {
  const found = isUuid(id) ? await tryGetAuditRow(ctx.db, id, getPrincipal(res)) : undefined;
  if (!found) {
    throw new OperationOutcomeError(notFound);
  }
  const { row, inScope } = found;
  await auditRead(ctx, req, res, {
    query: req.originalUrl,
    interaction: 'read',
    target: `AuditEvent/${id}`,
    patientBsn: row.patient_bsn ?? undefined,
    tenants: [row.tenant],
    ...(inScope ? {} : { outcome: '4' as const, outcomeDesc: NOT_IN_SCOPE }),
  });
  if (!inScope) {
    // A caller must not learn which ids exist in other practices' logs.
    throw new OperationOutcomeError(notFound);
  }
  return row;
}

/**
 * Records a read of one event's data (its timeline, its referral's statuses and the municipality's decision) in its
 * practice's chain, with the child's BSN while the event still holds it: a search by the child, and the child's
 * overview, then show who looked, as NEN 7513 asks of every access to a client's data. The event is opened for the
 * BSN only, which no answer of these routes carries. With `refused` (why), it records a refused read (outcome 4).
 */
export async function auditEventRead(
  ctx: Pick<PipelineContext, 'audit' | 'cipher' | 'log'>,
  req: Request,
  res: Response,
  row: EventRow & SealedEvent,
  extraAgents?: AuditEventAgent[],
  refused?: string,
): Promise<void> {
  const patientBsn = tryGetPatientBsn(ctx, row);
  await auditRead(ctx, req, res, {
    query: req.originalUrl,
    interaction: 'read',
    target: `inbox/${row.id}`,
    patientBsn,
    tenants: [row.tenant],
    extraAgents,
    ...(refused === undefined ? {} : { outcome: '4' as const, outcomeDesc: refused }),
  });
}

/**
 * Records refused reads (outcome 4, `why`) of events another party holds, each in its practice's chain as
 * `auditEventRead` records it: the rule of every route that names an event or referral of someone else, answered as if
 * it did not exist (404) or refused by role (403). The practice's auditor sees the attempt where the event's allowed
 * reads are; a municipality's own search never shows a refusal (Security Alert), so it learns nothing of the event.
 * The caller records its own side of the refusal (`asksForMunicipality`).
 */
async function auditRefusedReadsInOwnersChains(
  ctx: Pick<PipelineContext, 'audit' | 'cipher' | 'log'>,
  req: Request,
  res: Response,
  rows: readonly (EventRow & SealedEvent)[],
  why: string = NOT_IN_SCOPE,
): Promise<void> {
  await Promise.all(rows.map((row) => auditEventRead(ctx, req, res, row, undefined, why)));
}

/**
 * Whether the caller acts for a municipality: the rows of its refused reads in other practices' chains name the
 * municipality, yet its privacy officer does not see them (`scopeCondition`), as they name the other child and event.
 * Its side of the refusal is a row of its own, naming who asked and the request as received, nothing it did not give.
 */
function asksForMunicipality(res: Response): boolean {
  return tryGetPrincipal(res)?.role === 'municipality';
}

/**
 * Records refused reads of the events in `rows` in their owners' chains (`auditRefusedReadsInOwnersChains`) and the
 * caller's own row (`ownRow`) when nothing was refused, or when the caller is a municipality, whose auditor does not
 * see the owners' rows (they name the other child and event). `ownRow` is called only then, and both are started
 * together: a throw while building the own row leaves nothing running unawaited.
 */
export async function auditRefusedReadsAndOwnRow(
  ctx: Pick<PipelineContext, 'audit' | 'cipher' | 'log'>,
  req: Request,
  res: Response,
  rows: readonly (EventRow & SealedEvent)[],
  why: string,
  ownRow: () => Promise<void>,
): Promise<void> {
  const own = rows.length === 0 || asksForMunicipality(res);
  await Promise.all([auditRefusedReadsInOwnersChains(ctx, req, res, rows, why), ...(own ? [ownRow()] : [])]);
}

/**
 * Records refused reads of events another party holds in their practices' chains (`auditRefusedReadsInOwnersChains`)
 * and, for a municipality, its own side in the system chain: a refused read naming who asked, the request and what
 * it `asked` for as it gave it (`referral/<identifier>`, which may come in a body), but not the event or the child.
 * Call it for an unknown identifier too (`rows` empty): the municipality's side is then the same row, written the
 * same way, so its auditor's view does not tell an identifier held elsewhere from one that does not exist.
 */
export async function auditRefusedReads(
  ctx: Pick<PipelineContext, 'audit' | 'cipher' | 'log'>,
  req: Request,
  res: Response,
  rows: readonly (EventRow & SealedEvent)[],
  why: string = NOT_IN_SCOPE,
  asked?: string,
): Promise<void> {
  await Promise.all([
    auditRefusedReadsInOwnersChains(ctx, req, res, rows, why),
    ...(asksForMunicipality(res)
      ? [
          auditRead(ctx, req, res, {
            query: req.originalUrl,
            interaction: 'read',
            target: asked,
            outcome: '4',
            outcomeDesc: why,
            tenants: [SYSTEM_TENANT],
          }),
        ]
      : []),
  ]);
}

/** Verifies chains (the caller may read them; check first) and records the read, before the verdicts are shown. */
export async function verifyChains(
  ctx: Pick<PipelineContext, 'audit' | 'config' | 'db' | 'metrics' | 'signedHeads'>,
  req: Request,
  res: Response,
  tenants: readonly string[],
): Promise<SignedTenantVerdict[]> {
  const verdicts: SignedTenantVerdict[] = [];
  const { keys, signer } = ctx.signedHeads;
  for (const tenant of tenants) {
    const whole = await wholeVerificationStart(ctx.db);
    // The chain must also agree with every signed checkpoint kept outside the database.
    const verdict = await verifySignedChain(ctx.db, tenant, publicKeysOf(keys), signer.file, {
      retentionDays: ctx.config.AUDIT_RETENTION_DAYS,
    });
    ctx.metrics.recordAuditVerify(tenant, verdict.ok);
    // Known to every process: the signer signs no head of a chain found broken, the console's pages say so.
    // A change of verdict is written to the system chain too (a Security Alert), and kept in the history.
    await recordChainIntegrity(ctx.db, tenant, verdict, 'verify', { whole, audit: ctx.audit });
    // The file's name alone: its path would tell every caller allowed to verify how the host is laid out.
    const cp = verdict.signedCheckpoint;
    verdicts.push(cp ? { ...verdict, signedCheckpoint: { ...cp, where: path.basename(cp.where) } } : verdict);
  }
  await auditRead(ctx, req, res, {
    query: req.originalUrl,
    interaction: 'read',
    target: tenants.length === 1 ? `audit_chain/${tenants[0]}` : 'audit_chain',
    tenants,
  });
  return verdicts;
}

/**
 * A page of the integrity history of `chains` (the changes of their verdicts, newest first), its read recorded before
 * it is shown, as a verification's is: a search of `audit_chain_integrity_history` (of one chain: `…/<tenant>`) in the
 * chain `asked` for, else in each chain whose changes the page shows (none: the caller's own, or the system chain).
 * `query`: the request as the API receives it (the console's page records the API's request for the same page).
 */
export async function readIntegrityHistory(
  ctx: Pick<PipelineContext, 'audit' | 'db'>,
  req: Request,
  res: Response,
  read: {
    readonly chains: readonly string[];
    readonly asked: string | undefined;
    readonly size: number;
    readonly cursor: IntegrityHistoryCursor | undefined;
    readonly query: string;
  },
): Promise<IntegrityHistoryPage> {
  const page = await integrityHistoryPage(ctx.db, read.chains, read.size, read.cursor);
  await auditRead(ctx, req, res, {
    query: read.query,
    interaction: 'search',
    target: `audit_chain_integrity_history${read.asked === undefined ? '' : `/${read.asked}`}`,
    tenants: read.asked === undefined ? page.changes.map((c) => c.tenant) : [read.asked],
  });
  return page;
}

/**
 * The chains a verification covers: the one asked for (403 when out of scope, recorded; 404 when it has no rows), or
 * every chain within the caller's scope. A municipality reads no chain of its own: asking for all is refused.
 */
export async function chainsToVerify(
  ctx: Pick<PipelineContext, 'audit' | 'db'>,
  req: Request,
  res: Response,
  tenant: string | undefined,
): Promise<string[]> {
  if (tenant !== undefined) {
    await assertChainAccess(ctx, req, res, tenant);
    if (!(await tryGetChainHead(ctx.db, tenant))) {
      throw new OperationOutcomeError(notFoundField(`No audit chain ${tenant}: it has no rows`, 'tenant'));
    }
    return [tenant];
  }
  const principal = getPrincipal(res);
  const tenants = (await listChainTenants(ctx.db)).filter((t) => canReadChain(principal, t));
  if (principal.role === 'municipality') {
    await assertChainAccess(ctx, req, res, SYSTEM_TENANT);
  }
  return tenants;
}
