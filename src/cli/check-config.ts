// `hunt check-config FILE` (and `npm run check-config -- FILE`): validates a routes file the way the
// engine does at start-up and on reload. Every problem is printed on its own line with its JSON
// path and line (exit 1); a valid file prints a summary of its routes (exit 0).
import { loadRoutes } from '../main/routes/routes-file.js';
import { describeProblem, RoutesError, type CompiledRoute } from '../main/routes/routes.js';

function summary(route: CompiledRoute): string {
  const what = route.drop
    ? 'drop'
    : [
        route.own === null ? 'counters only' : `update: ${route.own.groups.flatMap((g) => g.operations.map((o) => `${g.operator} ${o.path}`)).join(', ')}`,
        ...route.also.map((_, j) => `fan-out #${j + 1}`),
      ].join('; ');
  const keys = route.keyPrefix === '' ? '' : ` keys ${JSON.stringify(`${route.keyPrefix}…`)}`;
  const requires = route.require.length === 0 ? '' : ` requires ${route.require.map(([f, k]) => `${f}:${k}`).join(', ')}`;
  return `  ${route.index}. ${JSON.stringify(route.name)}: type ${JSON.stringify(route.type)}${keys}${requires} → ${what}`;
}

/** Prints the verdict on a routes file; returns the exit code. */
export function checkConfig(file: string): number {
  try {
    const config = loadRoutes(file);
    console.log(`${file}: valid, ${config.routes.length} route(s); unmatched events: ${config.unmatched}`);
    for (const route of config.routes) console.log(summary(route));
    return 0;
  } catch (error) {
    if (!(error instanceof RoutesError)) throw error;
    console.error(`${file}: ${error.problems.length} problem(s)`);
    for (const problem of error.problems) console.error(`  ${describeProblem(problem)}`);
    return 1;
  }
}
