// The scale-out benchmark's unit of CPU work: SHA-256 chained BENCH_SCALE_HASHES times (≈ 0.5–1 ms).
import { createHash } from "node:crypto";

const hashes = Number(process.env.BENCH_SCALE_HASHES ?? 300);

export function work(): string {
  let digest = Buffer.alloc(32);
  for (let i = 0; i < hashes; i++) digest = createHash("sha256").update(digest).digest();
  return digest.toString("hex");
}
