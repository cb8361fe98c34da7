import type { MeasureReport } from '@medplum/fhirtypes';
import type { GroupCode } from '../../reports/monitoring/measure';
import {
  measureWords,
  reportRows,
  rowWords,
  savingInputsOf,
  type ReportRow,
  type SavingInputs,
} from '../../reports/monitoring/report-table';
import { REPORT_EXTENSION } from '../../reports/monitoring/measure-report';
import { html, type SafeHtml } from './html';
import { formatNumber, t, type Lang, type MessageKey } from './i18n';
import { table } from './layout';

/**
 * What a group's score is, for the groups that have one: its label, and whether each stratum has its own (the
 * waiting intervals' medians) rather than the group one for all.
 */
const SCORES: Partial<Record<GroupCode, { readonly label: MessageKey; readonly perStratum: boolean }>> = {
  'not-counted': { label: 'scoreCompleteness', perStratum: false },
  'contacts-per-trajectory': { label: 'scoreMean', perStratum: false },
  'contacts-median': { label: 'scoreMedianContacts', perStratum: false },
  'contact-time': { label: 'scoreHours', perStratum: false },
  'waiting-days': { label: 'scoreMedianDays', perStratum: true },
  'estimated-saving': { label: 'scoreSaving', perStratum: false },
};

const NO_FIGURE = '–';

/** A figure as the page shows it. */
interface Figure {
  readonly text: string;
  readonly withheld: boolean;
}

/**
 * One figure: the number; "withheld" where the report masks it (small numbers, or what would give one away); "–"
 * where the report has no figure at all (a median over no intervals). Never 0 for either: 0 is a count of none.
 */
function figure(lang: Lang, value: number | undefined, withheld: boolean, unit = ''): Figure {
  if (value !== undefined) {
    // An amount of money with its cents (-71.950,72), any other figure with the decimals it has (a mean of 1,5).
    return { text: formatNumber(lang, value, unit === 'EUR' ? 2 : undefined), withheld: false };
  }
  return withheld ? { text: t(lang, 'withheld'), withheld: true } : { text: NO_FIGURE, withheld: false };
}

function figureCell(f: Figure): SafeHtml {
  return f.withheld ? html`<td class="withheld">${f.text}</td>` : html`<td>${f.text}</td>`;
}

/** A chart's bar: the figure as in the table, and the number to draw (none for a withheld or absent figure). */
interface Bar {
  readonly name: string;
  readonly value: number | undefined;
  readonly figure: Figure;
}

/**
 * The chart's measures, in its own pixels (drawn 1:1, so its 12px text stays 12px): each row is a label line with
 * the bar under it, so a long label has the whole width and never runs over a bar or a value.
 */
const CHART = { width: 480, row: 40, label: 13, barTop: 18, bar: 14, barMax: 380, gap: 6 } as const;
/** About what fits on a label line at 12px; a longer label ends in "…" and has the whole name as its tooltip. */
const LABEL_CHARS = 70;

/** A horizontal bar chart as inline SVG (attributes only, no inline style, so the CSP holds); no bar for a gap. */
function bars(title: string, items: readonly Bar[]): SafeHtml {
  const max = Math.max(1, ...items.map((i) => i.value ?? 0));
  const height = items.length * CHART.row;
  return html`<figure class="chart">
    <svg
      role="img"
      aria-label="${title}"
      viewBox="0 0 ${CHART.width} ${height}"
      width="${CHART.width}"
      height="${height}"
    >
      ${items.map((item, i) => {
        const top = i * CHART.row;
        const width = item.value === undefined ? 0 : Math.round((Math.max(0, item.value) / max) * CHART.barMax);
        const short = item.name.length > LABEL_CHARS ? `${item.name.slice(0, LABEL_CHARS - 1).trimEnd()}…` : item.name;
        return html`<text x="0" y="${top + CHART.label}" class="bar-label"
            >${short === item.name ? '' : html`<title>${item.name}</title>`}${short}</text
          >
          ${
            item.value === undefined
              ? ''
              : html`<rect x="0" y="${top + CHART.barTop}" width="${width}" height="${CHART.bar}" class="bar"></rect>`
          }
          <text
            x="${width + CHART.gap}"
            y="${top + CHART.barTop + CHART.bar - 2}"
            class="bar-value"
            ${item.figure.withheld ? html` data-withheld="true" font-style="italic"` : ''}
            >${item.figure.text}</text
          >`;
      })}
    </svg>
    <figcaption>${title}</figcaption>
  </figure>`;
}

