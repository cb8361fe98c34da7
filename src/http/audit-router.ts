import { badRequest, forbidden, notFound, OperationOutcomeError } from '@medplum/core';
import { Router, type Request, type Response } from 'express';
import { auditRead } from './audit-read';
import {
  csvHeader,
  csvRow,
  csvTrailer,
  exportMeta,
  exportRows,
  ndjsonHeader,
  ndjsonRow,
  type ExportMeta,
} from '../reports/audit-export/export';
import { childOverview } from '../reports/child-overview/overview';
import { canReadChain, SYSTEM_TENANT } from '../reports/audit-scope';
import { searchAuditEvents, servedResource, toSearchBundle, tryGetAuditRow } from '../reports/audit-search/search';
import { parseAuditSearch } from '../reports/audit-search/search-params';
import { listChainTenants, tryGetChainHead, verifyTenant } from '../audit/verify';
import { BSN_SYSTEM, isValidBsn } from '../kernel/fhir/identifiers';
import { failField } from '../kernel/fhir/outcomes';
import type { PipelineContext } from '../event/context';
import { getPrincipal } from '../access/authenticate';
import { errorFields } from '../kernel/logger';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TENANT = /^\d{8}$/;
const FHIR_JSON = 'application/fhir+json';
/** `res.locals` key set when a route has recorded its own refusal (outcome 4) before answering 403. */
export const REFUSAL_AUDITED = 'refusalAudited';

/** The request as the client addressed it (behind a trusted proxy, its forwarded scheme and host). */
function requestUrl(req: Request): URL {
  return new URL(req.originalUrl, `${req.protocol}://${req.get('host') ?? 'localhost'}`);
}

/** Only the named parameters, each at most once; anything else is a 400 naming it. */
function queryOf(req: Request, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of requestUrl(req).searchParams) {
    if (!allowed.includes(name)) {
      throw new OperationOutcomeError(badRequest(`Unknown parameter '${name}'; known: ${allowed.join(', ')}`, name));
    }
    if (out.has(name)) {
      throw new OperationOutcomeError(badRequest(`${name} may be given once`, name));
    }
    out.set(name, value);
  }
  return out;
}

function tenantParam(value: string | undefined): string {
  if (value === undefined || (!TENANT.test(value) && value !== SYSTEM_TENANT)) {
    throw new OperationOutcomeError(
      badRequest('tenant: the AGB code (8 digits) of the practice whose chain to read', 'tenant'),
    );
  }
  return value;
}

/** A BSN from `<bsn>` or `<system>|<bsn>`: 400 when malformed, 422 when it fails the 11-proef. */
function bsnParam(value: string | undefined, name: string): string {
  const bar = value?.indexOf('|') ?? -1;
  const system = bar >= 0 ? value?.slice(0, bar) : undefined;
  const bsn = bar >= 0 ? value?.slice(bar + 1) : value;
  if (bsn === undefined || !/^\d{9}$/.test(bsn) || (system !== undefined && system !== '' && system !== BSN_SYSTEM)) {
    throw new OperationOutcomeError(badRequest(`${name}: a BSN of 9 digits, as <bsn> or ${BSN_SYSTEM}|<bsn>`, name));
  }
  if (!isValidBsn(bsn)) {
    failField(`${name}: not a valid BSN (11-proef)`, name);
  }
  return bsn;
}

/** `from`/`to` of an export: a date (midnight in Dutch time) or a dateTime with a time zone. */
async function instantParam(
  ctx: PipelineContext,
  value: string | undefined,
  name: string,
): Promise<string | undefined> {
  if (value === undefined) {
    return undefined;
  }
  const v = value.replace(/ /g, '+');
  if (/^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(Date.parse(v))) {
    const [row] = await ctx.db.query<{ t: Date }>(`SELECT ($1::timestamp AT TIME ZONE 'Europe/Amsterdam') AS t`, [v]);
    return new Date(row?.t ?? v).toISOString();
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(v) && !Number.isNaN(Date.parse(v))) {
    return new Date(v).toISOString();
  }
  throw new OperationOutcomeError(badRequest(`${name}: a date (YYYY-MM-DD) or a dateTime with a time zone`, name));
}

/** Writes and waits when the socket's buffer is full, so a large export never piles up in memory. */
async function write(res: Response, chunk: string): Promise<void> {
  if (!res.write(chunk)) {
    await new Promise<void>((resolve, reject) => {
      res.once('drain', resolve);
      res.once('close', () => reject(new Error('client went away')));
    });
  }
}

/**
 * `/fhir/AuditEvent…` and `/audit/v1/…` (full paths; authentication is applied in app.ts): what auditors use.
 * Reading the log is itself logged, and so is a refusal. See docs/audit.md.
 */
