// The `kvalreg` command line: serve, start (demo on first run, then serve), migrate, demo, import, token.
import { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { serveCommand, startCommand } from './serve.ts';
import { migrateCommand } from './migrate.ts';
import { demoCommand } from './demo.ts';
import { importCommand } from './import.ts';
import { clientCommand, listTokensCommand, revokeCommand, tokenCommand } from './token.ts';
import { auditAcceptRestoreCommand, auditHeadCommand, auditPruneCommand, auditVerifyCommand } from './audit.ts';
import { reencryptCommand } from './keys.ts';
import { analyticsCommand, coverageImportCommand, indicatorsCommand } from './indicators.ts';
import { coverageComputeCommand, nprImportCommand, scaffoldCommand } from './quality.ts';
import { pseudonymMapCommand, pseudonymRotateCommand } from './pseudonyms.ts';
import { userCommand } from './user.ts';
import { screeningCommand } from './screening.ts';
import { annualReportCommand } from './report.ts';
import { relinkCommand } from './capture.ts';
import { instrumentList, promScoreCommand } from './prom.ts';
import { ninCheckCommand } from './nin.ts';

const program = new Command()
  .name('kvalreg')
  .description(
    'Platform for national medical quality registries with automated data capture (HL7 FHIR R4).\n' +
      'Uses the embedded PostgreSQL in ./var unless DATABASE_URL is set.',
  )
  .showHelpAfterError()
  .enablePositionalOptions();

program
  .command('serve')
  .description('run the platform (HTTP API on PORT, default 3000)')
  .option('-p, --port <port>', 'HTTP port', (v) => Number(v))
  .action((o) => serveCommand(loadConfig(), o));
program
  .command('start')
  .description('first run: migrate and load demo data through the API; then serve (what `npm start` runs)')
  .option('-p, --port <port>', 'HTTP port', (v) => Number(v))
  .action((o) => startCommand(loadConfig(), o));
program
  .command('build-web')
  .description('build the browser app (web/ → web/dist); start and serve do it when the build is missing or stale')
  .action(async () => {
    const { ensureWebBuild } = await import('../server/web-build.ts');
    await ensureWebBuild({ force: true, log: console.log });
  });
program
  .command('user')
  .description('a person who logs in with OpenID Connect: set their grants (replaces earlier ones)')
  .requiredOption('--subject <sub>', 'the subject ("sub") the login service gives them')
  .requiredOption('--name <name>', 'their name')
  .option('--grant <registry:role:unit...>', 'a grant, e.g. <registry id>:unit-registrar:<RESH id> (none: no access, unless a patient)', [])
  .action((o) => userCommand(loadConfig(), o));
program
  .command('migrate')
  .description('apply database migrations and exit')
  .action(() => migrateCommand(loadConfig()));
program
  .command('demo')
  .description("run the platform's demo (demo/run.ts): synthetic traffic with known true rates, sent through the real FHIR API")
  .option('--years <n>', 'years of data, ending last year', (v) => Number(v), 1)
  .option('--scale <x>', 'share of a realistic hospital-area year of the demo (1 = a full year)', (v) => Number(v), 1)
  .option('--seed <n>', 'random seed, for reproducible data', (v) => Number(v), 2024)
  .option('--concurrency <n>', 'parallel requests', (v) => Number(v), 8)
  .option(
    '--rate <name=value...>',
    'override a true rate, e.g. emergencyWithin24h=0.97 unplannedReopClosed=0.04 failedConservative=0.02 promResponse=0.6 promImprovement=0.72',
  )
  .option('--no-prom', "leave out the PROM system's answers (QuestionnaireResponses for every closed time point window)")
  .action((o) => demoCommand(loadConfig(), o));
program
  .command('import')
  .description(
    "import legacy data (NDJSON of FHIR bundles, a registry's CSV format, death notices, or flat PROM answers) through the capture pipeline",
  )
  .argument('<file>', 'a .ndjson file (one Bundle per line) or a .csv file')
  .option(
    '--format <format>',
    "ndjson, csv (read by the registry's importer, registries/<id>/import.ts), deaths (national_id,date_of_death from the population register) or eprom (flat PROM answers as CSV, JSON or NDJSON: national_id, instrument, answered, a column per linkId; docs/prom.md); default: from the file name",
  )
  .option('--registry <id>', 'for csv: the registry whose importer reads the file (default: the only registry with one)')
  .option('--sender <id>', 'the sending system recorded as provenance', 'import')
  .option('--code-version <version>', "for csv: the classification version of the codes, mapped by the registry's version map (e.g. 2008)")
  .option('--dry-run', 'validate only; store nothing')
  .action((file, o) => importCommand(loadConfig(), file, o));
const capture = program.command('capture').description('captured data');
capture
  .command('relink')
  .description(
    'fill values that captured resources carry but that never reached their cases (lost to a race before the lock order); never overwrites a value that was ever set',
  )
  .option('--registry <id>', 'one registry (default: every registry)')
  .option('--dry-run', 'count what would be restored; change nothing')
  .action((o) => relinkCommand(loadConfig(), o));
const token = program
  .command('token')
  .description('issue an API token for a sending system or a user (revoke, list: see below)')
  .enablePositionalOptions()
  .option('--name <name>', 'who the token is for')
  .option('--system <sender>', 'a sending system with this sender id')
  .option('--grant <registry:role:unit...>', 'a user grant, registry:role:unit (e.g. <registry id>:unit-registrar:8201100)')
  .option('--patient <identity-number>', 'a patient, for innsyn (until login by OpenID Connect)')
  .option(
    '--expires <when>',
    'a duration (90d, 12w, 1y, 36h) or a date (2026-12-31); default 365d for a system, 90d for a user; at most 5 years',
  )
  .action((o) => {
    if (!o.name) throw new Error('give --name <name>: who the token is for');
    return tokenCommand(loadConfig(), o);
  });
token
  .command('revoke')
  .description('revoke tokens at once (running servers refuse them from the next request)')
  .option('--name <name>', 'every live token with this name')
  .option('--token <token>', 'this token')
  .action((o) => revokeCommand(loadConfig(), o));
token
  .command('list')
  .description('every token issued: for whom, and until when it works (never the token itself)')
  .action(() => listTokensCommand(loadConfig()));

const client = program.command('client').description('OAuth2 clients of sending systems (client credentials, e.g. HelseID)');
client
  .command('add')
  .description('register a client: its access tokens then authenticate as this sending system')
  .requiredOption('--client-id <id>', 'the client_id in its access tokens')
  .requiredOption('--name <name>', 'what the system is, e.g. "SUS DIPS Arena"')
  .requiredOption('--sender <id>', 'the sender id recorded as provenance')
  .option('--orgnr <number>', 'its organisation number')
  .option('--registries <ids>', 'comma-separated registries it may report to (default: all)')
  .action((o) => clientCommand(loadConfig(), o));

const audit = program.command('audit').description('the audit trail of every look at and change of person-level data');
audit
  .command('verify')
  .description(
    'seal pending events, prove the hash chain and that it reaches its signed state; names each problem by its kind (exit code 1)',
  )
  .option(
    '--witness <file>',
    'statements printed earlier by `kvalreg audit head` and kept by an outside party: check the chain still holds them',
  )
  .action((o) => auditVerifyCommand(loadConfig(), o));
audit
  .command('head')
  .description("print a signed statement of the chain's head (one JSON line) for an outside party to keep")
  .option('--public-key', 'print the public key that checks the statements (PEM), to give to the outside party')
  .action((o) => auditHeadCommand(loadConfig(), o));
audit
  .command('prune')
  .description('remove sealed events older than the retention period (KVALREG_AUDIT_RETENTION_DAYS), behind a signed checkpoint')
  .option('--days <n>', 'retention in days (default: KVALREG_AUDIT_RETENTION_DAYS, else 3650)', (v) => Number(v))
  .action((o) => auditPruneCommand(loadConfig(), o));
audit
  .command('accept-restore')
  .description(
    'after restoring a database backup: record, signed with the audit key, that the trail now ends earlier, so that sealing goes on',
  )
  .requiredOption('--reason <text>', 'which backup was restored, and why (kept in the signed checkpoint and the trail)')
  .action((o) => auditAcceptRestoreCommand(loadConfig(), o));

const keys = program.command('keys').description('identity encryption keys');
keys
  .command('reencrypt')
  .description('re-encrypt every value still under an older key with the current one (resumable)')
  .action(() => reencryptCommand(loadConfig()));

program
  .command('indicators')
  .description('quality indicator results for a registry and year: nation (and a unit), or every unit as CSV')
  .requiredOption('--registry <id>', 'the registry id (GET /api/registries lists them)')
  .requiredOption('--year <year>', 'the year, e.g. 2024')
  .option('--unit <resh>', 'a unit to show beside the nation (RESH id)')
  .option('--format <format>', 'table, csv (national publishing format), json or fhir (Measure + MeasureReport)', 'table')
  .option('--dataset <dataset>', 'fresh (all data) or qa (finalised registrations only)', 'fresh')
  .option('--lang <lang>', 'nb or en', 'nb')
  .action((o) => indicatorsCommand(loadConfig(), o));
program
  .command('screening')
  .description(
    "a registry's screening worklist from a CSV of hospital admissions: every admission with the step that kept or dropped it, and why",
  )
  .requiredOption('--registry <id>', 'a registry with a screening.yaml')
  .requiredOption(
    '--file <file>',
    "CSV: admission_id, national_id, admission_date, department_kind, outpatient, codes and the registry's flag columns",
  )
  .option('--format <format>', 'table (the kept admissions), csv or json (every admission)', 'table')
  .option('--lang <lang>', 'nb or en', 'nb')
  .action((o) => screeningCommand(loadConfig(), o));
const nin = program.command('nin').description('national identity numbers, as the capture reads them');
nin
  .command('check')
  .description(
    'for each number: valid or not, its kind, the rule that failed, and what is derived (birth date, sex); exit code 1 if any is not valid',
  )
  .argument(
    '[numbers...]',
    'numbers to check; none or - reads them from standard input, one per line (keeps them out of the shell history)',
  )
  .option(
    '--system <system>',
    'check as sent under this identifier system: fnr, dnr, fhn, hnr, aux or its URI (default: by the digits alone)',
  )
  .option('--format <format>', 'text (one line per number) or json (one JSON object per line)', 'text')
  .action((numbers, o) => ninCheckCommand(loadConfig(), numbers, o));
const coverage = program
  .command('coverage')
  .description('coverage (dekningsgrad) per unit and year, published beside the results; under 60 % is flagged');
coverage
  .command('compute')
  .description("link the registry's cases with its imported NPR episodes now and print the coverage per hospital and year")
  .requiredOption('--registry <id>', 'the registry id')
  .action((o) => coverageComputeCommand(loadConfig(), o));
program
  .command('npr')
  .description('extracts of the national patient register (NPR), for coverage')
  .command('import')
  .description('import an NPR extract for a registry (only its episodes are kept), then link it with the cases')
  .requiredOption('--registry <id>', 'a registry that declares npr in quality.yaml')
  .requiredOption(
    '--file <csv>',
    'CSV: episode_id, national_id, hospital_resh, admission_date, discharge_date, contact_type, icd10, ncsp (docs/data-quality.md)',
  )
  .option('--source <text>', 'where the extract comes from (e.g. "NPR 2025 T3")')
  .option('--dry-run', 'read and select, store nothing')
  .action((o) => nprImportCommand(loadConfig(), o));
program
  .command('metadata')
  .description('open metadata: a new registry folder from a data dictionary')
  .command('scaffold')
  .description('write registries/<id>/ from a REDCap data dictionary or a codebook in the canonical layout; it loads as written')
  .requiredOption('--from <kind>', 'redcap or codebook')
  .requiredOption('--file <csv>', 'the dictionary')
  .requiredOption('--id <id>', 'the new registry id')
  .requiredOption('--title <text>', "the registry's name")
  .option('--dir <dir>', 'where to write the folder (default: the registries folder)')
  .action((o) => scaffoldCommand(loadConfig(), o));
coverage
  .command('import')
  .description('load a CSV with unit_resh, year, coverage (0–1 or %)')
  .requiredOption('--registry <id>', 'the registry id (a folder under registries/)')
  .requiredOption('--file <csv>', 'the CSV file')
  .option('--source <text>', 'where the figures come from (e.g. "NPR 2025")')
  .action((o) => coverageImportCommand(loadConfig(), o));
const analytics = program.command('analytics').description('the analytics tables indicators are computed from');
analytics
  .command('status')
  .description('rows, changes waiting and freshness per registry')
  .option('--registry <id>', 'one registry')
  .action((o) => analyticsCommand(loadConfig(), 'status', o));
analytics
  .command('rebuild')
  .description('recompute every row from the registrations')
  .option('--registry <id>', 'one registry')
  .action((o) => analyticsCommand(loadConfig(), 'rebuild', o));
const pseudonyms = program.command('pseudonyms').description('research pseudonym keys per registry and project');
pseudonyms
  .command('rotate')
  .description('new pseudonym key for a project: its next extract gets pseudonyms unlinkable to earlier ones')
  .requiredOption('--registry <id>', 'the registry id (a folder under registries/)')
  .requiredOption('--project <id>', 'the approved project id used in its extracts')
  .action((o) => pseudonymRotateCommand(loadConfig(), o));
pseudonyms
  .command('map')
  .description('write old → new pseudonyms of a project across a rotation (for the platform only)')
  .requiredOption('--registry <id>', 'the registry id (a folder under registries/)')
  .requiredOption('--project <id>', 'the approved project id')
  .requiredOption('--from <generation>', 'the old key generation (0 = deliveries made before rotation existed)')
  .requiredOption('--to <generation>', 'the new key generation')
  .requiredOption('--out <file>', 'a new file for the CSV (mode 0600)')
  .action((o) => pseudonymMapCommand(loadConfig(), o));

const report = program.command('report').description('reports as PDF');
report
  .command('annual')
  .description('the annual report of a registry for a year')
  .requiredOption('--registry <id>', 'the registry id (a folder under registries/)')
  .requiredOption('--year <year>', 'the year, e.g. 2024')
  .requiredOption('--out <file>', 'where to write the PDF, e.g. report.pdf')
  .option('--dataset <dataset>', 'fresh (all data) or qa (finalised registrations only)', 'fresh')
  .action((o) => annualReportCommand(loadConfig(), o));

const prom = program
  .command('prom')
  .description('patient-reported outcomes: the shared instruments and their scoring')
  .addHelpText('after', () => instrumentList());
prom
  .command('score')
  .description('score one response to one instrument and print the scores as JSON (the same code as the platform)')
  .requiredOption('--instrument <id>', 'the instrument (listed below)')
  .requiredOption(
    '--answers <json|file>',
    'a JSON object of linkId → answer, a QuestionnaireResponse, or a file holding either (- for standard input)',
  )
  .option('--value-set <id>', "for instruments with an index: the value set (default: the instrument's)")
  .addHelpText('after', () => instrumentList())
  .action((o) => promScoreCommand(o));

program.parseAsync(process.argv).catch((err) => {
  console.error(`kvalreg: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
