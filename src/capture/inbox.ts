// The durable inbox. A message from a sending system is stored (encrypted) in the transaction that
// captures it, with its outcome, and the sender is answered only after that transaction committed:
// an answer means the message is stored durably (fsync and synchronous commit on). A message that
// cannot be captured — the sender's error, or ours — is stored in quarantine with its
// OperationOutcome, in a transaction of its own after the capture's was rolled back, before the
// answer; it can be reprocessed after a fix. A crash before the commit leaves nothing and no answer
// (the sender sends again). A message stored without being processed (`receive`: by an earlier
// version, or on purpose) stays 'received' until `process` or recovery at start captures it, exactly
// once.
import type { Bundle, OperationOutcome } from 'fhir/r4.js';
import { prepared, type Queryable } from '../db/pool.ts';
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import type { PersonData, PersonTx } from '../access/door.ts';
import type { Caller } from '../access/caller.ts';
import { openText, sealText } from '../identity/crypto.ts';
import { identityHashesIn } from './identity.ts';
import { captureBundle, parseMessage, type CaptureEnv, type CaptureOutcome, type CaptureResult } from './pipeline.ts';
import type { MessageWrite } from './changes.ts';
import type { ParsedBundle } from './bundle.ts';
import { describeRedactions, type FreeTextRedactor } from './free-text.ts';
import { redactIdentityNumbers } from '../identity/text.ts';
import { safeError } from '../log/redact.ts';
import { CaptureError, issue, operationOutcome, type Issue } from './outcome.ts';
import { lockPersons } from '../records/locks.ts';

export interface InboxEntry {
  id: number;
  sender: string;
  channel: string;
  received_at: string;
  status: string;
  attempts: number;
  outcome: unknown;
  processed_at: string | null;
  pruned_reason: string | null;
}

export interface Inbox {
  /** Stores and captures a message in one transaction; the outcome is answered once it is committed. */
  capture(caller: Caller & { kind: 'system' }, channel: string, body: string): Promise<ProcessOutcome>;
  /** Stores a message without processing it (it waits as 'received' for `process` or recovery). */
  receive(caller: Caller & { kind: 'system' }, channel: string, body: string): Promise<number>;
  /** Messages by status, newest first, without their bodies. */
  list(caller: Caller, status: string, limit: number): Promise<InboxEntry[]>;
  process(messageId: number, opts?: { reprocess?: boolean }): Promise<ProcessOutcome>;
  validate(caller: Caller & { kind: 'system' }, body: string): Promise<ProcessOutcome>;
  recover(): Promise<number>;
}

export interface ProcessOutcome {
  messageId: number | null;
  status: 'processed' | 'quarantined' | 'refused' | 'validated';
  httpStatus: number;
  /** A transaction-response/batch-response Bundle, or an OperationOutcome. */
  body: Bundle | OperationOutcome;
  result?: CaptureResult;
}

/**
 * Test hooks (test/crash-restart.test.ts) that end the process at a chosen point, to prove what a
 * crash there leaves: 'before-commit' (everything decided and queued for the commit, nothing
 * committed) and 'after-commit' (committed, not answered).
 */
const crashAt = process.env.KVALREG_TEST_CRASH ?? '';