/** One stratifier of a group: a table of its strata (count, and score where each stratum has one) and a chart. */
function stratifierHtml(lang: Lang, group: ReportRow, strata: readonly ReportRow[], scoreLabel?: MessageKey): SafeHtml {
  // In the page's language: the English designations where the code tables have them, as the API's chart.
  const title = `${rowWords(group, lang)}: ${measureWords(strata[0]?.stratifier ?? '', lang)}`;
  const rows = strata.map((s) => ({
    name: rowWords(s, lang) || s.code,
    count: figure(lang, s.count, s.withheld),
    score: figure(lang, s.score, s.scoreWithheld, s.unit),
    row: s,
  }));
  const headers = [
    measureWords(strata[0]?.stratifier ?? '', lang),
    t(lang, 'count'),
    ...(scoreLabel ? [t(lang, scoreLabel)] : []),
  ];
  return html`${table(
    title,
    headers,
    rows.map(
      (r) =>
        html`<tr>
          <th scope="row">${r.name}</th>
          ${figureCell(r.count)}${scoreLabel ? figureCell(r.score) : ''}
        </tr>`,
    ),
    t(lang, 'none'),
  )}
  ${bars(
    scoreLabel ? `${title} — ${t(lang, scoreLabel)}` : title,
    rows.map((r) =>
      scoreLabel
        ? { name: r.name, value: r.row.score, figure: r.score }
        : { name: r.name, value: r.row.count, figure: r.count },
    ),
  )}`;
}

/**
 * One group: its own figures (count, score), then each stratifier. The saving shows q and the professional cost C
 * between p and p × q − C, so the page has all it is computed from; they are settings, never withheld.
 */
function groupHtml(lang: Lang, group: ReportRow, strata: readonly ReportRow[], inputs: SavingInputs): SafeHtml {
  const score = SCORES[group.group as GroupCode];
  const savingInputs =
    group.group === 'estimated-saving'
      ? [
          { name: measureWords('q', lang), value: figure(lang, inputs.q, false, 'EUR') },
          { name: measureWords('professional-cost', lang), value: figure(lang, inputs.professionalCost, false, 'EUR') },
        ]
      : [];
  // A group without a population (the waiting intervals) has no count of its own, only its strata's.
  const facts = [
    ...(group.code === ''
      ? []
      : [
          {
            name: group.code === 'initial-population' ? t(lang, 'count') : measureWords(group.code, lang),
            value: figure(lang, group.count, group.withheld),
          },
        ]),
    ...savingInputs,
    ...(score && !score.perStratum
      ? [{ name: t(lang, score.label), value: figure(lang, group.score, group.scoreWithheld, group.unit) }]
      : []),
  ];
  const stratifiers = [...new Set(strata.map((s) => s.stratifier))];
  return html`<section class="measure">
    <h2>${rowWords(group, lang) || group.group}</h2>
    ${
      facts.length > 0
        ? html`<dl class="facts">
            ${facts.map(
              (f) =>
                html`<dt>${f.name}</dt>
                  <dd class="${f.value.withheld ? 'score withheld' : 'score'}">${f.value.text}</dd>`,
            )}
          </dl>`
        : ''
    }
    ${stratifiers.map((code) =>
      stratifierHtml(
        lang,
        group,
        strata.filter((s) => s.stratifier === code),
        score?.perStratum ? score.label : undefined,
      ),
    )}
  </section>`;
}

/**
 * A MeasureReport as tables and bar charts: one section per group, a table and a chart per stratifier, withheld
 * cells as withheld (explained once, above the figures). Read through `reportRows`, as the API's CSV and chart
 * read it, so the page can only show what the report has.
 */
export function measureReportHtml(lang: Lang, report: MeasureReport): SafeHtml {
  const rows = reportRows(report);
  const k = report.extension?.find((e) => e.url === REPORT_EXTENSION.k)?.valueInteger;
  const groups = rows.filter((r) => r.stratifier === '');
  const inputs = savingInputsOf(report);
  return html`<p class="withheld-note">${t(lang, 'withheldNote', k === undefined ? 'k − 1' : k - 1)}</p>
    ${groups.map((g) =>
      groupHtml(
        lang,
        g,
        rows.filter((r) => r.group === g.group && r.stratifier !== ''),
        inputs,
      ),
    )}`;
}
