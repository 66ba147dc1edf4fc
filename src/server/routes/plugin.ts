// What every route plugin is given when app.ts registers it: the platform it serves. Plugins are
// registered with app.register, so each is its own Fastify context: the hooks, decorators and
// error handler of app.ts reach into it, while what a plugin adds for itself (a content type
// parser, a static-file decorator) stays inside it.
import type { Platform } from '../../platform.ts';

export interface RouteOptions {
  platform: Platform;
}