export function createInbox(data: PersonData, env: CaptureEnv, log: Logger): Inbox {
  const platform: Caller = { kind: 'platform', task: 'capture' };
  const crash = (point: string, messageId: number | null) => {
    if (crashAt !== point) return;
    log.fatal({ messageId, point }, 'test hook: exiting');
    process.exit(99);
  };

  async function capture(caller: Caller & { kind: 'system' }, channel: string, body: string): Promise<ProcessOutcome> {
    // Receive: what is stored of the message whatever becomes of it; parse; capture; store with the answer.
    const { stored, ninHashes } = received(body, channel);
    let parsed: ParsedBundle | undefined;
    // Drawn by the first attempt's read and kept by a retry: the message's place among those received.
    let messageId: number | null = null;
    try {
      parsed = parseMessage(body);
      const bundle = parsed;
      const outcome = await data.transaction(
        platform,
        'capture:process',
        async (tx) => {
          // Identify the patients, map, route to the registries, apply per case (capture/pipeline.ts).
          const captured = await captureBundle(tx, env, caller.sender, messageId, bundle, { lock: ninHashes });
          messageId = captured.messageId;
          // Store durably with the answer, in the round trip that commits.
          const answered = storeWithAnswer(tx, bundle, captured, (m) => ({ insert: { ...stored, ...m } }));
          crash('before-commit', messageId);
          return answered;
        },
        { beginWithFirstQuery: true },
      );
      crash('after-commit', outcome.messageId);
      logFailedEntries(outcome);
      return outcome;
    } catch (caught) {
      const err = asCaptureError(caught, messageId, parsed);
      return quarantineNew(caller.sender, messageId, stored, ninHashes, err);
    }
  }

  /**
   * What is stored of a message, whatever becomes of it: the encrypted body, its hash, and the
   * keyed hashes of the identity numbers it names (a patient who opts out later finds it by them;
   * those persons are locked with the message's patients, so a reservation waits for it or it for
   * the reservation).
   */
  function received(body: string, channel: string) {
    const ninHashes = identityHashesIn(env.keys, body);
    const stored = {
      channel,
      sha: crypto.createHash('sha256').update(body).digest('hex'),
      enc: sealText(env.keys, body).toString('hex'),
      nin_hashes: ninHashes.map((h) => h.toString('hex')),
    };
    return { stored, ninHashes };
  }

  /**
   * The answer (a transaction-response or batch-response), and the message's row with it, written
   * with the capture's changes in the round trip that commits: the sender is answered only after
   * both are stored. A batch with a failed entry is kept as 'quarantined'. Refused entries mean
   * the message holds data about someone who opted out: it keeps neither its body nor the keyed
   * hashes of the numbers it names (capture_write).
   */
  function storeWithAnswer(
    tx: PersonTx,
    bundle: ParsedBundle,
    captured: CaptureOutcome,
    row: (m: { status: string; outcome: unknown; person_ids: number[]; refused: boolean }) => MessageWrite,
  ): ProcessOutcome {
    const { result, changes } = captured;
    noteRedactions(result, bundle);
    const response = responseFor(result);
    const status = result.failedEntries > 0 ? 'quarantined' : 'processed';
    changes.message = row({
      status,
      outcome: { httpStatus: response.httpStatus, body: response.body },
      person_ids: result.personIds,
      refused: result.refusedReservation > 0,
    });
    changes.refused = result.refusedReservation;
    tx.atCommit(changes.sql((v) => tx.client.escapeLiteral(v)));
    return { messageId: captured.messageId, status, httpStatus: response.httpStatus, body: response.body, result };
  }

  /** Stores a message that could not be captured, in quarantine (or refused, for a patient who opted out), with its outcome. */
  async function quarantineNew(
    sender: string,
    messageId: number | null,
    stored: { channel: string; sha: string; enc: string },
    ninHashes: Buffer[],
    err: CaptureError,
  ): Promise<ProcessOutcome> {
    const refused = err.issues.some((i) => i.rule === 'reservation');
    const body = operationOutcome(err.issues);
    const id = await data.transaction(platform, 'capture:quarantine', async (tx) => {
      // The persons it names first (records/locks.ts): a reservation in flight finds this message, or this message finds it.
      await lockPersons(tx.client, ninHashes);
      const row = await prepared(
        tx.client,
        'inbox7q',
        `INSERT INTO inbox_message (id, sender, channel, body_sha256, body_enc, nin_hashes, status, outcome, processed_at, attempts, pruned_reason)
         VALUES (coalesce($1, nextval(pg_get_serial_sequence('inbox_message', 'id'))), $2, $3, decode($4, 'hex'), CASE WHEN $7 THEN NULL ELSE decode($5, 'hex') END,
           CASE WHEN $7 THEN '{}' ELSE ARRAY(SELECT h FROM unnest($6::bytea[]) AS h WHERE NOT EXISTS (SELECT 1 FROM reservation r WHERE r.nin_hash = h)) END,
           $8, $9, now(), 1, CASE WHEN $7 THEN 'reservation' END) RETURNING id`,
        [
          messageId,
          sender,
          stored.channel,
          stored.sha,
          stored.enc,
          ninHashes,
          refused,
          refused ? 'refused' : 'quarantined',
          { httpStatus: err.httpStatus, body },
        ],
      );
      if (refused) await countRefused(tx.client, sender, 1);
      return Number(row.rows[0].id);
    });
    log.warn({ messageId: id, status: refused ? 'refused' : 'quarantined', issues: err.issues.map(redactIssue) }, 'message not accepted');
    return { messageId: id, status: refused ? 'refused' : 'quarantined', httpStatus: err.httpStatus, body };
  }

  /**
   * Every failure as the sender is told it: their error as it is; text the database cannot hold as
   * theirs to fix; anything else as ours (a 500 that says the message is kept). Echoed values lose
   * identity numbers and the patients' names.
   */
  function asCaptureError(caught: unknown, messageId: number | null, parsed: ParsedBundle | undefined): CaptureError {
    let err = caught;
    if (!(err instanceof CaptureError) && isUnstorableText(err)) {
      // Text the database cannot hold is the sender's to fix (bundle.ts finds the known kinds
      // first, with their path; this catches any it does not know).
      log.warn({ messageId, err: safeError(err) }, 'message holds text the database cannot store');
      err = new CaptureError(
        [
          issue.error(
            'value',
            undefined,
            'The message holds text that cannot be stored (a NUL character, or a character cut in half such as a lone \\ud800 escape). Fix the text encoding in the sending system and send again.',
            { rule: 'text:unstorable' },
          ),
        ],
        400,
      );
    }
    if (!(err instanceof CaptureError)) {
      // Not the sender's fault: keep the message in quarantine (so a restart does not stumble
      // over it again), log the cause, and answer with a 500 that says the message is kept.
      // The error is logged by kind and code: a database error's detail and context quote data.
      log.error({ messageId, err: safeError(err) }, 'processing failed');
      err = new CaptureError(
        [
          issue.error(
            'processing',
            undefined,
            `The message was stored${messageId ? ` (id ${messageId})` : ''} but could not be processed because of an internal error. It is kept in quarantine for the registry to reprocess; you need not resend.`,
          ),
        ],
        500,
      );
    }
    return new CaptureError(redactIssues((err as CaptureError).issues, parsed?.redactor), (err as CaptureError).httpStatus);
  }

  async function receive(caller: Caller & { kind: 'system' }, channel: string, body: string): Promise<number> {
    const sha = crypto.createHash('sha256').update(body).digest();
    const id = await data.transaction(caller, 'capture:receive', async (tx) => {
      // The hashes find the message when a patient it names opts out later; a patient who has
      // opted out already is refused when it is processed, and their hash is not kept with it.
      const res = await prepared(
        tx.client,
        'inbox1r',
        `INSERT INTO inbox_message (sender, channel, body_sha256, body_enc, nin_hashes)
           VALUES ($1, $2, $3, $4, ARRAY(SELECT h FROM unnest($5::bytea[]) AS h WHERE NOT EXISTS (SELECT 1 FROM reservation r WHERE r.nin_hash = h))) RETURNING id`,
        [caller.sender, channel, sha, sealText(env.keys, body), identityHashesIn(env.keys, body)],
      );
      return res.rows[0].id as number;
    });
    return id;
  }

  /** A batch stored with entries that failed: the failures are logged like a message not accepted (by location and rule). */
  function logFailedEntries(outcome: ProcessOutcome): void {
    const failed = outcome.result?.entries.filter((e) => /^4/.test(e.status)) ?? [];
    if (!failed.length) return;
    log.warn(
      {
        messageId: outcome.messageId,
        status: outcome.status,
        entries: failed.map((e) => ({
          index: e.index,
          status: e.status,
          issues: e.issues.filter((i) => i.severity === 'error').map(redactIssue),
        })),
      },
      'entries not accepted',
    );
  }

  async function process_(messageId: number, opts: { reprocess?: boolean } = {}): Promise<ProcessOutcome> {
    // The parsed message, once it parses: its patients' names are redacted from what is stored about it.
    let parsed: ParsedBundle | undefined;
    try {
      const outcome = await data.transaction(platform, 'capture:process', async (tx) => {
        // The persons the message names first, then the message (the lock order of records/locks.ts):
        // a reservation holds its person and then updates the messages naming them.
        const named = (await prepared(tx.client, 'inbox2h', 'SELECT nin_hashes FROM inbox_message WHERE id = $1', [messageId])).rows[0];
        await lockPersons(tx.client, named?.nin_hashes ?? []);
        const row = (
          await prepared(tx.client, 'inbox2', 'SELECT id, sender, status, body_enc, outcome FROM inbox_message WHERE id = $1 FOR UPDATE', [
            messageId,
          ])
        ).rows[0];
        if (!row) throw new CaptureError([issue.error('not-found', undefined, `Message ${messageId} does not exist.`)], 404);
        if (row.status === 'refused' && !row.body_enc) {
          // Removed for a reservation: nothing to process, and the status stays what it is.
          return {
            messageId,
            status: 'refused',
            httpStatus: 410,
            body: operationOutcome([
              issue.error(
                'processing',
                undefined,
                'The message was removed because a patient it names has opted out of the registries; it cannot be processed again. Send the data of the other patients anew.',
              ),
            ]),
          };
        }
        if (row.status === 'processed' || (row.status !== 'received' && !opts.reprocess)) {
          // Processed already (by recovery, or a concurrent worker): answer with the stored outcome.
          return { messageId, status: row.status, httpStatus: row.outcome?.httpStatus ?? 200, body: row.outcome?.body ?? {} };
        }
        if (!row.body_enc)
          throw new CaptureError(
            [
              issue.error(
                'processing',
                undefined,
                'The message body is no longer kept (pruned or removed after a reservation); resend the message.',
              ),
            ],
            410,
          );
        const body = openText(env.keys, row.body_enc);
        parsed = parseMessage(body);
        const captured = await captureBundle(tx, env, row.sender, messageId, parsed);
        return storeWithAnswer(tx, parsed, captured, (m) => ({ update: m }));
      });
      logFailedEntries(outcome);
      return outcome;
    } catch (caught) {
      const safe = asCaptureError(caught, messageId, parsed);
      if (safe.httpStatus === 404) return { messageId, status: 'quarantined', httpStatus: 404, body: operationOutcome(safe.issues) };
      return quarantine(messageId, safe);
    }
  }

  async function quarantine(messageId: number, err: CaptureError): Promise<ProcessOutcome> {
    const refused = err.issues.some((i) => i.rule === 'reservation');
    const body = operationOutcome(err.issues);
    await data.transaction(platform, 'capture:quarantine', async (tx) => {
      // A reservation that removed the message while it was being processed has the last word;
      // a refused message keeps no keyed hash of anyone it names.
      await prepared(
        tx.client,
        'inbox4r',
        `UPDATE inbox_message SET status = CASE WHEN pruned_reason = 'reservation' THEN 'refused' ELSE $2 END,
           outcome = CASE WHEN pruned_reason = 'reservation' THEN NULL ELSE $3::jsonb END, attempts = attempts + 1, processed_at = now(),
           body_enc = CASE WHEN $4 THEN NULL ELSE body_enc END, pruned_reason = CASE WHEN $4 THEN 'reservation' ELSE pruned_reason END,
           nin_hashes = CASE WHEN $4 THEN '{}' ELSE nin_hashes END
         WHERE id = $1`,
        [messageId, refused ? 'refused' : 'quarantined', { httpStatus: err.httpStatus, body }, refused],
      );
      if (refused) {
        const sender =
          (await prepared(tx.client, 'inbox5', 'SELECT sender FROM inbox_message WHERE id = $1', [messageId])).rows[0]?.sender ?? 'unknown';
        await countRefused(tx.client, sender, 1);
      }
    });
    log.warn({ messageId, status: refused ? 'refused' : 'quarantined', issues: err.issues.map(redactIssue) }, 'message not accepted');
    return { messageId, status: refused ? 'refused' : 'quarantined', httpStatus: err.httpStatus, body };
  }

  async function validate(caller: Caller & { kind: 'system' }, body: string): Promise<ProcessOutcome> {
    // A dry run is the real pipeline in a transaction that is always rolled back.
    const rollback = new Error('dry run');
    let outcome: ProcessOutcome | undefined;
    try {
      await data.transaction(caller, 'capture:validate', async (tx) => {
        // A dry run sorts after every stored message, so it reports what a new message would do.
        const parsed = parseMessage(body);
        const { result, changes } = await captureBundle(tx, env, caller.sender, Number.MAX_SAFE_INTEGER, parsed);
        // The writes too, so that what only the database finds is found (then rolled back).
        await changes.flush(tx.client);
        noteRedactions(result, parsed);
        const issues: Issue[] = [
          ...parsed.conformance,
          ...result.entries.flatMap((e) => e.issues.map((i) => ({ ...i, location: i.location ?? `Bundle.entry[${e.index}]` }))),
        ];
        if (issues.every((i) => i.severity === 'information' || i.severity === 'warning'))
          issues.push(issue.info(undefined, 'The bundle is valid; nothing was stored (dry run).'));
        outcome = {
          messageId: null,
          status: 'validated',
          httpStatus: result.failedEntries ? 422 : 200,
          body: operationOutcome(issues),
          result,
        };
        throw rollback;
      });
    } catch (err) {
      if (err === rollback) return outcome!;
      if (err instanceof CaptureError)
        return { messageId: null, status: 'validated', httpStatus: err.httpStatus, body: operationOutcome(err.issues) };
      throw err;
    }
    return outcome!;
  }

  async function recover(): Promise<number> {
    const ids = await data.transaction(platform, 'capture:recover', async (tx) =>
      (await tx.client.query("SELECT id FROM inbox_message WHERE status = 'received' ORDER BY id")).rows.map((r) => r.id as number),
    );
    // process_ never throws for one message's fault: a failure is kept in quarantine, so one bad
    // message cannot stop the platform from starting.
    for (const id of ids) await process_(id);
    if (ids.length) log.info({ count: ids.length }, 'recovered messages left unprocessed by an earlier stop');
    return ids.length;
  }

  async function list(caller: Caller, status: string, limit: number): Promise<InboxEntry[]> {
    return data.transaction(
      caller,
      'inbox:list',
      async (tx) => {
        const rows = (
          await tx.client.query(
            'SELECT id, sender, channel, received_at, status, attempts, outcome, processed_at, pruned_reason, person_ids FROM inbox_message WHERE status = $1 ORDER BY id DESC LIMIT $2',
            [status, Math.min(limit, 1000)],
          )
        ).rows;
        // Outcomes can describe persons' data: the listing is a look at them.
        tx.audit({ action: 'list', object: `inbox/${status}`, personIds: rows.flatMap((r) => r.person_ids as number[]) });
        return rows.map(({ person_ids: _, ...r }) => r as InboxEntry);
      },
      { readOnly: true },
    );
  }

  return { capture, receive, list, process: process_, validate, recover };
}

