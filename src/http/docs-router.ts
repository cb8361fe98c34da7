import path from 'node:path';
import express, { Router } from 'express';
import type { FhirResourceProvider } from '../reports/fhir-search/resource-provider';
import { openApiDocument } from './openapi/document';

/** Swagger UI's files, from the npm package: served by this process, so the page needs no CDN and no relaxed CSP. */
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
<script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

// A file of its own rather than an inline script: helmet's CSP (script-src 'self') allows no inline scripts.
const INIT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: 'StandaloneLayout',
  });
});
`;

export interface DocsOptions {
  readonly providers: readonly FhirResourceProvider[];
  readonly publicBaseUrl: () => string;
  readonly version: string;
}

/** `/openapi.json` and the documentation page `/docs` (Swagger UI). Public: they describe, they hold no data. */
export function docsRouter(opts: DocsOptions): Router {
  const router = Router();
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
