import { notFound, OperationOutcomeError } from '@medplum/core';
import express, { Router, type Request, type RequestHandler, type Response } from 'express';
import { auditRead } from './audit-read';
import { unsupportedMediaType } from '../kernel/fhir/outcomes';
import type { PipelineContext } from '../event/context';
import { auditEventProvider } from '../reports/audit-search/audit-event-provider';
import { consentProvider } from '../reports/consent-search/consent-search';
import {
  capabilityStatement,
  interactionRoute,
  type FhirInteraction,
} from '../reports/fhir-search/capability-statement';
import { failParameter, handlingOf, JSON_FORMATS, parseFhirSearch } from '../reports/fhir-search/parse-search';
import type { FhirResourceProvider } from '../reports/fhir-search/resource-provider';
import { toSearchset } from '../reports/fhir-search/searchset';
import { sealSearchLink, unsealSearchLink } from '../reports/fhir-search/page-token';
import { getPrincipal } from '../access/authenticate';
import { FORM_BODY_LIMIT, FORM_MEDIA_TYPE } from './text-guard';
import packageJson from '../../package.json';

const FHIR_JSON = 'application/fhir+json';
const FORM = FORM_MEDIA_TYPE;

/**
 * The resource types served under `/fhir` with read and search on the shared machinery. A new searchable type
 * (MeasureReport) is one provider here; routes, CapabilityStatement and OpenAPI follow.
 */
export function fhirProviders(ctx: Pick<PipelineContext, 'db'>): FhirResourceProvider[] {
  return [auditEventProvider(ctx.db), consentProvider(ctx.db)];
}

/**
 * A `/fhir` route outside the providers' read and search (the monitoring Measure, the municipality's Task): the
 * router mounts it at the path its interaction says and the CapabilityStatement declares that interaction, so
 * neither can be there without the other.
 */
export interface FhirRoute {
  readonly interaction: FhirInteraction;
  /** After authentication: the role check, then the handler. */
  readonly handlers: readonly RequestHandler[];
}

export interface FhirRouterOptions {
  /** Authentication and rate limit: everything but `/metadata`, which FHIR clients read before logging in. */
  readonly authenticated: readonly RequestHandler[];
  /** The routes besides the providers'. */
  readonly routes: readonly FhirRoute[];
  /** The configured `PUBLIC_BASE_URL` (or the derived default), without a trailing slash. */
  readonly publicBaseUrl: () => string;
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
  const router = Router();
  const fhirBase = (): string => `${opts.publicBaseUrl()}/fhir`;
  const startedAt = new Date().toISOString();

  router.get('/metadata', (req, res) => {
    // As the searches answer it: a client asking for XML must not take JSON for the format it asked for.
    const format = typeof req.query._format === 'string' ? req.query._format : undefined;
    if (format !== undefined && !JSON_FORMATS.includes(format)) {
      failParameter('_format: only JSON is served', '_format');
    }
    res.type(FHIR_JSON).json(
      capabilityStatement(
        providers,
        opts.routes.map((r) => r.interaction),
        {
          fhirBase: fhirBase(),
          version: packageJson.version,
          corsEnabled: ctx.config.CORS_ORIGINS !== undefined,
          date: startedAt,
        },
      ),
    );
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
      const handling = handlingOf(req.get('prefer'));
      const search = parseFhirSearch(provider.spec, params, handling);
      const page = await provider.search(principal, search);
      await auditRead(ctx, req, res, {
        query,
        interaction: 'search',
        patientBsn: page.patientBsn,
        tenants: page.tenants,
      });
      if (req.get('prefer')?.includes('handling')) {
        res.set('Preference-Applied', `handling=${handling}`);
      }
      // A search that came in a body (or from a sealed link) keeps its parameters out of the links' URLs too.
      const seal = from === 'body' ? sealSearchLink.bind(undefined, ctx.cipher) : undefined;
      res.type(FHIR_JSON).json(toSearchset(fhirBase(), search, page, seal));
    }

    router.get(`/${type}`, async (req, res) => {
      const params = new URL(req.originalUrl, 'http://localhost').searchParams;
      const restored = unsealSearchLink(ctx.cipher, params);
      if (restored === params) {
        await search(req, res, params, req.originalUrl, 'url');
      } else {
        await search(req, res, restored, `/fhir/${type}?${restored.toString()}`, 'body');
      }
    });

    // FHIR's POST search: the parameters as a form body (and any in the URL), for queries too long or too
    // sensitive for a URL. The audit record keeps them as the equivalent GET query.
    router.post(`/${type}/_search`, express.text({ type: FORM, limit: FORM_BODY_LIMIT }), async (req, res) => {
      const mediaType = (req.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
      if (mediaType !== FORM) {
        throw new OperationOutcomeError(unsupportedMediaType(mediaType, [FORM]));
      }
      const params = new URL(req.originalUrl, 'http://localhost').searchParams;
      for (const [name, value] of new URLSearchParams(typeof req.body === 'string' ? req.body : '')) {
        params.append(name, value);
      }
      await search(req, res, params, `/fhir/${type}?${params.toString()}`, 'body');
    });

    router.get(`/${type}/:id`, async (req, res) => {
      const principal = getPrincipal(res);
      provider.assertMayRead(principal);
      const id = req.params.id;
      const found = provider.isId(id) ? await provider.tryRead(principal, id) : undefined;
      if (!found) {
        throw new OperationOutcomeError(notFound);
      }
      await auditRead(ctx, req, res, {
        query: req.originalUrl,
        interaction: 'read',
        target: `${type}/${id}`,
        patientBsn: found.patientBsn,
        tenants: [found.tenant],
        ...(found.inScope ? {} : { outcome: '4' as const, outcomeDesc: 'not within the caller’s scope' }),
      });
      if (!found.inScope) {
        // Out of scope looks like absent: a caller must not learn which ids exist in other practices' data.
        throw new OperationOutcomeError(notFound);
      }
      res.type(FHIR_JSON).json(found.resource);
    });
  }
  for (const { interaction, handlers } of opts.routes) {
    const { method, path } = interactionRoute(interaction);
    router[method](path, ...handlers);
  }
  return router;
}
