import { notFound, OperationOutcomeError } from '@medplum/core';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { Router, Request, RequestHandler, Response } from 'express';
import { exactRouter } from './exact-routing';
import { auditRead, auditRefusedReadsAndOwnRow, NOT_IN_SCOPE } from './audit-read';
import { fhirNotServed, notAcceptable, payloadTooLarge, unsupportedMediaType } from '../kernel/fhir/outcomes';
import { acceptsFhirJson, SERVED_MEDIA_TYPES } from '../kernel/fhir/media-types';
import type { PipelineContext } from '../event/context';
import { auditEventProvider } from '../reports/audit-search/audit-event-provider';
import { consentProvider } from '../reports/consent-search/consent-search';
import { taskProvider } from '../reports/task-search/task-search';
import { serviceRequestProvider } from '../reports/service-request-search/service-request-search';
import {
  capabilityStatement,
  interactionRoute,
  type FhirInteraction,
} from '../reports/fhir-search/capability-statement';
import {
  DEFAULT_COUNT,
  failParameter,
  handlingOf,
  MAX_COUNT,
  parseFhirRead,
  parseFhirSearch,
  type FhirRead,
  type UnknownParameterHandling,
} from '../reports/fhir-search/parse-search';
import type {
  FhirResourceProvider,
  HistoryPage,
  HistoryResult,
  ReadResult,
} from '../reports/fhir-search/resource-provider';
import { toSearchset, withElements } from '../reports/fhir-search/searchset';
import { answerIntegrity, brokenChainsOutcome } from '../reports/chain-integrity/answer-integrity';
import {
  decodePageToken,
  encodePageToken,
  sealSearchLink,
  tokenMoment,
  unsealSearchLink,
} from '../reports/fhir-search/page-token';
import { z } from 'zod';
import { getPrincipal } from '../access/authenticate';
import { FORM_MEDIA_TYPE, SEARCH_FORM_BODY_BYTES, SEARCH_FORM_BODY_LIMIT } from './text-guard';
import { namesNoEvent } from './route-target';

const FHIR_JSON = 'application/fhir+json';
const FORM = FORM_MEDIA_TYPE;

/**
 * The resource types served under `/fhir` with read and search on the shared machinery. A new searchable type
 * (MeasureReport) is one provider here; routes, CapabilityStatement and OpenAPI follow.
 */
export function fhirProviders(ctx: PipelineContext): FhirResourceProvider[] {
  return [auditEventProvider(ctx.db), consentProvider(ctx.db), taskProvider(ctx), serviceRequestProvider(ctx)];
}

/**
 * A `/fhir` route outside the providers' read and search (the monitoring Measure, the municipality's Task): the
 * router mounts it at the path its interaction says and the CapabilityStatement declares that interaction, so
 * neither can be there without the other. A read gives the resource; the router checks its parameters and sends
 * it as it sends every read. A create brings its handlers (after authentication: the role check, then the handler).
 */
export type FhirRoute =
  | {
      readonly interaction: Extract<FhirInteraction, { code: 'read' }>;
      readonly read: (req: Request, res: Response) => Resource | Promise<Resource>;
    }
  | {
      readonly interaction: Extract<FhirInteraction, { code: 'create' }>;
      readonly handlers: readonly RequestHandler[];
    };

export interface FhirRouterOptions {
  /** Authentication and rate limit: everything but `/metadata`, which FHIR clients read before logging in. */
  readonly authenticated: readonly RequestHandler[];
  /** The routes besides the providers'. */
  readonly routes: readonly FhirRoute[];
  /** The configured `PUBLIC_BASE_URL` (or the derived default), without a trailing slash. */
  readonly publicBaseUrl: () => string;
}

function queryOf(req: Request): URLSearchParams {
  return new URL(req.originalUrl, 'http://localhost').searchParams;
}

/**
 * A client that takes no R4 JSON (another format, another `fhirVersion`) is told so (406 naming Accept) rather than
 * sent JSON it did not ask for. `_format` overrides Accept, as in FHIR; its value is checked with the other
 * parameters (406 naming `_format`: `assertJsonFormat`).
 */
const acceptsJson: RequestHandler = (req, _res, next) => {
  if (!queryOf(req).has('_format') && !acceptsFhirJson(req.get('accept'))) {
    throw new OperationOutcomeError(notAcceptable(SERVED_MEDIA_TYPES, 'Accept'));
  }
  next();
};

