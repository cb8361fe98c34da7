import type { MeasureReport } from '@medplum/fhirtypes';
import { measureReportHtml } from '../../../src/http/console/measure-report-html';

const report: MeasureReport = {
  resourceType: 'MeasureReport',
  status: 'complete',
  type: 'summary',
  measure: 'https://jeugdbrug.nl/fhir/Measure/monitoring',
  period: { start: '2026-01-01', end: '2026-06-30' },
  group: [
    {
      code: { text: 'Nieuwe trajecten' },
      population: [{ count: 42 }],
      stratifier: [
        {
          code: [{ text: 'Uitkomst' }],
          stratum: [
            { value: { text: 'afgesloten zonder verwijzing' }, population: [{ count: 30 }] },
            { value: { text: 'verwezen "extern"' }, population: [{ count: 12 }] },
          ],
        },
      ],
    },
  ],
};

describe('the municipality report page of a monitoring MeasureReport', () => {
  it('shows each group as a figure, a table of its strata and a bar chart', () => {
    const page = measureReportHtml(report).value;
    expect(page).toContain('<h2>Nieuwe trajecten</h2>');
    expect(page).toContain('<p class="score">42</p>');
    expect(page).toMatch(/<th scope="row">Uitkomst: afgesloten zonder verwijzing<\/th>\s*<td>30<\/td>/);
    expect(page).toContain('verwezen &quot;extern&quot;');
    expect(page).toMatch(/<svg role="img" aria-label="Nieuwe trajecten"/);
    expect(page).not.toContain('style=');
  });
});