async function countRefused(db: Queryable, sender: string, n: number) {
  await prepared(
    db,
    'inbox6',
    `INSERT INTO refused_count (day, sender, reason, n) VALUES (current_date, $1, 'reservation', $2)
     ON CONFLICT (day, sender, reason) DO UPDATE SET n = refused_count.n + EXCLUDED.n`,
    [sender, n],
  );
}

/** Logs keep the rule and location, never values that might identify a person. */
function redactIssue(i: Issue) {
  return { code: i.code, location: i.location, rule: i.rule };
}

/**
 * What is stored about a message (its outcome) and answered for it echoes values the sender sent:
 * they lose identity numbers, and the names of the message's patients when it parsed that far.
 * Sets the redacted issues on each entry of `result` too.
 */
function redactIssues(issues: Issue[], redactor?: FreeTextRedactor): Issue[] {
  const text = (s: string) => (redactor ? redactor.text(s).text : redactIdentityNumbers(s).text);
  const deep = (v: unknown): unknown =>
    typeof v === 'string'
      ? text(v)
      : Array.isArray(v)
        ? v.map(deep)
        : v && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deep(x)]))
          : v;
  // The diagnostics quote the offending value too (a code-list finding names the code sent), so they
  // lose the patients' names as well, not only identity numbers.
  return issues.map((i) => ({ ...i, diagnostics: text(i.diagnostics), ...(i.value === undefined ? {} : { value: deep(i.value) }) }));
}