/** `Prefer: handling=` of the request, and `Preference-Applied` when the client asked for one. */
function handlingFor(req: Request, res: Response): UnknownParameterHandling {
  const handling = handlingOf(req.get('prefer'));
  if (req.get('prefer')?.includes('handling')) {
    res.set('Preference-Applied', `handling=${handling}`);
  }
  return handling;
}

/** A FHIR answer, indented with `_pretty=true`. */
function sendFhir(res: Response, body: unknown, pretty: boolean): void {
  res.type(FHIR_JSON);
  if (pretty) {
    res.send(JSON.stringify(body, null, 2));
  } else {
    res.json(body);
  }
}

/**
 * A read's answer: the resource with the `_elements` asked for, printed as asked. A versioned resource's ETag is
 * `W/"<versionId>"`, as FHIR servers send it; without a version Express's own (a hash of the answer) stands.
 * `meta.lastUpdated` is the Last-Modified. Express answers 304 to an If-None-Match or If-Modified-Since they meet.
 */
function sendRead(res: Response, read: FhirRead, resource: Resource): void {
  const { versionId, lastUpdated } = resource.meta ?? {};
  if (versionId) {
    res.set('ETag', `W/"${versionId}"`);
  }
  if (lastUpdated) {
    res.set('Last-Modified', new Date(lastUpdated).toUTCString());
  }
  sendFhir(res, withElements(resource, read.elements), read.pretty);
}

/** A version id as this server gives them: 1, 2, ... */
const VERSION_ID = /^[1-9][0-9]{0,8}$/;

/** The parameters of a history page, besides a read's: `_count`, `_since` and the `_page` of a `next` link. */
const HISTORY_PARAMETERS = ['_count', '_since', '_page'];

/** A `_page` token of a history: the version the page starts below. */
const historyTokenSchema = z.object({ b: z.number().int().positive() }).strict();

/**
 * The page of a history `params` ask for (`_count`, at most MAX_COUNT, `DEFAULT_COUNT` unless given; `_since`, an
 * instant; `_page`, a `next` link's token), what of them the links repeat, and the other parameters, for the read's
 * checks. A value it cannot take is a 400 naming the parameter.
 */
function parseHistoryPage(params: URLSearchParams): {
  page: HistoryPage;
  applied: URLSearchParams;
  rest: URLSearchParams;
} {
  const rest = new URLSearchParams();
  const applied = new URLSearchParams();
  let count = DEFAULT_COUNT;
  let since: string | undefined;
  let below: number | undefined;
  for (const [name, raw] of params) {
    if (!HISTORY_PARAMETERS.includes(name)) {
      rest.append(name, raw);
      continue;
    }
    if (params.getAll(name).length > 1) {
      failParameter(`${name} may be given once`, name);
    }
    const value = raw.trim();
    if (name === '_count') {
      if (!/^\d{1,9}$/.test(value)) {
        failParameter('_count: a whole number', name);
      }
      count = Math.min(Number(value), MAX_COUNT);
      applied.set(name, String(count));
    } else if (name === '_since') {
      if (!tokenMoment({ offset: true }).safeParse(value).success) {
        failParameter('_since: an instant, such as 2026-12-01T09:00:00+01:00', name);
      }
      since = value;
      applied.set(name, value);
    } else {
      below = decodePageToken(value, historyTokenSchema).b;
    }
  }
  return { page: { count, since, below }, applied, rest };
}

/**
 * FHIR's history Bundle of one resource at `url`: a page of its versions newest first, each with how it came to be
 * (the first created, each later one an update) and its version's ETag and time, as `_history` answers; `total` all
 * versions (at or after `_since`), `next` the page after, as HAPI pages a history.
 */
function historyBundle(
  url: string,
  found: Pick<HistoryResult<Resource>, 'versions' | 'total' | 'nextBelow'>,
  read: FhirRead,
  applied: URLSearchParams,
): Bundle {
  const type = url.split('/').at(-2) ?? '';
  const linkOf = (extra?: [string, string]) => {
    const q = new URLSearchParams(applied);
    if (extra) {
      q.set(...extra);
    }
    const query = q.toString();
    return `${url}/_history${query ? `?${query}` : ''}`;
  };
  return {
    resourceType: 'Bundle',
    type: 'history',
    total: found.total,
    link: [
      { relation: 'self', url: linkOf() },
      ...(found.nextBelow === undefined
        ? []
        : [{ relation: 'next', url: linkOf(['_page', encodePageToken({ b: found.nextBelow })]) }]),
    ],
    entry: found.versions.map((resource) => {
      const { versionId, lastUpdated } = resource.meta ?? {};
      const first = versionId === '1';
      return {
        fullUrl: url,
        resource: withElements(resource, read.elements),
        request: first ? { method: 'POST', url: type } : { method: 'PUT', url: `${type}/${resource.id ?? ''}` },
        response: {
          status: first ? '201 Created' : '200 OK',
          ...(versionId ? { etag: `W/"${versionId}"` } : {}),
          ...(lastUpdated ? { lastModified: lastUpdated } : {}),
        },
      };
    }),
  };
}

