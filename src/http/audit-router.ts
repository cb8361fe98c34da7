import { badRequest, OperationOutcomeError } from '@medplum/core';
import type { Router, Request, RequestHandler, Response } from 'express';
import { exactRouter } from './exact-routing';
import { z } from 'zod';
import {
  assertChainAccess,
  auditRead,
  chainsToVerify,
  readIntegrityHistory,
  REFUSAL_AUDITED,
  verifyChains,
} from './audit-read';
import {
  csvHeader,
  csvRow,
  csvTrailer,
  exportMeta,
  exportRows,
  ndjsonHeader,
  ndjsonRow,
  acknowledgedRowsOf,
  type ExportMeta,
} from '../reports/audit-export/export';
import { chainProblem } from '../audit/chain-problems';
import { childOverview } from '../reports/child-overview/overview';
import { answerIntegrity } from '../reports/chain-integrity/answer-integrity';
import { subjectAccessDocument } from './subject-access-document';
import { consentsOfChild } from '../reports/consent-search/consent-search';
import { decidesAloneAt } from '../policy/age';
import { subjectAccessDisclosure } from '../audit/audit-events';
import { actorOf } from './request-context';
import { isChainName, SYSTEM_TENANT } from '../reports/audit-scope';
import {
  chainIntegrity,
  recordChainIntegrity,
  type IntegrityChange,
  type IntegrityHistoryCursor,
} from '../audit/chain-integrity';
import { decodePageToken, encodePageToken } from '../reports/fhir-search/page-token';
import { DEFAULT_COUNT, MAX_COUNT } from '../reports/fhir-search/parse-search';
import {
  acknowledgeBreak,
  AcknowledgementRefused,
  publicJwks,
  publicKeysOf,
  signExportEnd,
} from '../audit/signed-heads';
import { acknowledgedBreakOf, latestAcknowledgements, type BreakAcknowledgement } from '../audit/acknowledgements';
import { refusalCoding } from '../audit/refusal-codes';
import { MAX_REASON_LENGTH, MIN_REASON_LENGTH, MIN_REASON_WORDS, reasonIssues } from './reason-rule';
import { BSN_SYSTEM, isValidBsn, isValidIsoDate } from '../kernel/fhir/identifiers';
import {
  conflictField,
  failField,
  forbiddenField,
  unprocessableIssues,
  unsupportedMediaType,
} from '../kernel/fhir/outcomes';
import { FORM_MEDIA_TYPE } from './text-guard';
import type { PipelineContext } from '../event/context';
import { getPrincipal } from '../access/authenticate';
import { errorFields } from '../kernel/logger';
import { amsterdamDateTime } from '../kernel/dutch-time';

/**
 * The query parameters of the `/audit/v1` routes: their names are what each route accepts (and what the OpenAPI
 * document lists); the values are checked by the functions below, which give the FHIR-style messages.
 */
export const verifyQuery = z.object({
  tenant: z.string().optional().meta({ description: 'the chain: an AGB code, system, or destination/<id>' }),
});
export const exportQuery = z.object({
  tenant: z.string().meta({ description: 'the chain to export: an AGB code, system, or destination/<id>' }),
  from: z.string().optional().meta({ description: 'a date (midnight in Dutch time) or a dateTime with a zone' }),
  to: z.string().optional().meta({ description: 'a date (midnight in Dutch time) or a dateTime with a zone' }),
  format: z.enum(['ndjson', 'csv']).optional(),
});
export const acknowledgeBody = z.object({
  tenant: z.string().meta({ description: 'the chain: an AGB code, system, or destination/<id>' }),
  brokenAtSeq: z.union([z.string(), z.int()]).meta({
    description:
      'the row GET /audit/v1/verify names the break at (`brokenAtSeq`): its number, or its digits as a string',
  }),
  reason: z.string().meta({
    description: `why the break is acknowledged (what was investigated, by whom; at least ${MIN_REASON_WORDS} words and ${MIN_REASON_LENGTH} characters, at most ${MAX_REASON_LENGTH}; no personal data)`,
  }),
});
export const integrityHistoryQuery = z.object({
  tenant: z.string().optional().meta({ description: 'the chain: an AGB code, system, or destination/<id>' }),
  _count: z
    .string()
    .optional()
    .meta({ description: `changes a page (${DEFAULT_COUNT} unless given, at most ${MAX_COUNT})` }),
  _page: z.string().optional().meta({ description: 'the token of a `next` link' }),
});
export const overviewQuery = z.object({
  patient: z
    .string()
    .optional()
    .meta({ description: `a BSN, as <bsn> or ${BSN_SYSTEM}|<bsn>` }),
  'patient:identifier': z
    .string()
    .optional()
    .meta({ description: `${BSN_SYSTEM}|<bsn>` }),
  format: z
    .enum(['json', 'csv', 'html'])
    .optional()
    .meta({
      description:
        "'json' (the default); 'csv' or 'html': the overview in words, signed, to hand to the child or its parents " +
        '(an access request, AVG art. 15; auditors only, recorded as a disclosure to them)',
    }),
  birthDate: z.iso
    .date()
    .optional()
    .meta({
      description:
        "the child's birth date (YYYY-MM-DD), optional, for the hand-over only: a child of 16 or older on the day of " +
        'the request gets a note that under the WGBO the child decides; send it in the POST body, never kept',
    }),
});

