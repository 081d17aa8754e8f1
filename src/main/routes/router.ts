// Per event, the route that applies (first match in file order, by type and key prefix) and the
// check of its required data fields. Matching by type goes through a bounded cache, since an
// engine sees few distinct types.
import { sameBytes } from '../../shared/byte-ranges.js';
import { ErrorCode, ProtocolError } from '../../shared/wire.js';
import { planRoute, type RoutePlan } from './route-bytes.js';
import type { CompiledRoute, FieldKind, RoutesConfig } from './routes.js';

const TYPE_CACHE_LIMIT = 10_000;

/** The name under which events that match no route are counted. */
export const NO_ROUTE = '(none)';

export class Router {
  private readonly byType = new Map<string, CompiledRoute[]>();
  /** Events matched per route (by index; the last slot: no route), counted as they are validated. */
  private readonly matches: Float64Array;
  /** Per route (by index): its plan for the routed pub fast path, or null when it has none. */
  readonly plans: (RoutePlan | null)[];
  /** Per route: its key prefix as UTF-8. */
  private readonly keyPrefixes: Uint8Array[];

  constructor(readonly config: RoutesConfig) {
    this.matches = new Float64Array(config.routes.length + 1);
    this.plans = config.routes.map(planRoute);
    this.keyPrefixes = config.routes.map((route) => Buffer.from(route.keyPrefix, 'utf8'));
  }

  /** Events matched so far, by route name (NO_ROUTE: none matched); for /metrics. */
  matchCounts(into: Map<string, number>): void {
    const names = [...this.config.routes.map((r) => r.name), NO_ROUTE];
    names.forEach((name, i) => into.set(name, (into.get(name) ?? 0) + this.matches[i]!));
  }

  /**
   * The route for an event, or null for the default merge; throws BAD_EVENT when the event
   * matches none and unmatched events are rejected, or when it lacks a required field.
   */
  route(key: string, type: string, data: Record<string, unknown> | undefined, index: number, id: number): CompiledRoute | null {
    const route = this.candidates(type).find((r) => key.startsWith(r.keyPrefix)) ?? null;
    this.matches[route === null ? this.config.routes.length : route.index]++;
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

  /**
   * The route for an event whose key is the UTF-8 bytes key[start, end), or null when none
   * matches; nothing is counted (countMatches does, once the pub is taken).
   */
  routeOfKeyBytes(type: string, key: Uint8Array, start: number, end: number): CompiledRoute | null {
    const routes = this.candidates(type);
    for (let r = 0; r < routes.length; r++) {
      const prefix = this.keyPrefixes[routes[r]!.index]!;
      if (prefix.length <= end - start && sameBytes(prefix, 0, key, start, prefix.length)) return routes[r]!;
    }
    return null;
  }

  /** Counts the matches of `count` events: route index per event, -1 for none. */
  countMatches(routeOfEvent: Int32Array, count: number): void {
    for (let i = 0; i < count; i++) {
      const index = routeOfEvent[i]!;
      this.matches[index === -1 ? this.config.routes.length : index]++;
    }
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
