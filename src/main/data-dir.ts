// The data directory: created on first start with its partition count recorded in engine.json,
// checked on every later start, and locked against a second engine.
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_PARTITIONS } from '../shared/config.js';
import { lmdbPath } from '../shared/store.js';

/**
 * The layout of everything under the data directory (metadata records, event log entries,
 * progress marks). Bump it with any change an older engine's files would be misread under: the
 * engine refuses a directory of another format rather than misread it. Format 2: event log
 * entries carry a kind byte (with a folded-update count) and the key's version.
 */
const FORMAT = 2;

interface EngineFile {
  format: number;
  partitions: number;
  createdAt: string;
}

export class DataDirError extends Error {
  override name = 'DataDirError';
}

export interface OpenedDataDir {
  partitions: number;
  created: boolean;
  unlock(): void;
}

/**
 * Opens (or creates) the data directory. `requestedPartitions` is HUNT_PARTITIONS: it decides the
 * count of a new directory and must match the recorded count of an existing one.
 */
export function openDataDir(dir: string, requestedPartitions: number | undefined): OpenedDataDir {
  fs.mkdirSync(dir, { recursive: true });
  const unlock = lock(dir);
  try {
    const enginePath = path.join(dir, 'engine.json');
    if (!fs.existsSync(enginePath)) {
      if (fs.existsSync(lmdbPath(dir))) {
        throw new DataDirError(`${dir} holds LMDB data but no engine.json: refusing to guess its partition count`);
      }
      const partitions = requestedPartitions ?? DEFAULT_PARTITIONS;
      const file: EngineFile = { format: FORMAT, partitions, createdAt: new Date().toISOString() };
      const tmp = `${enginePath}.tmp`;
      fs.writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`);
      fs.renameSync(tmp, enginePath);
      return { partitions, created: true, unlock };
    }
    const file = readEngineFile(enginePath);
    if (requestedPartitions !== undefined && requestedPartitions !== file.partitions) {
      throw new DataDirError(
        `HUNT_PARTITIONS=${requestedPartitions} but the data directory ${dir} was created with ${file.partitions} partitions; ` +
          `the partition count is fixed when a data directory is created (unset HUNT_PARTITIONS or set it to ${file.partitions})`,
      );
    }
    return { partitions: file.partitions, created: false, unlock };
  } catch (error) {
    unlock();
    throw error;
  }
}

function readEngineFile(enginePath: string): EngineFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(enginePath, 'utf8'));
  } catch (error) {
    throw new DataDirError(`cannot read ${enginePath}: ${(error as Error).message}`);
  }
  const file = parsed as Partial<EngineFile> | null;
  if (file !== null && typeof file === 'object' && Number.isInteger(file.format) && file.format !== FORMAT) {
    throw new DataDirError(
      `${enginePath} says its data is in format ${file.format}; this engine reads format ${FORMAT} only and will not misread it: ` +
        `point HUNT_DATA_DIR at a new directory, or run the engine version that wrote this one`,
    );
  }
  if (
    file === null ||
    typeof file !== 'object' ||
    file.format !== FORMAT ||
    !Number.isInteger(file.partitions) ||
    (file.partitions as number) < 1 ||
    (file.partitions as number) > 65535
  ) {
    throw new DataDirError(`${enginePath} is not a valid engine file (format ${FORMAT} with partitions 1..65535)`);
  }
  return file as EngineFile;
}

/** An exclusive lock file holding our pid; a lock left by a dead process is taken over. */
function lock(dir: string): () => void {
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
