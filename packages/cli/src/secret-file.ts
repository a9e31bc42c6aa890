import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/**
 * Writes a file only its owner can read or write (0600), whatever was there before: a new temporary
 * file in the same directory, then a rename over `path`. An existing file's looser mode is not kept,
 * and a reader sees the old content or the new, never half of it.
 */
export async function writeSecretFile(path: string, data: string | Uint8Array): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    // "wx": a file of our own making, never one planted under that name.
    const file = await open(temp, "wx", 0o600);
    try {
      await file.writeFile(data);
      // On disk before the rename publishes it: a crash leaves the old file or the new, not an empty one.
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}
