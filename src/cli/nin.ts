// `kvalreg nin check NUMBER…`: for integration engineers, what the platform makes of identity
// numbers — valid or not, the kind, the rule that failed, and what is derived (birth date, sex) —
// by the same rules the capture applies (identity/nin.ts, capture/identity.ts), under the same
// deployment setting for test numbers. Needs no database and starts nothing: stdout carries the
// result and nothing else, and the numbers are written nowhere else.
import readline from 'node:readline';
import type { Config } from '../config.ts';
import { AUX_SYSTEM, checkIdentifier, DNR_SYSTEM, FHN_SYSTEM, FNR_SYSTEM, HNR_SYSTEM, type IdentifierCheck } from '../capture/identity.ts';
import { isTestKind, NIN_KIND_NAMES, parseNin, type NinKind } from '../identity/nin.ts';

/** The short names `--system` takes, beside the identifier system URIs themselves. */
export const SYSTEM_NAMES: Record<string, string> = { fnr: FNR_SYSTEM, dnr: DNR_SYSTEM, fhn: FHN_SYSTEM, hnr: HNR_SYSTEM, aux: AUX_SYSTEM };

export interface NinCheck {
  /** The number as given (trimmed). */
  input: string;
  /** valid: the platform accepts it; invalid: it breaks a rule of its kind; refused: well formed, but not accepted here (a test number, the wrong system). */
  status: 'valid' | 'invalid' | 'refused';
  kind: string | null;
  kindName: string | null;
  /** The rule that failed (e.g. nin:check-digit-2, nin:test-number, nin:system-mismatch). */
  rule: string | null;
  message: string | null;
  birthDate: string | null;
  sex: 'male' | 'female' | null;
  /** Valid only under the check-digit rule for numbers issued from 2032 (no sex, no century). */
  rule2032: boolean;
  notes: string[];
}

const name = (kind: string) =>
  kind in NIN_KIND_NAMES ? NIN_KIND_NAMES[kind as NinKind].en : kind === 'auxiliary' ? 'auxiliary number issued by the registry' : kind;

/** Checks one number, under `system` if given (a URI or a short name), else by its digits alone. */
export function checkNumber(input: string, opts: { system?: string; allowTestIdentities: boolean; today?: Date }): NinCheck {
  const value = input.trim();
  const base: NinCheck = {
    input: value,
    status: 'invalid',
    kind: null,
    kindName: null,
    rule: null,
    message: null,
    birthDate: null,
    sex: null,
    rule2032: false,
    notes: [],
  };
  const parsed = parseNin(value, { today: opts.today });
  const system = opts.system ? (SYSTEM_NAMES[opts.system] ?? opts.system) : undefined;
  const derived = (kind: string, p: typeof parsed) => {
    const out: NinCheck = { ...base, status: 'valid', kind, kindName: name(kind) };
    if (p.ok) Object.assign(out, { birthDate: p.birthDate, sex: p.sex, rule2032: p.rule2032 });
    if (kind === 'fhn') out.notes.push('an FH-number carries no birth date or sex; none is derived');
    if (kind === 'hnr')
      out.notes.push(
        'birth date and sex as the assigning institution encoded them (may be estimates); captured only with identifier.type HNR and its assigner',
      );
    if (p.ok && p.kind === 'hnr' && !system) out.notes.push('the same digits are a test number when sent as a fødselsnummer or D-number');
    if (p.ok && p.rule2032)
      out.notes.push('valid only under the check-digit rule for numbers issued from 2032: no sex, and the century is unknown');
    return out;
  };
  if (system === HNR_SYSTEM) {
    if (!parsed.ok) return { ...base, rule: `nin:${parsed.code}`, message: parsed.message };
    if (parsed.kind !== 'hnr')
      return {
        ...base,
        status: 'refused',
        kind: parsed.kind,
        kindName: name(parsed.kind),
        rule: 'nin:system-mismatch',
        message: `a local H-number has 40 added to the month; this is a ${name(parsed.kind)}`,
      };
    return derived('hnr', parsed);
  }
  if (system) {
    const checked: IdentifierCheck | null = checkIdentifier(system, value, 'value', opts);
    if (checked === null)
      return {
        ...base,
        rule: 'system',
        message: `"${opts.system}" is not an identifier system for persons; use fnr, dnr, fhn, hnr, aux or ${FNR_SYSTEM} …`,
      };
    if (checked.ok) return derived(checked.kind, parsed);
    const p = checked.parsed;
    const kind = p?.ok ? p.kind : null;
    return {
      ...base,
      status: p?.ok ? 'refused' : 'invalid',
      kind,
      kindName: kind ? name(kind) : null,
      rule: checked.issue.rule ?? null,
      message: checked.issue.diagnostics,
      ...(p?.ok ? { birthDate: p.birthDate, sex: p.sex, rule2032: p.rule2032 } : {}),
    };
  }
  // By the digits alone.
  if (!parsed.ok) {
    if (parsed.code === 'auxiliary-number') return derived('auxiliary', parsed);
    return { ...base, rule: `nin:${parsed.code}`, message: parsed.message };
  }
  if (isTestKind(parsed.kind) && !opts.allowTestIdentities) {
    return {
      ...derived(parsed.kind, parsed),
      status: 'refused',
      rule: 'nin:test-number',
      message:
        'a synthetic test number (month + 80): no real patient has one, and this deployment does not accept test numbers (KVALREG_ALLOW_TEST_IDENTITIES is not set)',
    };
  }
  return derived(parsed.kind, parsed);
}