/** A `_page` token of the integrity history: the row id a page starts after, going older (`o`) or newer (`n`). */
const historyCursorSchema = z.object({ i: z.number().int().positive(), d: z.enum(['o', 'n']) }).strict();

/** The opaque token of a page of the integrity history (an id and a direction, never data). */
export function encodeHistoryCursor(c: IntegrityHistoryCursor): string {
  return encodePageToken({ i: c.id, d: c.direction === 'older' ? 'o' : 'n' });
}

/** A page of the integrity history from its token; one this server did not make is a 400 naming `_page`. */
export function decodeHistoryCursor(token: string): IntegrityHistoryCursor {
  const c = decodePageToken(token, historyCursorSchema);
  return { id: c.i, direction: c.d === 'o' ? 'older' : 'newer' };
}

/** An integrity change as the API answers it: its fields, the time as ISO 8601. */
function integrityChangeJson(c: IntegrityChange): Record<string, unknown> {
  return { ...c, changedAt: c.changedAt?.toISOString() };
}

/** What an auditor's acknowledgement of a break names: the chain, the row verification named, and why. */
export interface AcknowledgementRequest {
  readonly tenant: string | undefined;
  readonly brokenAtSeq: string | undefined;
  readonly reason: string | undefined;
}

/**
 * An auditor acknowledges the break verification found in a chain (`POST /audit/v1/acknowledge`, and the console's
 * form): checked, refused and audited alike. A refusal is an OperationOutcomeError naming the field, a 409's coded
 * by its cause (refusal-codes.ts).
 */
export async function acknowledgeChainBreak(
  ctx: PipelineContext,
  req: Request,
  res: Response,
  q: AcknowledgementRequest,
): Promise<BreakAcknowledgement> {
  const tenant = tenantParam(q.tenant);
  const seqText = q.brokenAtSeq ?? '';
  if (!/^[1-9]\d{0,15}$/.test(seqText)) {
    throw new OperationOutcomeError(
      badRequest('brokenAtSeq: the row GET /audit/v1/verify names the break at', 'brokenAtSeq'),
    );
  }
  const reason = q.reason?.trim() ?? '';
  if (reason.length > MAX_REASON_LENGTH) {
    throw new OperationOutcomeError(badRequest(`reason: at most ${MAX_REASON_LENGTH} characters`, 'reason'));
  }
  const unfit = reasonIssues(reason);
  if (unfit.length > 0) {
    throw new OperationOutcomeError(unprocessableIssues(unfit));
  }
  await assertChainAccess(ctx, req, res, tenant, 'export');
  const principal = getPrincipal(res);
  if (principal.role !== 'auditor') {
    await refuseAcknowledgement(ctx, req, res, tenant, 'only an auditor acknowledges a break');
    throw new OperationOutcomeError(forbiddenField('Only an auditor acknowledges a break in a chain', 'tenant'));
  }
  let ack;
  try {
    ack = await acknowledgeBreak(
      {
        db: ctx.db,
        keys: ctx.signedHeads.keys,
        file: ctx.signedHeads.signer.file,
        retentionDays: ctx.config.AUDIT_RETENTION_DAYS,
        audit: ctx.audit,
      },
      tenant,
      Number(seqText),
      { principalId: principal.id, actor: actorOf(req, res), reason },
    );
  } catch (err) {
    if (err instanceof AcknowledgementRefused) {
      await refuseAcknowledgement(ctx, req, res, tenant, err.message);
      throw new OperationOutcomeError(
        conflictField(`Not acknowledged: ${err.message}`, 'brokenAtSeq', refusalCoding(err.refusal)),
      );
    }
    throw err;
  }
  ctx.metrics.recordAuditVerify(tenant, true);
  return ack;
}

