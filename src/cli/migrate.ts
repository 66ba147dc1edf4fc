import type { Config } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import { listMigrations, migrate } from '../db/migrate.ts';

export async function migrateCommand(config: Config): Promise<void> {
  const db = await openDatabase(config);
  try {
    const applied = await migrate(db.pool, (m) => console.log(m));
    console.log(`${applied.length} migration(s) applied; the schema is at ${listMigrations().at(-1)?.name}.`);
  } finally {
    await db.close();
  }
}
