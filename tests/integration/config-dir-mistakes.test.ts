import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { reviewConfiguration } from '../../src/event/config-check';
import { isLocalHost } from '../../src/contracts/destination';

const ROOT = path.resolve(__dirname, '../..');

/** A copy of the shipped config/ that a test may change; config:check's problems for it. */
function shippedCopy(dir: string, name: string): string {
  const copy = path.join(dir, name);
  fs.cpSync(path.join(ROOT, 'config'), copy, { recursive: true });
  return copy;
}

function problemsFor(dir: string, configDir: string): string[] {
  // TOKEN_SECRET: the client secret that an OAuth endpoint's file names, set as a deployment would.
  return reviewConfiguration({ CONFIG_DIR: configDir, DATA_DIR: path.join(dir, 'data'), TOKEN_SECRET: 'secret' })
    .problems;
}

function editFile(file: string, edit: (content: Record<string, unknown>) => void): void {
  const content = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(content);
  fs.writeFileSync(file, JSON.stringify(content, null, 2));
}

function editDestination(configDir: string, edit: (destination: Record<string, unknown>) => void): void {
  editFile(path.join(configDir, 'destinations/demo-overbetuwe.json'), edit);
}

function editPractice(configDir: string, edit: (practice: Record<string, unknown>) => void): void {
  editFile(path.join(configDir, 'practices/demo-de-linde.json'), edit);
}

describe('config:check on a CONFIG_DIR that is empty, wrong, or sends in cleartext', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-config-dir-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('passes the shipped configuration', () => {
    expect(problemsFor(dir, path.join(ROOT, 'config'))).toEqual([]);
  });

  it('refuses an empty CONFIG_DIR: every referral would be denied no-agreement', () => {
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty);
    const problems = problemsFor(dir, empty);
    expect(problems).toEqual([
      expect.stringMatching(new RegExp(`^${path.join(empty, 'agreements')} no agreements: nothing could be shared`)),
      expect.stringMatching(
        new RegExp(`^${path.join(empty, 'destinations')} no destinations: nothing could be shared`),
      ),
    ]);
  });

  it('refuses a CONFIG_DIR one level too high (the files are one level down)', () => {
    const above = path.join(dir, 'above');
    fs.mkdirSync(above);
    shippedCopy(above, 'config');
    expect(problemsFor(dir, above)).toEqual([
      expect.stringContaining('no agreements:'),
      expect.stringContaining('no destinations:'),
    ]);
  });

  it('names only the syntax error when a destination file does not parse, not a missing destination', () => {
    const broken = shippedCopy(dir, 'broken');
    const file = path.join(broken, 'destinations/demo-overbetuwe.json');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"baseUrl"', '"baseUrl" "x":'));
    const problems = problemsFor(dir, broken);
    expect(problems.some((p) => p.startsWith(`${file}:`) && p.includes('JSON syntax error'))).toBe(true);
    expect(problems.filter((p) => p.includes('no destination for GM0226'))).toEqual([]);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/the destination for GM0226 \(.*\) does not parse: see its problems/),
      ]),
    );
  });

  it('refuses plain http:// to a host on the internet, unless the file says allowPlainHttp', () => {
    const cleartext = shippedCopy(dir, 'cleartext');
    editDestination(cleartext, (d) => {
      d.baseUrl = 'http://gm0226.example.nl/fhir';
    });
    expect(problemsFor(dir, cleartext)).toEqual([
      expect.stringMatching(
        /destinations\/demo-overbetuwe\.json:\d+:\d+ baseUrl: plain http:\/\/ to gm0226\.example\.nl/,
      ),
      expect.stringMatching(/agreements\/demo-overbetuwe\.json:\d+:\d+ .*the destination for GM0226 .* is invalid/),
    ]);
    editDestination(cleartext, (d) => {
      d.allowPlainHttp = true;
    });
    expect(problemsFor(dir, cleartext)).toEqual([]);
    editDestination(cleartext, (d) => {
      d.baseUrl = 'https://gm0226.example.nl/fhir';
      delete d.allowPlainHttp;
    });
    expect(problemsFor(dir, cleartext)).toEqual([]);
  });

  // Only a destination's baseUrl was checked: a practice's HIS endpoint (feedback names the child by BSN) and an OAuth
  // token URL (the client secret goes there) could be plain http:// to any host.
  it('refuses plain http:// to a practice endpoint on the internet, unless its file says allowPlainHttp', () => {
    const cleartext = shippedCopy(dir, 'cleartext-practice');
    editPractice(cleartext, (p) => {
      p.baseUrl = 'http://his.example.nl/fhir';
    });
    expect(problemsFor(dir, cleartext)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/practices\/demo-de-linde\.json:\d+:\d+ baseUrl: plain http:\/\/ to his\.example\.nl/),
      ]),
    );
    editPractice(cleartext, (p) => {
      p.allowPlainHttp = true;
    });
    expect(problemsFor(dir, cleartext)).toEqual([]);
    editPractice(cleartext, (p) => {
      p.baseUrl = 'http://his/fhir';
      delete p.allowPlainHttp;
    });
    expect(problemsFor(dir, cleartext)).toEqual([]);
  });

  it.each([
    ['destination', editDestination, /destinations\/demo-overbetuwe\.json:\d+:\d+ auth\.tokenUrl: plain http:\/\//],
    ['practice endpoint', editPractice, /practices\/demo-de-linde\.json:\d+:\d+ auth\.tokenUrl: plain http:\/\//],
  ])("refuses a %s's OAuth token URL in plain http:// to the internet, unless allowPlainHttp", (_, edit, problem) => {
    const cleartext = shippedCopy(dir, `cleartext-token-${_.replace(' ', '-')}`);
    const oauth = (tokenUrl: string) => (e: Record<string, unknown>) => {
      e.auth = { type: 'oauth2-client-credentials', tokenUrl, clientId: 'jeugdbrug', clientSecretEnv: 'TOKEN_SECRET' };
    };
    edit(cleartext, oauth('http://login.example.nl/token'));
    const problems = problemsFor(dir, cleartext);
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(problem)]));
    expect(problems.join('\n')).toContain('client secret');
    edit(cleartext, oauth('http://127.0.0.1:9090/token'));
    expect(problemsFor(dir, cleartext)).toEqual([]);
    edit(cleartext, oauth('https://login.example.nl/token'));
    expect(problemsFor(dir, cleartext)).toEqual([]);
    edit(cleartext, (e) => {
      oauth('http://login.example.nl/token')(e);
      e.allowPlainHttp = true;
    });
    expect(problemsFor(dir, cleartext)).toEqual([]);
  });

  it.each([
    ['127.0.0.1', true],
    ['localhost', true],
    ['[::1]', true],
    ['10.1.2.3', true],
    ['172.20.0.5', true],
    ['192.168.1.10', true],
    ['[fd00::1]', true],
    ['municipality', true],
    ['172.32.0.1', false],
    ['8.8.8.8', false],
    ['gm0226.example.nl', false],
    ['[2001:db8::1]', false],
  ])('takes %s for a local host: %s', (host, local) => {
    expect(isLocalHost(host)).toBe(local);
  });
});
