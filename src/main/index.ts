// `npm start`: configuration from HUNT_* variables, then the engine until SIGTERM/SIGINT.
import os from 'node:os';
import { ConfigError, loadConfig, redactedConfig } from '../shared/config.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { DataDirError } from './control/data-dir.js';
import { Engine } from './control/engine.js';
import { hasCredentialFiles, hasCredentials } from './auth/auth-sources.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

async function main(): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) return fail(createLogger('info'), error);
    throw error;
  }
  const { config, unknownVariables } = loaded;
  const log = createLogger(config.logLevel);
  for (const name of unknownVariables) log.warn({ variable: name }, `${name} is not a setting of this engine (a typo?); it is ignored`);
  log.info({ config: redactedConfig(config), cores: os.availableParallelism() }, 'effective configuration');
  if (!hasCredentials(config) && !LOOPBACK.has(config.host)) {
    log.warn({ host: config.host }, `listening on ${config.host} WITHOUT authentication: anyone who can reach it can publish and read (set HUNT_AUTH_TOKENS, HUNT_AUTH_FILE or a JWT key file)`);
  }

  let engine: Engine;
  try {
    engine = await Engine.start(config, log, {
      onFatal(error) {
        log.fatal({ err: error }, 'engine cannot continue safely; exiting');
        exitAfterLogs(log, 1);
      },
    });
  } catch (error) {
    if (error instanceof ConfigError || error instanceof DataDirError) return fail(log, error);
    log.fatal({ err: error }, `start-up failed: ${(error as Error).message}`);
    return exitAfterLogs(log, 1);
  }

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting at once');
      void engine.abandon().then(() => exitAfterLogs(log, 1));
      return;
    }
    signalled = true;
    log.info({ signal }, 'signal received');
    engine.stop().then(
      () => exitAfterLogs(log, 0),
      (error) => {
        log.fatal({ err: error }, 'stop failed');
        exitAfterLogs(log, 1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP re-reads the files the settings name: the routes and the credentials.
  process.on('SIGHUP', () => {
    const credentialFiles = hasCredentialFiles(config);
    // Without any file to re-read, reloadRoutes says so in the log.
    if (config.routes !== undefined || !credentialFiles) engine.reloadRoutes('SIGHUP').catch((error: Error) => log.error({ err: error }, 'routes reload not done'));
    if (credentialFiles) engine.reloadAuth('SIGHUP').catch((error: Error) => log.error({ err: error }, 'credentials reload not done'));
  });
  watchFileSizeLimit(log);
}

/**
 * A write past the file-size limit (RLIMIT_FSIZE, e.g. `ulimit -f` or systemd's LimitFSIZE) raises
 * SIGXFSZ, which by default kills the process. Handled, the write fails with EFBIG instead: the
 * batch is not committed, its pubs get STORAGE, reads go on, and writes resume once the limit is
 * raised — the same as a full disk.
 */
function watchFileSizeLimit(log: Logger): void {
  let lastLogged = 0;
  let since = 0;
  process.on('SIGXFSZ', () => {
    since++;
    const now = Date.now();
    if (now - lastLogged < 10_000) return;
    log.error({ signals: since }, 'file size limit reached (SIGXFSZ): LMDB writes fail and their pubs get STORAGE until it is raised');
    lastLogged = now;
    since = 0;
  });
}

/** A start-up error the operator must fix (configuration, data directory): exit code 2. */
function fail(log: Logger, error: Error): void {
  log.fatal({ problems: (error as ConfigError).problems }, error.message);
  exitAfterLogs(log, 2);
}

/** The log destination is asynchronous: exit once it has written everything. */
function exitAfterLogs(log: Logger, code: number): void {
  log.flush(() => process.exit(code));
}

main().catch((error) => {
  const log = createLogger('info');
  log.fatal({ err: error }, `engine failed: ${(error as Error).message}`);
  exitAfterLogs(log, 1);
});
