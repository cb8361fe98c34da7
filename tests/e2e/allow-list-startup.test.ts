import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkAllowListPaths, loadFhirElementIndex } from '../../src/policy/allow-list-paths';
import { exited, spawnProduct } from '../helpers/product-process';

const SHIPPED_AGREEMENT = path.join(__dirname, '../../config/agreements/demo-overbetuwe.json');

describe('agreement allow-lists are checked against FHIR at start-up', () => {
  it('refuses to start with a misspelt allow-list path, naming the file and the path', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-allow-list-'));
    try {
      const configDir = path.join(dataDir, 'config');
      fs.cpSync(path.join(__dirname, '../../config'), configDir, { recursive: true });
      const file = path.join(configDir, 'agreements', 'demo-overbetuwe.json');
      const agreement = JSON.parse(fs.readFileSync(file, 'utf8')) as {
        dataClasses: { ServiceRequest: { fields: string[] } };
      };
      agreement.dataClasses.ServiceRequest.fields[1] = 'stauts';
      fs.writeFileSync(file, JSON.stringify(agreement));
      const log = path.join(dataDir, 'out.log');
      const child = spawnProduct({ DATA_DIR: dataDir, CONFIG_DIR: configDir, PORT: '0', LOG_LEVEL: 'warn' }, log);
      expect(await exited(child)).not.toBe(0);
      const output = fs.readFileSync(log, 'utf8');
      // Start-up's configuration check names the file (with line and column) and the path.
      const escaped = file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      expect(output).toMatch(
        new RegExp(
          `${escaped}(:\\d+:\\d+ |: )dataClasses\\.ServiceRequest\\.fields\\[1\\]: ServiceRequest has no element 'stauts'`,
        ),
      );
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it.each([
    [['identifier', 'birthDate', 'deceasedBoolean'], []],
    [['birthdate'], ["Patient has no element 'birthdate' (did you mean 'birthDate'?)"]],
    [['https://jeugdbrug.nl/fhir/StructureDefinition/trajectory-outcome'], []],
    [['https://example.org/unknown-extension'], ['unknown extension https://example.org/unknown-extension']],
  ])('Patient fields %j → %j', (fields, messages) => {
    const problems = checkAllowListPaths(
      [{ file: 'a.json', agreement: { dataClasses: { Patient: { fields } } } }],
      loadFhirElementIndex(),
    );
    expect(problems.map((p) => p.message)).toEqual(messages);
  });

  it('accepts the shipped agreement', () => {
    const agreement = JSON.parse(fs.readFileSync(SHIPPED_AGREEMENT, 'utf8')) as Parameters<
      typeof checkAllowListPaths
    >[0][number]['agreement'];
    expect(checkAllowListPaths([{ file: SHIPPED_AGREEMENT, agreement }], loadFhirElementIndex())).toEqual([]);
  });
});
