import fs from 'node:fs';
import readline from 'node:readline';
import { SingleBar, Presets } from 'cli-progress';
import { cliLog } from './log.ts';
import type { Config } from '../config.ts';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { registryModule, type Registry } from '../registry/load.ts';
import { deathsToBundles } from '../capture/csv-deaths.ts';
import { flatAnswersToBundles } from '../prom/eprom.ts';
import { UNMATCHED } from '../prom/capture.ts';
import { startPlatform, type Platform } from '../platform.ts';

export interface ImportOptions {
  format?: string;
  sender: string;
  /** For csv: the registry whose importer reads the file (default: the only one with an importer). */ registry?: string;
  /** For csv: the classification version of the codes, for the registry's importer. */ codeVersion?: string;
  dryRun?: boolean;
  progress?: boolean;
}

/** A registry's CSV importer: `csvToBundles` exported by `registries/<id>/import.ts`. */
type CsvImporter = (
  text: string,
  registry: Registry,
  opts: { codeVersion: string },
) => Array<{ line: number; bundles: Array<Record<string, any>>; problem?: string }>;

async function csvImporter(platform: Platform, id: string | undefined): Promise<{ registry: Registry; importer: CsvImporter }> {
  const withImporter = platform.registries.filter((r) => registryModule(r.dir, 'import'));
  const registry = id ? platform.registry(id) : withImporter.length === 1 ? withImporter[0] : undefined;
  if (!registry)
    throw new Error(
      id
        ? `unknown registry "${id}"`
        : `say --registry: registries with a CSV importer: ${withImporter.map((r) => r.id).join(', ') || 'none'}`,
    );
  const file = registryModule(registry.dir, 'import') ?? path.join(registry.dir, 'import.ts');
  if (!fs.existsSync(file))
    throw new Error(
      `the ${registry.id} registry has no CSV importer (${path.relative(process.cwd(), file)}); registries with one: ${withImporter.map((r) => r.id).join(', ') || 'none'}`,
    );
  const mod = await import(pathToFileURL(file).href);
  if (typeof mod.csvToBundles !== 'function') throw new Error(`${path.relative(process.cwd(), file)} exports no csvToBundles function`);
  return { registry, importer: mod.csvToBundles as CsvImporter };
}
export interface ImportSummary {
  messages: number;
  accepted: number;
  quarantined: number;
  refused: number;
  skipped: number;
  problems: string[];
  /** PROM answers kept without a matching case and time point (format eprom). */ unmatched?: number;
}

export async function importCommand(config: Config, file: string, o: ImportOptions): Promise<void> {
  if (!fs.existsSync(file)) throw new Error(`${file} does not exist`);
  const platform = await startPlatform(config, { log: cliLog() });
  try {
    const summary = await runImport(platform, file, { ...o, progress: process.stdout.isTTY });
    console.log(
      `${o.dryRun ? 'Validated' : 'Imported'} ${summary.messages} message(s): ${summary.accepted} accepted, ${summary.quarantined} quarantined, ${summary.refused} refused, ${summary.skipped} row(s) skipped.`,
    );
    if (summary.unmatched)
      console.log(`${summary.unmatched} answer(s) kept without a matching case and time point: they are matched when their cases arrive.`);
    for (const p of summary.problems) console.log(`  ${p}`);
    if (summary.quarantined && !o.dryRun)
      console.log('Quarantined messages are kept: list them with GET /api/inbox?status=quarantined and reprocess after fixing the cause.');
  } finally {
    await platform.close();
  }
}