/** Only the parameters of the schema, each at most once, each a string; anything else is a 400 naming it. */
function knownParams(entries: Iterable<[string, unknown]>, schema: z.ZodObject): Map<string, string> {
  const allowed = Object.keys(schema.shape);
  const out = new Map<string, string>();
  for (const [name, value] of entries) {
    if (!allowed.includes(name)) {
      throw new OperationOutcomeError(badRequest(`Unknown parameter '${name}'; known: ${allowed.join(', ')}`, name));
    }
    if (out.has(name)) {
      throw new OperationOutcomeError(badRequest(`${name} may be given once`, name));
    }
    const field: z.core.$ZodType | undefined = (schema.shape as Record<string, z.core.$ZodType>)[name];
    out.set(name, stringParam(name, value, field));
  }
  return out;
}

/**
 * A parameter's value as the string the route checks: a string, or, where the schema takes one (`brokenAtSeq`, which
 * GET /audit/v1/verify reports as a JSON number), a whole number in a JSON body, as its digits. Else a 400 naming it.
 */
function stringParam(name: string, value: unknown, field: z.core.$ZodType | undefined): string {
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'number' && Number.isSafeInteger(value) && field && z.safeParse(field, value).success) {
    return String(value);
  }
  throw new OperationOutcomeError(badRequest(`${name}: a string`, name));
}

function queryOf(req: Request, schema: z.ZodObject): Map<string, string> {
  return knownParams(new URL(req.originalUrl, 'http://localhost').searchParams, schema);
}

/**
 * The parameters of a POST, from its body only: a form (`application/x-www-form-urlencoded`) or a JSON object of
 * strings; each at most once, anything else a 400 naming it. A query string is refused: the point of the POST is a URL
 * that holds no BSN.
 */
function bodyParamsOf(req: Request, schema: z.ZodObject): Map<string, string> {
  if (new URL(req.originalUrl, 'http://localhost').search !== '') {
    throw new OperationOutcomeError(badRequest('With POST the parameters go in the body, not the URL', 'url'));
  }
  const body: unknown = req.body;
  let entries: [string, unknown][];
  if (typeof body === 'string' && req.is(FORM_MEDIA_TYPE)) {
    entries = [...new URLSearchParams(body)];
  } else if (typeof body === 'object' && body !== null && !Array.isArray(body) && req.is('json')) {
    entries = Object.entries(body);
  } else {
    throw new OperationOutcomeError(
      unsupportedMediaType(req.get('content-type')?.split(';')[0]?.trim(), [FORM_MEDIA_TYPE, 'application/json']),
    );
  }
  return knownParams(entries, schema);
}

