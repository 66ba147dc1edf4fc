// The `kvalreg` command line: serve, start (demo on first run, then serve), migrate, demo, import, token.
import { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { serveCommand, startCommand } from './serve.ts';
import { migrateCommand } from './migrate.ts';
import { demoCommand } from './demo.ts';
import { importCommand } from './import.ts';
import { clientCommand, tokenCommand } from './token.ts';
import { auditVerifyCommand } from './audit.ts';
import { reencryptCommand } from './keys.ts';
import { analyticsCommand, indicatorsCommand } from './indicators.ts';
import { annualReportCommand } from './report.ts';

const program = new Command()
  .name('kvalreg')
  .description('Platform for national medical quality registries with automated data capture (HL7 FHIR R4).\n' +
    'Uses the embedded PostgreSQL in ./var unless DATABASE_URL is set.')
  .showHelpAfterError();

program.command('serve').description('run the platform (HTTP API on PORT, default 3000)')
  .option('-p, --port <port>', 'HTTP port', (v) => Number(v))
  .action((o) => serveCommand(loadConfig(), o));
program.command('start').description('first run: migrate and load demo data through the API; then serve (what `npm start` runs)')
  .option('-p, --port <port>', 'HTTP port', (v) => Number(v))
  .action((o) => startCommand(loadConfig(), o));
program.command('migrate').description('apply database migrations and exit').action(() => migrateCommand(loadConfig()));
program.command('demo').description('generate synthetic fracture traffic and send it through the real FHIR API')
  .option('--years <n>', 'years of data, ending last year', (v) => Number(v), 1)
  .option('--scale <x>', 'share of a realistic hospital-area year (1 = about 6,700 fractures)', (v) => Number(v), 1)
  .option('--seed <n>', 'random seed, for reproducible data', (v) => Number(v), 2024)
  .option('--concurrency <n>', 'parallel requests', (v) => Number(v), 8)
  .option('--rate <name=value...>', 'override a true rate, e.g. emergencyWithin24h=0.97 unplannedReopClosed=0.04 failedConservative=0.02')
  .action((o) => demoCommand(loadConfig(), o));
program.command('import').description('import legacy data (NDJSON of FHIR bundles, a CSV fracture journal, or death notices) through the capture pipeline')
  .argument('<file>', 'a .ndjson file (one Bundle per line) or a .csv file')
  .option('--format <format>', 'ndjson, csv (fracture journal) or deaths (national_id,date_of_death from the population register); default: from the file name')
  .option('--sender <id>', 'the sending system recorded as provenance', 'import')
  .option('--ao-version <version>', 'AO/OTA version of the codes in a CSV file (2008 codes are mapped to 2018)', '2018')
  .option('--dry-run', 'validate only; store nothing')
  .action((file, o) => importCommand(loadConfig(), file, o));
program.command('token').description('issue an API token for a sending system or a user')
  .requiredOption('--name <name>', 'who the token is for')
  .option('--system <sender>', 'a sending system with this sender id')
  .option('--grant <registry:role:unit...>', 'a user grant, e.g. fracture:unit-registrar:8201100')
  .option('--patient <identity-number>', 'a patient, for innsyn (until login by OpenID Connect)')
  .action((o) => tokenCommand(loadConfig(), o));

const client = program.command('client').description('OAuth2 clients of sending systems (client credentials, e.g. HelseID)');
client.command('add').description('register a client: its access tokens then authenticate as this sending system')
  .requiredOption('--client-id <id>', 'the client_id in its access tokens')
  .requiredOption('--name <name>', 'what the system is, e.g. "SUS DIPS Arena"')
  .requiredOption('--sender <id>', 'the sender id recorded as provenance')
  .option('--orgnr <number>', 'its organisation number')
  .option('--registries <ids>', 'comma-separated registries it may report to (default: all)')
  .action((o) => clientCommand(loadConfig(), o));

const audit = program.command('audit').description('the audit trail of every look at and change of person-level data');
audit.command('verify').description('seal pending events and prove the hash chain; names the first broken link (exit code 1)')
  .action(() => auditVerifyCommand(loadConfig()));

const keys = program.command('keys').description('identity encryption keys');
keys.command('reencrypt').description('re-encrypt every value still under an older key with the current one (resumable)')
  .action(() => reencryptCommand(loadConfig()));

program.command('indicators').description('quality indicator results for a registry and year: nation (and a unit), or every unit as CSV')
  .requiredOption('--registry <id>', 'the registry, e.g. fracture')
  .requiredOption('--year <year>', 'the year, e.g. 2024')
  .option('--unit <resh>', 'a unit to show beside the nation (RESH id)')
  .option('--format <format>', 'table, csv (national publishing format), json or fhir (Measure + MeasureReport)', 'table')
  .option('--dataset <dataset>', 'fresh (all data) or qa (finalised registrations only)', 'fresh')
  .option('--lang <lang>', 'nb or en', 'nb')
  .action((o) => indicatorsCommand(loadConfig(), o));
const analytics = program.command('analytics').description('the analytics tables indicators are computed from');
analytics.command('status').description('rows, changes waiting and freshness per registry').option('--registry <id>', 'one registry')
  .action((o) => analyticsCommand(loadConfig(), 'status', o));
analytics.command('rebuild').description('recompute every row from the registrations').option('--registry <id>', 'one registry')
  .action((o) => analyticsCommand(loadConfig(), 'rebuild', o));

const report = program.command('report').description('reports as PDF');
report.command('annual').description('the annual report of a registry for a year')
  .requiredOption('--registry <id>', 'the registry, e.g. fracture')
  .requiredOption('--year <year>', 'the year, e.g. 2024')
  .requiredOption('--out <file>', 'where to write the PDF, e.g. report.pdf')
  .option('--dataset <dataset>', 'fresh (all data) or qa (finalised registrations only)', 'fresh')
  .action((o) => annualReportCommand(loadConfig(), o));

program.parseAsync(process.argv).catch((err) => {
  console.error(`kvalreg: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
