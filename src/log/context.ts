// The request a piece of work is done for, carried through its async calls: every log line written
// while a request is handled names its request id, also from modules that never see the request
// (capture, the door, the indicators). Set by the HTTP server (server/observability.ts).
import { AsyncLocalStorage } from 'node:async_hooks';

export interface RequestContext {
  reqId: string;
}

export const requestContext = new AsyncLocalStorage<RequestContext>();
