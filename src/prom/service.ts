// PROM as one part of the platform: the shared instruments, the registries' schedules, and the
// background job that runs the scheduler. Created by the platform at start; the server starts the
// job (`start`), tests call `runDue` with the time they need.
import type { Logger } from 'pino';
import type { PersonData } from '../access/door.ts';
import type { Registry } from '../registry/load.ts';
import { promSettings, type PromSettings } from './config.ts';
import { loadInstruments, type Instrument } from './instruments.ts';
import { loadSchedules, type CompiledSchedule } from './schedule.ts';
import { PromScheduler, type SchedulerRun } from './scheduler.ts';

export class Prom {
  readonly instruments: Map<string, Instrument>;
  readonly schedules: CompiledSchedule[];
  readonly scheduler: PromScheduler;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = false;

  constructor(readonly data: PersonData, readonly registries: Registry[], private readonly log: Logger, readonly settings: PromSettings = promSettings()) {
    this.instruments = loadInstruments(settings.instrumentsDir, { textsDir: settings.textsDir });
    this.schedules = loadSchedules(registries, this.instruments);
    this.scheduler = new PromScheduler(data, registries, this.schedules);
    const placeholders = [...this.instruments.values()].filter((i) => i.def.licence.licensedTexts && !i.textsLoaded).map((i) => i.id);
    if (placeholders.length) log.warn({ instruments: placeholders }, 'PROM instruments show placeholder item texts: set KVALREG_INSTRUMENT_TEXTS_DIR to the licensed texts (docs/prom.md)');
  }

  async prepare(): Promise<void> { await this.scheduler.prepare(); }

  /** One run of the background job: schedule, collect, cancel, expire. */
  async runDue(now = new Date()): Promise<SchedulerRun> {
    const run = await this.scheduler.runDue(now);
    if (run.itemsCreated || run.invitationsCreated || run.cancelled || run.expired) this.log.info(run, 'PROM scheduler run');
    return run;
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
    this.running = this.runDue().catch((err) => this.log.error({ err }, 'PROM scheduler run failed; retried at the next interval')).finally(() => { this.running = null; });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}
