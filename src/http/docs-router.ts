import path from 'node:path';
import express, { type Router } from 'express';
import { exactRouter } from './exact-routing';
import type { FhirResourceProvider } from '../reports/fhir-search/resource-provider';
import { openApiDocument } from './openapi/document';
import { strictCsp } from './content-security-policy';

/** Swagger UI's files, from the npm package: served by this process, so the page needs no CDN. */
const SWAGGER_UI_DIR = path.dirname(require.resolve('swagger-ui-dist/package.json'));

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>jeugdbrug API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

// A file of its own rather than an inline script, which the CSP refuses. The base layout, without the standalone
// preset: that preset's top bar draws its logo with an inline <style> element, which the CSP refuses too.
const INIT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
    validatorUrl: null,
  });
});
`;

/** The console's policy; Swagger UI's stylesheet draws its icons as data: images. */
const CSP = strictCsp({ img: ['data:'] });

export interface DocsOptions {
  readonly providers: readonly FhirResourceProvider[];
  readonly publicBaseUrl: () => string;
  readonly version: string;
}

/** `/openapi.json` and the documentation page `/docs` (Swagger UI). Public: they describe, they hold no data. */
export function docsRouter(opts: DocsOptions): Router {
  const router = exactRouter();
  router.use(['/docs', '/openapi.json'], (_req, res, next) => {
    res.set('Content-Security-Policy', CSP);
    next();
  });
  let document: ReturnType<typeof openApiDocument> | undefined;

  router.get('/openapi.json', (_req, res) => {
    // Built once, on first use: the base URL is known only after the port is bound.
    document ??= openApiDocument({
      providers: opts.providers,
      publicBaseUrl: opts.publicBaseUrl(),
      version: opts.version,
    });
    res.json(document);
  });
  router.get('/docs', (_req, res) => {
    res.type('html').send(PAGE);
  });
  router.get('/docs/init.js', (_req, res) => {
    res.type('text/javascript').send(INIT);
  });
  router.use('/docs/assets', express.static(SWAGGER_UI_DIR, { index: false, maxAge: '1h' }));
  return router;
}
