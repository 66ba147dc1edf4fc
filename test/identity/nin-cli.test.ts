// `kvalreg nin check` (issue 11): what the platform makes of identity numbers, for integration
// engineers — per number: valid or not, the kind, the rule that failed, what is derived. Run as
// the real command, in a process of its own with no test-number switch (production's setting):
// stdout must hold the results and nothing else.
// Reference values: 02016126007 (woman born 1961-01-02) is matematikk.org's published example
// (see nin.test.ts); 88888888831 is the FH-number example of the registries' R package
// (Rapporteket/rapwhale, R/fodselsnummer-funksjoner.R); the rule for FH-numbers is Norsk
// Helsenett's (https://nhn.no/hva-er-felles-hjelpenummer/). The others are generated here.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dated, seeded } from '../helpers/numbers.ts';

const run = async (args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}) => {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.KVALREG_ALLOW_TEST_IDENTITIES;
  Object.assign(env, opts.env ?? {});
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      [path.resolve('bin/kvalreg.js'), 'nin', 'check', ...args],
      { env, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
    if (opts.input !== undefined) {
      child.stdin!.write(opts.input);
      child.stdin!.end();
    } else child.stdin!.end();
  });
};

const random = seeded(99);
const synthetic = dated('1985-02-14', 'male', random, { month: 80 });
const hnumber = dated('1985-02-14', 'male', random, { month: 40 });

describe('kvalreg nin check', () => {
  it('prints one line per number with the verdict, kind, rule and what is derived — and nothing else', { timeout: 120_000 }, async () => {
    const r = await run(['02016126007', '02016126008', '88888888831', synthetic, hnumber, '1234']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1); // not every number is valid
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[0]).toBe('02016126007  valid  fnr (fødselsnummer (national identity number))  born 1961-01-02, female');
    expect(lines[1]).toBe(
      '02016126008  invalid  rule nin:check-digit-2: check digit 2 (digit 11) is wrong: expected 7, got 8 — check the number for typing errors',
    );
    expect(lines[2]).toBe(
      '88888888831  valid  fhn (felles hjelpenummer (FH-number))  birth date not derived, sex not derived  (an FH-number carries no birth date or sex; none is derived)',
    );
    expect(lines[3]).toMatch(
      new RegExp(
        `^${synthetic}  refused  synthetic-fnr \\(synthetic test number\\)  born 1985-02-14, male  rule nin:test-number: .*KVALREG_ALLOW_TEST_IDENTITIES is not set`,
      ),
    );
    expect(lines[4]).toMatch(
      new RegExp(
        `^${hnumber}  valid  hnr \\(local H-number\\)  born 1985-02-14, male  \\(.*the same digits are a test number when sent as a fødselsnummer or D-number\\)$`,
      ),
    );
    expect(lines[5]).toMatch(/^1234  invalid  rule nin:invalid-length: an identity number has 11 digits, but 4 were given/);
  });

  it(
    "checks under an identifier system, writes JSON lines, reads numbers from standard input, and follows the deployment's switch",
    { timeout: 180_000 },
    async () => {
      const r = await run(['--system', 'fhn', '--format', 'json', '-'], { input: `${hnumber}\n88888888831\n` });
      expect(r.stderr).toBe('');
      const [h, fh] = r.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(h).toMatchObject({ input: hnumber, status: 'refused', kind: 'hnr', rule: 'nin:system-mismatch' });
      expect(h.message).toMatch(/identifier\.type HNR/);
      expect(fh).toEqual({
        input: '88888888831',
        status: 'valid',
        kind: 'fhn',
        kindName: 'felles hjelpenummer (FH-number)',
        rule: null,
        message: null,
        birthDate: null,
        sex: null,
        rule2032: false,
        notes: ['an FH-number carries no birth date or sex; none is derived'],
      });
      const allowed = await run(['--system', 'fnr', synthetic, hnumber], { env: { KVALREG_ALLOW_TEST_IDENTITIES: '1' } });
      expect(allowed.code).toBe(0);
      expect(
        allowed.stdout
          .trimEnd()
          .split('\n')
          .map((l) => l.split('  ').slice(1, 3).join(' ')),
      ).toEqual(['valid synthetic-fnr (synthetic test number)', 'valid synthetic-fnr (synthetic test number)']);
      const bad = await run(['--system', 'nope', '02016126007']);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toBe('');
      expect(bad.stderr).toMatch(/--system must be one of fnr, dnr, fhn, hnr, aux/);
    },
  );
});
