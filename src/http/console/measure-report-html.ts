import type { MeasureReport } from '@medplum/fhirtypes';
import { html, type SafeHtml } from './html';

const label = (c: { text?: string; coding?: { display?: string; code?: string }[] } | undefined): string =>
  c?.text ?? c?.coding?.[0]?.display ?? c?.coding?.[0]?.code ?? '';

/** One number of a group or stratum: its measure score, else its first population's count. */
function valueOf(x: { measureScore?: { value?: number }; population?: { count?: number }[] }): number | undefined {
  return x.measureScore?.value ?? x.population?.[0]?.count;
}

/** A horizontal bar chart as inline SVG (attributes only, no inline style, so the CSP holds). */
function bars(title: string, items: readonly { name: string; value: number }[]): SafeHtml {
  const max = Math.max(1, ...items.map((i) => i.value));
  const height = items.length * 24 + 8;
  return html`<figure class="chart">
    <svg role="img" aria-label="${title}" viewBox="0 0 400 ${height}" width="100%" height="${height}">
      ${items.map(
        (item, i) =>
          html`<text x="0" y="${i * 24 + 18}" class="bar-label">${item.name}</text>
            <rect
              x="160"
              y="${i * 24 + 6}"
              width="${Math.round((item.value / max) * 200)}"
              height="16"
              class="bar"
            ></rect>
            <text x="${166 + Math.round((item.value / max) * 200)}" y="${i * 24 + 18}" class="bar-value"
              >${item.value}</text
            >`,
      )}
    </svg>
    <figcaption>${title}</figcaption>
  </figure>`;
}

/** A MeasureReport as tables and bar charts: one per group, its strata as rows. */
export function measureReportHtml(report: MeasureReport): SafeHtml {
  return html`${(report.group ?? []).map((g) => {
    const title = label(g.code);
    const strata = (g.stratifier ?? []).flatMap((s) =>
      (s.stratum ?? []).map((st) => ({ name: `${label(s.code?.[0])}: ${label(st.value)}`, value: valueOf(st) ?? 0 })),
    );
    return html`<section class="measure">
      <h2>${title}</h2>
      <p class="score">${valueOf(g) ?? '–'}</p>
      ${
        strata.length > 0
          ? html`<table>
                <caption>
                  ${title}
                </caption>
                <tbody>
                  ${strata.map(
                    (s) =>
                      html`<tr>
                        <th scope="row">${s.name}</th>
                        <td>${s.value}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
              ${bars(title, strata)}`
          : ''
      }
    </section>`;
  })}`;
}
