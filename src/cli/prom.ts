// `kvalreg prom …`: the platform's PROM scoring from the command line, for statisticians who want
// to check or reproduce a stored score. The same code scores every response the platform stores.
import fs from 'node:fs';
import { answersFromJson } from '../prom/answers.ts';
import { promSettings } from '../prom/config.ts';
import { loadInstruments } from '../prom/instruments.ts';
import { scoreResponse } from '../prom/scoring.ts';

/** The instruments and their scores, for `kvalreg prom score --help`. */
export function instrumentList(): string {
  try {
    const s = promSettings();
    const all = loadInstruments(s.instrumentsDir, { textsDir: s.textsDir });
    const lines = [...all.values()].map((i) => {
      const vs = i.def.valueSets.length
        ? `; value sets ${i.def.valueSets.map((v) => `${v.id}${v.status === 'unverified' ? ' (unverified)' : ''}`).join(', ')}`
        : '';
      return `  ${i.id.padEnd(10)} ${i.def.title.en} v${i.version}: ${[...i.scores.keys()].join(', ')}${vs}`;
    });
    return `\nInstruments (${s.instrumentsDir}):\n${lines.join('\n')}\n\nAnswers: a JSON object of linkId → answer code or number (e.g. {"q1": "2", "vas": 70}), a FHIR QuestionnaireResponse, or a file holding either.\n`;
  } catch (err) {
    return `\n(the instruments could not be loaded: ${(err as Error).message})\n`;
  }
}

export async function promScoreCommand(o: { instrument: string; answers: string; valueSet?: string }): Promise<void> {
  const s = promSettings();
  const all = loadInstruments(s.instrumentsDir, { textsDir: s.textsDir });
  const inst = all.get(o.instrument);
  if (!inst) throw new Error(`no instrument "${o.instrument}"; known: ${[...all.keys()].join(', ')}`);
  const text = o.answers.trim().startsWith('{') ? o.answers : fs.readFileSync(o.answers === '-' ? 0 : o.answers, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`--answers is not JSON (${(err as Error).message}); give a JSON object or a file holding one`);
  }
  const result = scoreResponse(inst, answersFromJson(json), { valueSet: o.valueSet });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  if (result.problems.length) {
    process.stderr.write(`kvalreg: ${result.problems.length} answer(s) could not be used:\n  ${result.problems.join('\n  ')}\n`);
    process.exitCode = 2;
  }
}