/** One line for people: the number, the verdict, the kind, what is derived or which rule failed. */
export function formatLine(c: NinCheck): string {
  const parts = [c.input, c.status];
  if (c.kind) parts.push(`${c.kind} (${c.kindName})`);
  if (c.status === 'valid' || c.birthDate || c.sex) {
    const born = c.birthDate ? `born ${c.birthDate}` : 'birth date not derived';
    parts.push(`${born}, ${c.sex ?? 'sex not derived'}`);
  }
  if (c.rule) parts.push(`rule ${c.rule}: ${c.message}`);
  if (c.status === 'valid' && c.notes.length) parts.push(`(${c.notes.join('; ')})`);
  return parts.join('  ');
}

async function readStdin(): Promise<string[]> {
  const lines: string[] = [];
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) if (line.trim()) lines.push(line.trim());
  return lines;
}

/** The command: prints one line (or one JSON object) per number; exit code 1 when any is not valid. */
export async function ninCheckCommand(config: Config, numbers: string[], o: { format?: string; system?: string }): Promise<void> {
  const format = o.format ?? 'text';
  if (format !== 'text' && format !== 'json') throw new Error('--format must be text or json');
  if (o.system && !SYSTEM_NAMES[o.system] && !Object.values(SYSTEM_NAMES).includes(o.system)) {
    throw new Error(`--system must be one of ${Object.keys(SYSTEM_NAMES).join(', ')} or an identifier system URI (${FNR_SYSTEM}, …)`);
  }
  let inputs = numbers.filter((n) => n !== '-');
  if (numbers.length === 0 || numbers.includes('-')) {
    // Numbers on standard input keep them out of the shell history and the process list.
    if (numbers.length === 0 && process.stdin.isTTY)
      throw new Error('give the numbers to check, or - to read them from standard input (one per line)');
    inputs = [...inputs, ...(await readStdin())];
  }
  let bad = 0;
  for (const input of inputs) {
    const c = checkNumber(input, { system: o.system, allowTestIdentities: config.allowTestIdentities });
    if (c.status !== 'valid') bad++;
    process.stdout.write(`${format === 'json' ? JSON.stringify(c) : formatLine(c)}\n`);
  }
  if (bad) process.exitCode = 1;
}
