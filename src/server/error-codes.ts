// The code of an error answer: names the message for people, so the web app can say it in the
// reader's language from its own catalogue (web/src/messages.ts) while `error` stays the English
// explanation for the API's readers and the log. A route raises a RecordError with a code of its
// own; everything else gets the code of its kind (by status).
import { AccessDenied } from '../access/door.ts';
import { RecordError } from '../records/workflow.ts';

export function errorCode(err: unknown, status: number): { code: string; params?: Record<string, string | number> } {
  if (err instanceof RecordError && err.code) return { code: err.code, ...(err.params ? { params: err.params } : {}) };
  if (err instanceof AccessDenied) return { code: 'access.denied' };
  if (status >= 500) return { code: 'server.error' };
  if (status === 401) return { code: 'auth.required' };
  if (status === 403) return { code: 'access.denied' };
  if (status === 404) return { code: 'not.found' };
  if (status === 409) return { code: 'conflict' };
  if (status === 413) return { code: 'too.large' };
  if (status === 429) return { code: 'rate.limited' };
  return { code: 'request.invalid' };
}
