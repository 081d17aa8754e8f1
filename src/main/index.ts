// `npm start`: configuration from HUNT_* variables, then the engine until SIGTERM/SIGINT.
import os from 'node:os';
import { ConfigError, loadConfig, redactedConfig } from '../shared/config.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { DataDirError } from './data-dir.js';
import { Engine } from './engine.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

async function main(): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) fail(createLogger('info'), error);
    throw error;
  }
  const { config, unknownVariables } = loaded;
  const log = createLogger(config.logLevel);
  for (const name of unknownVariables) log.warn({ variable: name }, `${name} is not a setting of this engine (a typo?); it is ignored`);
  log.info({ config: redactedConfig(config), cores: os.availableParallelism() }, 'effective configuration');
  if (config.authTokens.length === 0 && !LOOPBACK.has(config.host)) {
    log.warn({ host: config.host }, `listening on ${config.host} WITHOUT authentication: anyone who can reach it can publish and read (set HUNT_AUTH_TOKENS)`);
  }

  let engine: Engine;
  try {
    engine = await Engine.start(config, log, {
      onFatal(error) {
        log.fatal({ err: error }, 'engine cannot continue safely; exiting');
        process.exit(1);
      },
    });
  } catch (error) {
    if (error instanceof ConfigError || error instanceof DataDirError) fail(log, error);
    log.fatal({ err: error }, `start-up failed: ${(error as Error).message}`);
    log.flush();
    process.exit(1);
  }

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    signalled = true;
    log.info({ signal }, 'signal received');
    engine.stop().then(
      () => process.exit(0),
      (error) => {
        log.fatal({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

function fail(log: Logger, error: Error): never {
  log.fatal({ problems: (error as ConfigError).problems }, error.message);
  log.flush();
  process.exit(2);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