function tenantParam(value: string | undefined): string {
  if (value === undefined || !isChainName(value)) {
    throw new OperationOutcomeError(
      badRequest('tenant: the chain to read: an AGB code (8 digits), system, or destination/<id>', 'tenant'),
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
function instantParam(value: string | undefined, name: string): string | undefined {
  if (value === undefined) {
    return undefined;
  }
  const v = value.replace(/ /g, '+');
  // The calendar check is ours: Date.parse takes 2026-02-30 for 2 March.
  if (isValidIsoDate(v)) {
    return new Date(amsterdamDateTime(v)).toISOString();
  }
  if (
    /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(v) &&
    isValidIsoDate(v.slice(0, 10)) &&
    !Number.isNaN(Date.parse(v))
  ) {
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
 * `/audit/v1/…` (full paths; authentication is applied in app.ts): what auditors use besides `/fhir/AuditEvent`
 * (fhir-router.ts).
 * Reading the log is itself logged, and so is a refusal. See docs/audit.md.
 */
/**
 * The public keys that sign chain heads and exports (JWK Set), for offline verification: served without an API key
 * (mounted before authentication), as an offline verifier or a witness must be able to fetch them.
 */
export function auditKeysHandler(ctx: Pick<PipelineContext, 'signedHeads'>): RequestHandler {
  return (_req, res) => {
    res.json(publicJwks(ctx.signedHeads.keys));
  };
}

export function auditRouter(ctx: PipelineContext): Router {
  const router = exactRouter();

  router.get('/audit/v1/verify', async (req, res) => {
    const q = queryOf(req, verifyQuery);
    const tenants = await chainsToVerify(ctx, req, res, q.has('tenant') ? tenantParam(q.get('tenant')) : undefined);
    const verdicts = await verifyChains(ctx, req, res, tenants);
    // How long the rows are kept (AUDIT_RETENTION_DAYS): what lies before a chain's retention checkpoint is deleted.
    const auditRetentionDays = ctx.config.AUDIT_RETENTION_DAYS;
    res.json(
      q.has('tenant')
        ? { ...verdicts[0], auditRetentionDays }
        : { ok: verdicts.every((v) => v.ok), auditRetentionDays, chains: verdicts },
    );
  });

  // The chains' changes of verdict (found broken, acknowledged, intact again), newest first, a page at a time: the
  // chains in the caller's scope, or the one named.
  router.get('/audit/v1/integrity-history', async (req, res) => {
    const q = queryOf(req, integrityHistoryQuery);
    const tenant = q.has('tenant') ? tenantParam(q.get('tenant')) : undefined;
    const countText = q.get('_count');
    if (countText !== undefined && !/^[1-9]\d{0,8}$/.test(countText)) {
      throw new OperationOutcomeError(badRequest('_count: a whole number, at least 1', '_count'));
    }
    const count = Math.min(Number(countText ?? DEFAULT_COUNT), MAX_COUNT);
    const pageText = q.get('_page');
    const cursor = pageText === undefined ? undefined : decodeHistoryCursor(pageText);
    const chains = await chainsToVerify(ctx, req, res, tenant);
    const page = await readIntegrityHistory(ctx, req, res, {
      chains,
      asked: tenant,
      size: count,
      cursor,
      query: req.originalUrl,
    });
    const linkTo = (c: IntegrityHistoryCursor) =>
      `/audit/v1/integrity-history?${new URLSearchParams({
        ...(tenant === undefined ? {} : { tenant }),
        _count: String(count),
        _page: encodeHistoryCursor(c),
      }).toString()}`;
    res.json({
      changes: page.changes.map(integrityChangeJson),
      ...(page.older ? { next: linkTo(page.older) } : {}),
      ...(page.newer ? { previous: linkTo(page.newer) } : {}),
    });
  });

  // An auditor acknowledges a break verification found: recorded for good, the chain signed and exported again.
  router.post('/audit/v1/acknowledge', async (req, res) => {
    const q = bodyParamsOf(req, acknowledgeBody);
    const ack = await acknowledgeChainBreak(ctx, req, res, {
      tenant: q.get('tenant'),
      brokenAtSeq: q.get('brokenAtSeq'),
      reason: q.get('reason'),
    });
    res.status(201).json(acknowledgedBreakOf(ack));
  });

  router.get('/audit/v1/export', async (req, res) => {
    const q = queryOf(req, exportQuery);
    const tenant = tenantParam(q.get('tenant'));
    const format = q.get('format') ?? 'ndjson';
    if (format !== 'ndjson' && format !== 'csv') {
      throw new OperationOutcomeError(badRequest("format: 'ndjson' (the default) or 'csv'", 'format'));
    }
    const from = instantParam(q.get('from'), 'from');
    const to = instantParam(q.get('to'), 'to');
    if (from !== undefined && to !== undefined && to <= from) {
      throw new OperationOutcomeError(
        badRequest('to: after from (an export holds the rows recorded from `from` up to, not including, `to`)', 'to'),
      );
    }
    await assertChainAccess(ctx, req, res, tenant, 'export');
    const exported = await exportMeta(ctx.db, tenant, { from, to });
    // A break an auditor acknowledged in the rows exported is stated in the metadata, which the signature covers:
    // `audit-verify verify-export` reports it, and finds those rows broken as acknowledged, not as new.
    const ack = (await latestAcknowledgements(ctx.db, publicKeysOf(ctx.signedHeads.keys), [tenant])).get(tenant);
    let piece: ExportMeta = exported;
    if (ack && exported.fromSeq !== null && exported.fromSeq <= ack.headSeq) {
      // Each acknowledged broken row exported, by the digest of it as exported, for the verifier to match it by: a
      // row changed again since the acknowledgement is a new break, found here, not exported as acknowledged.
      const rows = await acknowledgedRowsOf(ctx.db, exported, ack);
      if ('changedSeq' in rows) {
        const problem = chainProblem('acknowledged-row-changed', rows.changedSeq, ack.acknowledgedAt);
        ctx.log.error({ tenant, seq: rows.changedSeq }, 'acknowledged audit row changed again: export refused');
        ctx.metrics.recordAuditVerify(tenant, false);
        await recordChainIntegrity(ctx.db, tenant, { ok: false, brokenAtSeq: rows.changedSeq, problem }, 'export', {
          audit: ctx.audit,
        });
        await refuseExport(ctx, req, res, tenant, 'an acknowledged broken row was changed again');
        throw new OperationOutcomeError(
          conflictField(
            `The chain is known broken at row ${rows.changedSeq}: ${problem}; GET /audit/v1/verify names the row`,
            'tenant',
            refusalCoding('chain-known-broken', problem),
          ),
        );
      }
      piece = { ...exported, acknowledgedBreak: acknowledgedBreakOf(ack), acknowledgedRows: rows.rows };
    }
    let meta: ExportMeta = piece;
    if (piece.toSeq !== null && piece.headHash !== null) {
      // Signed only as the signer signs a head: when the signed history vouches for it. A rewritten chain's export
      // is refused rather than signed (or silently left unsigned): the auditor is told, and verify names the row.
      const signed = await signExportEnd(
        ctx.db,
        ctx.signedHeads.keys,
        ctx.signedHeads.signer.file,
        { tenant, seq: piece.toSeq, hash: piece.headHash },
        { ...piece },
      );
      if (!('signedHead' in signed)) {
        ctx.log.error(
          { tenant, signedSeq: signed.signedCheckpoint.seq },
          'audit chain contradicts its signed checkpoint: export refused',
        );
        ctx.metrics.recordAuditVerify(tenant, false);
        // Known to every process, as the signer's own finding of it is.
        await recordChainIntegrity(ctx.db, tenant, { ok: false, problem: signed.problem }, 'head-check', {
          audit: ctx.audit,
        });
        await refuseExport(ctx, req, res, tenant, 'the chain contradicts its signed checkpoint');
        throw new OperationOutcomeError(
          conflictField(
            `${signed.problem}. GET /audit/v1/verify names the row`,
            'tenant',
            refusalCoding('chain-contradicts-signed', signed.problem),
          ),
        );
      }
      meta = { ...piece, signedHead: signed.signedHead };
    }
    // A chain known broken (audit_chain_integrity: a row changed in an older part, which the signed history does not
    // show) is signed by no process until verified intact: nor by its export.
    const known = (await chainIntegrity(ctx.db, [tenant])).get(tenant);
    if (known && !known.ok) {
      await refuseExport(ctx, req, res, tenant, 'the chain is known broken');
      throw new OperationOutcomeError(
        conflictField(
          `The chain is known broken${known.brokenAtSeq === undefined ? '' : ` at row ${known.brokenAtSeq}`}` +
            `${known.problem ? `: ${known.problem}` : ''}; it is exported again once GET /audit/v1/verify finds it ` +
            'intact, or once an auditor acknowledges the break (POST /audit/v1/acknowledge), with the break stated',
          'tenant',
          refusalCoding('chain-known-broken', known.problem),
        ),
      );
    }
    await auditRead(ctx, req, res, {
      query: req.originalUrl,
      interaction: 'read',
      target: `audit_chain/${tenant}`,
      tenants: [tenant],
    });
    // A file name, also for a destination's chain (`destination/<id>` → `destination-<id>`).
    const name = `audit-${tenant.replace('/', '-')}-${meta.fromSeq ?? 0}-${meta.toSeq ?? 0}.${format}`;
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

  /** The child's overview: by GET, or by POST with the parameters in the body, which keeps the BSN out of the URL. */
  const overview = async (req: Request, res: Response, q: Map<string, string>) => {
    const bsn = bsnParam(
      q.get('patient') ?? q.get('patient:identifier'),
      q.has('patient') ? 'patient' : 'patient:identifier',
    );
    const format = q.get('format') ?? 'json';
    if (format !== 'json' && format !== 'csv' && format !== 'html') {
      throw new OperationOutcomeError(badRequest("format: 'json' (the default), 'csv' or 'html'", 'format'));
    }
    const birthDate = q.get('birthDate');
    if (birthDate !== undefined && !z.iso.date().safeParse(birthDate).success) {
      throw new OperationOutcomeError(badRequest('birthDate: a date, YYYY-MM-DD', 'birthDate'));
    }
    const principal = getPrincipal(res);
    // The document handed to the child is the privacy officer's: an auditor sees every read of the child (a practice
    // does not see the auditors' own), and what it hands over is recorded as a disclosure.
    if (format !== 'json' && principal.role !== 'auditor') {
      // Recorded as the audit routes record their refusals (outcome 4, saying what was refused) in place of the
      // general 'refused <route>' row, without the child's BSN: the refusal is of the role, whichever child it was.
      await auditRead(ctx, req, res, {
        query: `/audit/v1/overview?format=${format}`,
        interaction: 'search',
        outcome: '4',
        outcomeDesc: `overview not handed over: format ${format} is for an auditor`,
      });
      res.locals[REFUSAL_AUDITED] = true;
      throw new OperationOutcomeError(
        forbiddenField('format: the overview to hand over (csv, html) is for an auditor (privacy officer)', 'format'),
      );
    }
    const found = await childOverview(ctx.db, principal, bsn, ctx.registry);
    const chains = [...found.entries, ...found.accesses].map((e) => e.chain);
    // Whether each chain it read can be relied on: a chain known broken may have lost or changed the child's rows.
    const integrity = await answerIntegrity(ctx.db, principal, chains);
    if (format === 'json') {
      await auditRead(ctx, req, res, {
        // The request as its GET would have been, whichever way it came.
        // Without a birth date: it only words the hand-over, and the log keeps no more than it needs.
        query: `/audit/v1/overview?${new URLSearchParams([...q].filter(([k]) => k !== 'birthDate')).toString()}`,
        interaction: 'search',
        patientBsn: bsn,
        tenants: chains,
      });
      res.json({ ...found, integrity });
      return;
    }
    const consents = await consentsOfChild(ctx.db, principal, bsn);
    const now = new Date();
    const document = subjectAccessDocument(found, integrity, format, ctx.signedHeads.keys.current, now, consents, {
      childDecides: decidesAloneAt(birthDate, now),
    });
    const actor = actorOf(req, res);
    const tenants = chains.length > 0 ? [...new Set(chains)] : [SYSTEM_TENANT];
    await Promise.all(
      tenants.map((tenant) =>
        ctx.audit.append(
          tenant,
          subjectAccessDisclosure({
            actor,
            patientBsn: bsn,
            document: { reference: `child_overview/${document.signature.sha256}`, description: `format ${format}` },
          }),
        ),
      ),
    );
    res.status(200);
    res.type(format === 'csv' ? 'text/csv; charset=utf-8' : 'text/html; charset=utf-8');
    res.set('Content-Disposition', `attachment; filename="${document.fileName}"`);
    res.send(document.body);
  };
  router.get('/audit/v1/overview', async (req, res) => {
    await overview(req, res, queryOf(req, overviewQuery));
  });
  router.post('/audit/v1/overview', async (req, res) => {
    await overview(req, res, bodyParamsOf(req, overviewQuery));
  });

  return router;
}

/** Records a refused export in the chain's owner's audit, as a read that failed (outcome 8), saying why. */
function refuseExport(ctx: PipelineContext, req: Request, res: Response, tenant: string, why: string): Promise<void> {
  return refuseOnChain(ctx, req, res, tenant, '8', `not exported: ${why}`);
}

/** Records a refused acknowledgement in the chain's owner's audit, as a refused action (outcome 4), saying why. */
function refuseAcknowledgement(
  ctx: PipelineContext,
  req: Request,
  res: Response,
  tenant: string,
  why: string,
): Promise<void> {
  return refuseOnChain(ctx, req, res, tenant, '4', `break not acknowledged: ${why}`);
}

async function refuseOnChain(
  ctx: PipelineContext,
  req: Request,
  res: Response,
  tenant: string,
  outcome: '4' | '8',
  outcomeDesc: string,
): Promise<void> {
  await auditRead(ctx, req, res, {
    query: req.originalUrl,
    interaction: 'read',
    target: `audit_chain/${tenant}`,
    tenants: [tenant],
    outcome,
    outcomeDesc,
  });
}
