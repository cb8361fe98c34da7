/**
 * The Content-Security-Policy of the pages this server renders (the console, the API docs): scripts, styles and
 * connections only from this server, no inline script or style, no plug-ins, never framed. `img` adds image
 * sources (Swagger UI's stylesheet draws its icons as `data:` images).
 */
export function strictCsp(opts: { readonly img?: readonly string[] } = {}): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    ["img-src 'self'", ...(opts.img ?? [])].join(' '),
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}