/** Sends every message of the file through the capture pipeline, as the sender named in `o`. */
export async function runImport(platform: Platform, file: string, o: ImportOptions): Promise<ImportSummary> {
  const format = o.format ?? (file.endsWith('.csv') ? 'csv' : file.endsWith('.ndjson') || file.endsWith('.jsonl') ? 'ndjson' : undefined);
  if (format !== 'csv' && format !== 'ndjson' && format !== 'deaths' && format !== 'eprom')
    throw new Error('say --format ndjson, csv, deaths or eprom (the file name does not tell)');
  const caller = { kind: 'system' as const, sender: o.sender, name: o.sender };
  const summary: ImportSummary = { messages: 0, accepted: 0, quarantined: 0, refused: 0, skipped: 0, problems: [] };
  const problems = summary.problems;
  const shown = new SingleBar({ format: 'import |{bar}| {value}/{total} | {eta_formatted} left' }, Presets.shades_classic);
  const bar = o.progress ? shown : { start: () => undefined, update: () => undefined, stop: () => undefined };
  const handle = async (body: string, where: string) => {
    summary.messages++;
    const outcome = o.dryRun
      ? await platform.inbox.validate(caller, body)
      : await platform.inbox.capture(caller, format === 'ndjson' ? 'ndjson' : 'csv', body);
    // A batch answers per entry: its refused entries say what was wrong, each.
    const entries: any[] = (outcome.body as any).entry ?? [];
    const entryIssues = entries.flatMap((e) => e.response?.outcome?.issue ?? []);
    if (format === 'eprom')
      summary.unmatched = (summary.unmatched ?? 0) + entryIssues.filter((i: any) => i.details?.coding?.[0]?.code === UNMATCHED).length;
    if (outcome.httpStatus === 200 && outcome.status !== 'quarantined') summary.accepted++;
    else {
      if (outcome.status === 'refused') summary.refused++;
      else summary.quarantined++;
      const errors = entryIssues
        .filter((i: any) => i.severity === 'error')
        .map((i: any) => `${i.expression?.[0] ?? ''} ${i.diagnostics}`.trim());
      if (errors.length)
        for (const e of errors) {
          if (problems.length < 20) problems.push(`${where}: ${e.slice(0, 300)}`);
        }
      else if (problems.length < 20)
        problems.push(`${where}: ${JSON.stringify((outcome.body as any).issue?.[0]?.diagnostics ?? outcome.body).slice(0, 300)}`);
    }
  };
  try {
    if (format === 'ndjson') {
      const total = fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.trim()).length;
      bar.start(total, 0);
      let n = 0;
      for await (const line of readline.createInterface({ input: fs.createReadStream(file) })) {
        if (!line.trim()) continue;
        n++;
        await handle(line, `line ${n}`);
        bar.update(n);
      }
    } else if (format === 'deaths') {
      const { batches, problems: bad } = deathsToBundles(fs.readFileSync(file, 'utf8'));
      summary.skipped += bad.length;
      problems.push(...bad.slice(0, 20));
      bar.start(batches.length, 0);
      for (const [i, b] of batches.entries()) {
        await handle(JSON.stringify(b.bundle), `lines ${b.lines[0]}–${b.lines[1]}`);
        bar.update(i + 1);
      }
    } else if (format === 'eprom') {
      // Flat PROM answers (src/prom/eprom.ts): QuestionnaireResponses in batches, matched and scored by capture.
      const { bundles, problems: bad } = flatAnswersToBundles(fs.readFileSync(file, 'utf8'), platform.prom.instruments);
      summary.skipped += bad.length;
      problems.push(...bad.slice(0, 20));
      summary.unmatched = 0;
      bar.start(bundles.length, 0);
      for (const [i, b] of bundles.entries()) {
        await handle(JSON.stringify(b.bundle), b.lines);
        bar.update(i + 1);
      }
    } else {
      const { registry, importer } = await csvImporter(platform, o.registry);
      const rows = importer(fs.readFileSync(file, 'utf8'), registry, { codeVersion: o.codeVersion ?? 'current' });
      bar.start(rows.length, 0);
      for (const [i, row] of rows.entries()) {
        if (row.problem) {
          summary.skipped++;
          if (problems.length < 20) problems.push(`line ${row.line}: ${row.problem}`);
        }
        for (const b of row.bundles) await handle(JSON.stringify(b), `line ${row.line}`);
        bar.update(i + 1);
      }
    }
  } finally {
    bar.stop();
  }
  return summary;
}