/** Each entry whose free text was redacted says so (how many, never what), and every echoed value is redacted. */
function noteRedactions(result: CaptureResult, parsed: ParsedBundle): void {
  const byIndex = new Map(parsed.resources.map((r) => [r.index, r.redactions]));
  for (const e of result.entries) {
    e.issues = redactIssues(e.issues, parsed.redactor);
    const r = byIndex.get(e.index);
    if (r && r.identityNumbers + r.names > 0 && /^2/.test(e.status)) e.issues.push(issue.info(undefined, describeRedactions(r)));
  }
}

/** A database error caused by the text of a value: a NUL, or a character PostgreSQL's JSON refuses. */
function isUnstorableText(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown };
  if (e?.code === '22021' || e?.code === '22P05') return true; // character not in repertoire; untranslatable character
  return e?.code === '22P02' && typeof e.message === 'string' && /type json/.test(e.message);
}

function responseFor(result: CaptureResult): { httpStatus: number; body: Bundle } {
  return {
    httpStatus: 200,
    body: {
      resourceType: 'Bundle',
      type: `${result.bundleType}-response`,
      entry: result.entries.map((e) => ({
        response: {
          status: e.status,
          ...(e.issues.length ? { outcome: operationOutcome(e.issues) } : {}),
        },
      })),
    },
  };
}
