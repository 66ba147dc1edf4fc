// Reports: figures and tables, the annual report, unit and indicator reports, and their dispatch by
// e-mail. Assembled by the platform; the server and the CLI call it.
import type { Logger } from 'pino';
import type { PersonData } from '../access/door.ts';
import type { Config } from '../config.ts';
import type { Database } from '../db/database.ts';
import type { Indicators } from '../indicators/service.ts';
import type { Registry } from '../registry/load.ts';
import type { UnitTree } from '../units/tree.ts';
import { annualReport, indicatorReport, unitReport, type ReportContext } from './annual.ts';
import { Dispatcher } from './dispatch.ts';
import { Figures } from './figures.ts';
import { loadPopulation } from './population.ts';

export class Reports {
  readonly figures: Figures;
  readonly dispatch: Dispatcher;
  private readonly ctx: ReportContext;

  constructor(
    private readonly db: Database,
    data: PersonData,
    registries: Registry[],
    indicators: Indicators,
    units: UnitTree,
    private readonly config: Config,
    log: Logger,
  ) {
    this.figures = new Figures(data, db.pool, registries, indicators, units);
    this.ctx = { data, indicators, units, figures: this.figures };
    this.dispatch = new Dispatcher(
      db.pool,
      config,
      log,
      (s) => {
        const r = registries.find((x) => x.id === s.registry);
        if (!r) throw new Error(`registry ${s.registry} is no longer loaded`);
        return s.report === 'unit'
          ? unitReport(this.ctx, r, { unit: s.unitResh, year: s.year, lang: s.lang, footer: s.footer })
          : indicatorReport(this.ctx, r, { unit: s.unitResh, indicator: s.indicator!, year: s.year, lang: s.lang, footer: s.footer });
      },
      units,
      indicators,
    );
  }

  /** The data-quality service, for the annual report's chapters 4 and 5 (it is built after the reports). */
  useQuality(quality: ReportContext['quality']): void {
    this.ctx.quality = quality;
  }

  async prepare(): Promise<void> {
    await loadPopulation(this.db.pool, this.config.populationFile);
  }

  annual(registry: Registry, year: string, opts: { dataset?: 'fresh' | 'qa' } = {}): Promise<Buffer> {
    return annualReport(this.ctx, registry, year, opts.dataset ?? 'fresh');
  }

  unit(registry: Registry, unit: string, year: string, lang: 'nb' | 'en' = 'nb'): Promise<Buffer> {
    return unitReport(this.ctx, registry, { unit, year, lang });
  }
}