export function auditRouter(ctx: PipelineContext): Router {
  const router = Router();

  /** Refuses access to a chain: recorded in that chain (its practice sees the attempt), then 403. */
  async function assertChainAccess(req: Request, res: Response, tenant: string): Promise<void> {
    if (!canReadChain(getPrincipal(res), tenant)) {
      await auditRead(ctx, req, res, {
        query: req.originalUrl,
        interaction: 'read',
        target: `audit_chain/${tenant}`,
        outcome: '4',
        outcomeDesc: 'not within the caller’s scope',
        tenants: [tenant],
      });
      // Tells the error handler's generic refusal audit that this refusal is on record already.
      res.locals[REFUSAL_AUDITED] = true;
      throw new OperationOutcomeError(forbidden);
    }
  }

  router.get('/fhir/AuditEvent', async (req, res) => {
    const principal = getPrincipal(res);
    const url = requestUrl(req);
    const search = parseAuditSearch(url.searchParams);
    const page = await searchAuditEvents(ctx.db, principal, search);
    const onlyPatient =
      search.patients.length === 1 && search.patients[0]?.length === 1 ? search.patients[0][0] : undefined;
    await auditRead(ctx, req, res, {
      query: req.originalUrl,
      interaction: 'search',
      patientBsn: onlyPatient,
      tenants: page.rows.map((r) => r.tenant),
    });
    res.type(FHIR_JSON).json(toSearchBundle(page, url, `${url.origin}/fhir`));
  });

  router.get('/fhir/AuditEvent/:id', async (req, res) => {
    const id = req.params.id;
    const found = UUID.test(id) ? await tryGetAuditRow(ctx.db, id, getPrincipal(res)) : undefined;
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
      ...(inScope ? {} : { outcome: '4' as const, outcomeDesc: 'not within the caller’s scope' }),
    });
    if (!inScope) {
      // Out of scope looks like absent: a caller must not learn which ids exist in other practices' logs.
      throw new OperationOutcomeError(notFound);
    }
    res.type(FHIR_JSON).json(servedResource(row));
  });

  router.get('/audit/v1/verify', async (req, res) => {
    const q = queryOf(req, ['tenant']);
    const principal = getPrincipal(res);
    let tenants: string[];
    if (q.has('tenant')) {
      const tenant = tenantParam(q.get('tenant'));
      await assertChainAccess(req, res, tenant);
      if (!(await tryGetChainHead(ctx.db, tenant))) {
        throw new OperationOutcomeError(notFound);
      }
      tenants = [tenant];
    } else {
      tenants = (await listChainTenants(ctx.db)).filter((t) => canReadChain(principal, t));
      if (principal.role === 'municipality') {
        await assertChainAccess(req, res, SYSTEM_TENANT);
      }
    }
    const verdicts = [];
    for (const tenant of tenants) {
      verdicts.push(await verifyTenant(ctx.db, tenant));
    }
    await auditRead(ctx, req, res, {
      query: req.originalUrl,
      interaction: 'read',
      target: tenants.length === 1 ? `audit_chain/${tenants[0]}` : 'audit_chain',
      tenants,
    });
    res.json(q.has('tenant') ? verdicts[0] : { ok: verdicts.every((v) => v.ok), chains: verdicts });
  });

  router.get('/audit/v1/export', async (req, res) => {
    const q = queryOf(req, ['tenant', 'from', 'to', 'format']);
    const tenant = tenantParam(q.get('tenant'));
    const format = q.get('format') ?? 'ndjson';
    if (format !== 'ndjson' && format !== 'csv') {
      throw new OperationOutcomeError(badRequest("format: 'ndjson' (the default) or 'csv'", 'format'));
    }
    const from = await instantParam(ctx, q.get('from'), 'from');
    const to = await instantParam(ctx, q.get('to'), 'to');
    await assertChainAccess(req, res, tenant);
    const meta: ExportMeta = await exportMeta(ctx.db, tenant, { from, to });
    await auditRead(ctx, req, res, {
      query: req.originalUrl,
      interaction: 'read',
      target: `audit_chain/${tenant}`,
      tenants: [tenant],
    });
    const name = `audit-${tenant}-${meta.fromSeq ?? 0}-${meta.toSeq ?? 0}.${format}`;
    res.status(200);
    res.type(format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson');
    res.set('Content-Disposition', `attachment; filename="${name}"`);
    try {
      await write(res, format === 'csv' ? csvHeader() : ndjsonHeader(meta));
      for await (const row of exportRows(ctx.db, meta)) {
        await write(res, format === 'csv' ? csvRow(row) : ndjsonRow(row));
      }
      if (format === 'csv') {
        await write(res, csvTrailer(meta));
      }
      res.end();
    } catch (err) {
      // The status is sent already: cut the connection, so the client sees an incomplete file rather than a
      // short one that looks whole (verification would reject it anyway).
      ctx.log.error({ tenant, ...errorFields(err) }, 'audit export aborted');
      res.destroy();
    }
  });

  router.get('/audit/v1/overview', async (req, res) => {
    const q = queryOf(req, ['patient', 'patient:identifier']);
    const bsn = bsnParam(
      q.get('patient') ?? q.get('patient:identifier'),
      q.has('patient') ? 'patient' : 'patient:identifier',
    );
    const overview = await childOverview(ctx.db, getPrincipal(res), bsn, ctx.registry);
    await auditRead(ctx, req, res, {
      query: req.originalUrl,
      interaction: 'search',
      patientBsn: bsn,
      tenants: [...overview.entries, ...overview.accesses].map((e) => e.practice.code),
    });
    res.json(overview);
  });

  return router;
}