/**
 * `/fhir`: the CapabilityStatement, read and search of every provider's type, and the other FHIR routes. Parse, call,
 * send.
 */
export function fhirRouter(
  ctx: PipelineContext,
  providers: readonly FhirResourceProvider[],
  opts: FhirRouterOptions,
): Router {
  const router = exactRouter();
  const fhirBase = (): string => `${opts.publicBaseUrl()}/fhir`;
  const startedAt = new Date().toISOString();

  router.use(acceptsJson);

  router.get('/metadata', (req, res) => {
    const params = queryOf(req);
    // Only the full statement is served; `mode=terminology` (TerminologyCapabilities) must not get it instead.
    for (const mode of params.getAll('mode')) {
      if (mode !== 'full') {
        failParameter("mode: only 'full' (the default) is served", 'mode');
      }
    }
    params.delete('mode');
    // The same rules as a read: a client asking for XML must not take JSON for the format it asked for.
    const read = parseFhirRead(params, handlingFor(req, res));
    const statement = capabilityStatement(
      providers,
      opts.routes.map((r) => r.interaction),
      {
        fhirBase: fhirBase(),
        version: ctx.build.label,
        corsEnabled: ctx.config.CORS_ORIGINS !== undefined,
        date: startedAt,
      },
    );
    sendRead(res, read, statement);
  });

  router.use(...opts.authenticated);

  for (const provider of providers) {
    const type = provider.spec.resourceType;

    async function search(
      req: Request,
      res: Response,
      params: URLSearchParams,
      query: string,
      from: 'url' | 'body',
    ): Promise<void> {
      const principal = getPrincipal(res);
      provider.assertMayRead(principal);
      const search = parseFhirSearch(provider.spec, params, handlingFor(req, res));
      const page = await provider.search(principal, search);
      // A search that named only what others hold (a referral of another party) is answered as no match, the attempt
      // on record where that referral's reads are, as every route that names another party's referral records it.
      const refused = page.refused ?? [];
      // The caller's own record of the search; a municipality's auditor does not see the owners' rows (they name the
      // other child), so for a municipality it is the same row as for no match.
      await auditRefusedReadsAndOwnRow(ctx, req, res, refused, NOT_IN_SCOPE, () =>
        auditRead(ctx, req, res, {
          query,
          interaction: 'search',
          patientBsn: page.patientBsn,
          tenants: page.tenants,
          related: page.related,
          extraAgents: page.extraAgents,
        }),
      );
      // A search that came in a body (or from a sealed link) keeps its parameters out of the links' URLs too.
      const seal = from === 'body' ? sealSearchLink.bind(undefined, ctx.cipher) : undefined;
      // Audit rows read from a chain known broken may be changed or missing: the Bundle says so, as the console does.
      const broken =
        type === 'AuditEvent' ? brokenChainsOutcome(await answerIntegrity(ctx.db, principal, page.tenants)) : undefined;
      sendFhir(res, toSearchset(fhirBase(), search, page, seal, broken ? [broken] : []), search.pretty);
    }

    router.get(`/${type}`, async (req, res) => {
      const params = queryOf(req);
      const restored = unsealSearchLink(ctx.cipher, params);
      if (restored === params) {
        await search(req, res, params, req.originalUrl, 'url');
      } else {
        await search(req, res, restored, `/fhir/${type}?${restored.toString()}`, 'body');
      }
    });

    // FHIR's POST search: the parameters as a form body (and any in the URL), for queries too long or too
    // sensitive for a URL. The audit record keeps them as the equivalent GET query. The app reads the body (up to
    // FORM_BODY_LIMIT) once the credential holds; a search takes at most SEARCH_FORM_BODY_LIMIT of it.
    router.post(`/${type}/_search`, async (req, res) => {
      const mediaType = (req.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
      if (mediaType !== FORM) {
        throw new OperationOutcomeError(unsupportedMediaType(mediaType, [FORM]));
      }
      if (typeof req.body === 'string' && Buffer.byteLength(req.body, 'utf8') > SEARCH_FORM_BODY_BYTES) {
        throw new OperationOutcomeError(payloadTooLarge(`${SEARCH_FORM_BODY_LIMIT} for a search's form body`));
      }
      const params = queryOf(req);
      for (const [name, value] of new URLSearchParams(typeof req.body === 'string' ? req.body : '')) {
        params.append(name, value);
      }
      await search(req, res, params, `/fhir/${type}?${params.toString()}`, 'body');
    });

    /**
     * Records the read of `target` (or its refusal) and returns what was found once it may be answered: out of scope
     * looks like absent (404), so a caller does not learn which ids exist in other practices' data. Nothing found is
     * a 404.
     */
    async function auditedRead<F extends Omit<ReadResult<Resource>, 'resource'>>(
      req: Request,
      res: Response,
      target: string,
      found: F | undefined,
    ): Promise<F> {
      if (!found) {
        throw new OperationOutcomeError(notFound);
      }
      await auditRead(ctx, req, res, {
        query: req.originalUrl,
        interaction: 'read',
        target,
        patientBsn: found.patientBsn,
        tenants: [found.tenant],
        related: found.related,
        extraAgents: found.extraAgents,
        ...(found.inScope ? {} : { outcome: '4' as const, outcomeDesc: NOT_IN_SCOPE }),
      });
      if (!found.inScope) {
        throw new OperationOutcomeError(notFound);
      }
      return found;
    }

    router.get(`/${type}/:id`, namesNoEvent, async (req, res) => {
      const principal = getPrincipal(res);
      provider.assertMayRead(principal);
      const read = parseFhirRead(queryOf(req), handlingFor(req, res));
      const id = req.params.id;
      const found = provider.isId(id) ? await provider.tryRead(principal, id) : undefined;
      sendRead(res, read, (await auditedRead(req, res, `${type}/${id}`, found)).resource);
    });

    const history = provider.history;
    if (history) {
      // vread: one kept version, as a read answers it (ETag W/"<versionId>").
      router.get(`/${type}/:id/_history/:vid`, namesNoEvent, async (req, res) => {
        const principal = getPrincipal(res);
        provider.assertMayRead(principal);
        const read = parseFhirRead(queryOf(req), handlingFor(req, res));
        const { id, vid } = req.params;
        const found =
          provider.isId(id) && VERSION_ID.test(vid)
            ? await history.tryReadVersion(principal, id, Number(vid))
            : undefined;
        sendRead(res, read, (await auditedRead(req, res, `${type}/${id}/_history/${vid}`, found)).resource);
      });
      // history-instance: the versions, newest first, in a history Bundle, a page at a time (`_count`, `next`).
      router.get(`/${type}/:id/_history`, namesNoEvent, async (req, res) => {
        const principal = getPrincipal(res);
        provider.assertMayRead(principal);
        const { page, applied, rest } = parseHistoryPage(queryOf(req));
        const read = parseFhirRead(rest, handlingFor(req, res));
        const id = req.params.id;
        const found = await auditedRead(
          req,
          res,
          `${type}/${id}`,
          provider.isId(id) ? await history.tryHistory(principal, id, page) : undefined,
        );
        sendFhir(res, historyBundle(`${fhirBase()}/${type}/${id}`, found, read, applied), read.pretty);
      });
    }
  }

  for (const route of opts.routes) {
    const { method, path } = interactionRoute(route.interaction);
    if ('read' in route) {
      router[method](path, async (req, res) => {
        const read = parseFhirRead(queryOf(req), handlingFor(req, res));
        sendRead(res, read, await route.read(req, res));
      });
    } else {
      router[method](path, ...route.handlers);
    }
  }
  return router;
}

/**
 * After every router and the 405 with `Allow`: a request under `/fhir` that nothing served is a 404 saying what is
 * unknown (the resource type, the system-level interaction, or the interaction of a served type), as FHIR clients
 * expect from HAPI, instead of a bare "Not found".
 */
export function fhirNotServedHandler(
  providers: readonly FhirResourceProvider[],
  routes: readonly FhirRoute[],
): RequestHandler {
  const servedTypes = [
    ...new Set([...providers.map((p) => p.spec.resourceType), ...routes.map((r) => r.interaction.resourceType)]),
  ];
  return (req) => {
    throw new OperationOutcomeError(fhirNotServed(req.method, req.path, servedTypes));
  };
}
