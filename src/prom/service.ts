// PROM as one part of the platform: the shared instruments, the registries' schedules, and the
// background job that runs the scheduler. Created by the platform at start; the server starts the
// job (`start`), tests call `runDue` with the time they need.
import type { Logger } from 'pino';
import crypto from 'node:crypto';
import type { PersonData } from '../access/door.ts';
import type { Config } from '../config.ts';
import type { IdentityKeys } from '../identity/crypto.ts';
import type { Registry } from '../registry/load.ts';
import type { UnitTree } from '../units/tree.ts';
import { EmailChannel, SmsChannel, TaskChannel, type Channel } from './channels.ts';
import { InvitationLinks } from './links.ts';
import { questionnaireUrl } from './instruments.ts';
import { invitationInstruments } from './responses.ts';
import { PromSender, type SendRun } from './sender.ts';
import { promSettings, type PromSettings } from './config.ts';
import { loadInstruments, type Instrument } from './instruments.ts';
import { loadSchedules, type CompiledSchedule } from './schedule.ts';
import { PromScheduler, type SchedulerRun } from './scheduler.ts';
import { PromCapture } from './capture.ts';
import { PromResultsService } from './results.ts';
import { loadTriage, Triage, type TriageRun } from './triage.ts';

export class Prom {
  readonly instruments: Map<string, Instrument>;
  readonly schedules: CompiledSchedule[];
  readonly scheduler: PromScheduler;
  /** QuestionnaireResponses from other systems, in the capture pipeline (its `afterWrite` hook). */
  readonly capture: PromCapture;
  /** Response rates, responders against non-responders, and scores per unit (aggregates, small counts withheld). */
  readonly results: PromResultsService;
  /** Digital home follow-up: which answers call for a visit (registries' `triage:` declarations). */
  readonly triage: Triage;
  readonly sender: PromSender;
  readonly links: InvitationLinks;
  readonly channels: Channel[];
  /** Instruments in the order the schedules list them: the order a form asks them in. */
  readonly order: string[];
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = false;

  constructor(
    readonly data: PersonData,
    readonly registries: Registry[],
    private readonly log: Logger,
    deps: { units: UnitTree; keys: IdentityKeys; config: Config },
    readonly settings: PromSettings = promSettings(deps.config.env),
  ) {
    this.instruments = loadInstruments(settings.instrumentsDir, { textsDir: settings.textsDir });
    this.schedules = loadSchedules(registries, this.instruments);
    this.scheduler = new PromScheduler(data, registries, this.schedules);
    this.capture = new PromCapture(this.instruments, registries, this.schedules);
    this.results = new PromResultsService(data, deps.units, this.schedules, this.instruments);
    this.triage = new Triage(registries, this.instruments, loadTriage(registries, this.instruments, this.schedules));
    this.order = [...new Set(this.schedules.flatMap((s) => s.def.instruments.map((r) => r.instrument)))];
    // Links and one-time codes are signed with a key derived from the identity hash key: they survive restarts.
    this.links = new InvitationLinks(
      Buffer.from(crypto.hkdfSync('sha256', deps.keys.hashKey, Buffer.alloc(0), 'kvalreg prom invitation', 32)),
    );
    const available: Record<string, Channel> = {
      helsenorge: new TaskChannel(settings.task.url, settings.task.token),
      email: new EmailChannel(deps.config.smtpUrl, deps.config.mailFrom),
      sms: new SmsChannel(settings.sms.url, settings.sms.token, settings.sms.sender),
    };
    this.channels = settings.channels.map((c) => available[c]).filter((c): c is Channel => Boolean(c));
    this.sender = new PromSender(data, deps.units, deps.keys, this.links, this.channels, {
      publicUrl: deps.config.publicUrl,
      retryBaseMs: deps.config.reportRetryBaseMs,
      maxAttempts: settings.maxAttempts,
      questionnaires: async (tx, id) => (await invitationInstruments(tx, id, this.order)).map((x) => questionnaireUrl(x.instrument)),
    });
    const placeholders = [...this.instruments.values()].filter((i) => i.def.licence.licensedTexts && !i.textsLoaded).map((i) => i.id);
    if (placeholders.length)
      log.warn(
        { instruments: placeholders },
        'PROM instruments show placeholder item texts: set KVALREG_INSTRUMENT_TEXTS_DIR to the licensed texts (docs/prom.md)',
      );
  }

  async prepare(): Promise<void> {
    await this.scheduler.prepare();
  }

  /** One run of the background job: schedule, collect, cancel, expire; then send what is due; then triage what can be decided. */
  async runDue(now = new Date()): Promise<SchedulerRun & SendRun & { triage: TriageRun }> {
    const run = await this.scheduler.runDue(now);
    const sent = await this.sender.run(now);
    // Answers that came by other ways than the patient's form (paper, FHIR, import) and
    // invitations that ended unanswered are decided here.
    const triage = this.triage.declarations.length
      ? await this.data.transaction({ kind: 'platform', task: 'prom-triage' }, 'prom:triage', (tx) => this.triage.evaluate(tx, { now }))
      : { decided: 0, changed: 0 };
    if (
      run.itemsCreated ||
      run.invitationsCreated ||
      run.cancelled ||
      run.expired ||
      sent.sent ||
      sent.notReachable ||
      triage.decided ||
      triage.changed
    )
      this.log.info({ ...run, ...sent, triage }, 'PROM job run');
    return { ...run, ...sent, triage };
  }

  /** Runs the job every `intervalMs` (one run at a time). */
  start(intervalMs: number): void {
    if (this.timer || intervalMs <= 0) return;
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.timer.unref();
    this.kick();
  }

  private kick(): void {
    if (this.stopped || this.running) return;
    this.running = this.runDue()
      .catch((err) => this.log.error({ err }, 'PROM scheduler run failed; retried at the next interval'))
      .finally(() => {
        this.running = null;
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
    for (const c of this.channels) if (c instanceof EmailChannel) c.close();
  }
}
