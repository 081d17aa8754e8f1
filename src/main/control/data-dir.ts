// The data directory: created on first start with its partition and store counts recorded in
// engine.json, checked on every later start, and locked against a second engine.
import fs from 'node:fs';
import path from 'node:path';
import { newLayout } from '../../shared/config.js';
import type { Layout } from '../../shared/partition.js';
import { legacyLmdbPath, storesPath } from '../../shared/store.js';

/**
 * The layout of everything under the data directory (metadata records, event log entries,
 * progress marks). Bump it with any change an older engine's files would be misread under: the
 * engine refuses a directory of another format rather than misread it. Format 2: event log
 * entries carry a kind byte (with a folded-update count) and the key's version. Format 3: the
 * partitions grouped into stores, one LMDB environment each (DATA_DIR/stores/<s>).
 */
export const FORMAT = 3;
/** The format `hunt data upgrade` turns into this one. */
export const UPGRADABLE_FORMAT = 2;

export interface EngineFile {
  format: number;
  partitions: number;
  /** Absent in format 2 (one environment). */
  stores?: number;
  createdAt: string;
}

export class DataDirError extends Error {
  override name = 'DataDirError';
}

export interface OpenedDataDir extends Layout {
  created: boolean;
  unlock(): void;
}

/**
 * Opens (or creates) the data directory. `requested` is HUNT_PARTITIONS and HUNT_STORES: they
 * decide the counts of a new directory (with HUNT_WORKERS where they are unset: newLayout) and must
 * match the recorded counts of an existing one.
 */
export function openDataDir(dir: string, requested: { partitions: number | undefined; stores: number | undefined }, workers: number): OpenedDataDir {
  fs.mkdirSync(dir, { recursive: true });
  const unlock = lockDataDir(dir);
  try {
    const enginePath = path.join(dir, 'engine.json');
    if (!fs.existsSync(enginePath)) {
      if (fs.existsSync(legacyLmdbPath(dir)) || fs.existsSync(storesPath(dir))) {
        throw new DataDirError(`${dir} holds LMDB data but no engine.json: refusing to guess its partition count`);
      }
      const { partitions, stores } = newLayout(requested, workers);
      if (stores > partitions) throw new DataDirError(`HUNT_STORES=${stores} is more than HUNT_PARTITIONS=${partitions}: a store holds at least one partition`);
      writeEngineFile(dir, { format: FORMAT, partitions, stores, createdAt: new Date().toISOString() });
      return { partitions, stores, created: true, unlock };
    }
    const file = readEngineFile(enginePath, dir);
    for (const [name, value, recorded] of [['HUNT_PARTITIONS', requested.partitions, file.partitions], ['HUNT_STORES', requested.stores, file.stores]] as const) {
      if (value !== undefined && value !== recorded) {
        throw new DataDirError(
          `${name}=${value} but the data directory ${dir} was created with ${recorded}; ` +
            `it is fixed when a data directory is created (unset ${name} or set it to ${recorded})`,
        );
      }
    }
    return { partitions: file.partitions, stores: file.stores!, created: false, unlock };
  } catch (error) {
    unlock();
    throw error;
  }
}

/** Writes engine.json whole or not at all (a temporary file renamed over it). */
export function writeEngineFile(dir: string, file: EngineFile): void {
  const enginePath = path.join(dir, 'engine.json');
  const tmp = `${enginePath}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`);
  fs.renameSync(tmp, enginePath);
}

/** engine.json of a directory in this format (or, with `upgradable`, the format before it). */
export function readEngineFile(enginePath: string, dir: string, upgradable = false): EngineFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(enginePath, 'utf8'));
  } catch (error) {
    throw new DataDirError(`cannot read ${enginePath}: ${(error as Error).message}`);
  }
  const file = parsed as Partial<EngineFile> | null;
  const format = upgradable ? UPGRADABLE_FORMAT : FORMAT;
  if (file !== null && typeof file === 'object' && Number.isInteger(file.format) && file.format !== format) {
    if (!upgradable && file.format === UPGRADABLE_FORMAT) {
      throw new DataDirError(
        `${enginePath} says its data is in format ${file.format}, one LMDB environment; this engine reads format ${FORMAT} (stores). ` +
          `Upgrade it offline, once: hunt data upgrade ${dir} (it keeps the old files until you remove them)`,
      );
    }
    throw new DataDirError(
      `${enginePath} says its data is in format ${file.format}; this engine reads format ${FORMAT} only and will not misread it: ` +
        `point HUNT_DATA_DIR at a new directory, or run the engine version that wrote this one`,
    );
  }
  const counted = (n: unknown, max: number) => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= max;
  if (
    file === null ||
    typeof file !== 'object' ||
    file.format !== format ||
    !counted(file.partitions, 65535) ||
    (format === FORMAT && (!counted(file.stores, 4096) || file.stores! > file.partitions!))
  ) {
    throw new DataDirError(`${enginePath} is not a valid engine file (format ${format} with partitions 1..65535${format === FORMAT ? ' and stores 1..partitions' : ''})`);
  }
  return file as EngineFile;
}

/** An exclusive lock file holding our pid; a lock left by a dead process is taken over. */
export function lockDataDir(dir: string): () => void {
  const lockPath = path.join(dir, 'engine.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(lockPath, 'wx');
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        fs.rmSync(lockPath, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new DataDirError(`cannot lock data directory ${dir}: ${(error as Error).message}`);
      }
      const holder = Number(fs.readFileSync(lockPath, 'utf8'));
      if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) {
        throw new DataDirError(`data directory ${dir} is in use by another engine (pid ${holder}, ${lockPath})`);
      }
      fs.rmSync(lockPath, { force: true });
    }
  }
  throw new DataDirError(`cannot lock data directory ${dir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
