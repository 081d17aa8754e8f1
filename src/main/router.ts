// Per event, the route that applies (first match in file order, by type and key prefix) and the
// check of its required data fields. Matching by type goes through a bounded cache, since an
// engine sees few distinct types.
import { ErrorCode, ProtocolError } from './protocol.js';
import type { CompiledRoute, FieldKind, RoutesConfig } from './routes.js';

const TYPE_CACHE_LIMIT = 10_000;

export class Router {
  private readonly byType = new Map<string, CompiledRoute[]>();

  constructor(readonly config: RoutesConfig) {}

  /**
   * The route for an event, or null for the default merge; throws BAD_EVENT when the event
   * matches none and unmatched events are rejected, or when it lacks a required field.
   */
  route(key: string, type: string, data: Record<string, unknown> | undefined, index: number, id: number): CompiledRoute | null {
    const route = this.candidates(type).find((r) => key.startsWith(r.keyPrefix)) ?? null;
    if (route === null) {
      if (this.config.unmatched === 'reject') {
        throw new ProtocolError(ErrorCode.BAD_EVENT, `events[${index}] (type ${JSON.stringify(type)}) matches no route and the routes reject unmatched events`, id, index);
      }
      return null;
    }
    for (const [field, kind] of route.require) {
      const value = data === undefined || !Object.hasOwn(data, field) ? undefined : data[field];
      if (!hasKind(value, kind)) {
        throw new ProtocolError(
          ErrorCode.BAD_EVENT,
          `events[${index}].data.${field} must be ${kind === 'any' ? 'present' : `a ${kind}`} (route ${JSON.stringify(route.name)})`,
          id,
          index,
        );
      }
    }
    return route;
  }

  private candidates(type: string): CompiledRoute[] {
    let routes = this.byType.get(type);
    if (routes === undefined) {
      routes = this.config.routes.filter((r) => r.matchesType(type));
      if (this.byType.size >= TYPE_CACHE_LIMIT) this.byType.clear();
      this.byType.set(type, routes);
    }
    return routes;
  }
}

function hasKind(value: unknown, kind: FieldKind): boolean {
  switch (kind) {
    case 'any':
      return value !== undefined;
    case 'array':
      return Array.isArray(value);
    case 'map':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    default:
      return typeof value === kind;
  }
}
