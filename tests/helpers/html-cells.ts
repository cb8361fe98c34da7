/** The text of each cell of the table row whose row header is `header` (a regular expression source). */
export function cellsOfRow(html: string, header: string): string[] {
  const row = new RegExp(`<th scope="row">${header}</th>((?:\\s*<td[^>]*>[^<]*</td>)+)`).exec(html);
  return [...(row?.[1] ?? '').matchAll(/<td[^>]*>([^<]*)<\/td>/g)].map((c) => c[1] ?? '');
}

/** The `<section class="measure">` of the monitoring page whose heading is `title`, or '' when there is none. */
export function measureSection(html: string, title: string): string {
  return html.split('<section class="measure">').find((s) => s.includes(`<h2>${title}</h2>`)) ?? '';
}
