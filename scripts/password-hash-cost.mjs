// What one password verification costs on this machine, and how many per second the default
// queue sustains: `npm run build && node scripts/password-hash-cost.mjs`.
import { availableParallelism } from "node:os";

import { hashPassword, verifyPassword } from "../packages/auth-callout/dist/index.js";

const ROUNDS = 20;

for (const algorithm of ["argon2id", "bcrypt"]) {
  const stored = await hashPassword("measure-me", algorithm);
  await verifyPassword(stored, "measure-me");
  const one = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    await verifyPassword(stored, "measure-me");
    one.push(performance.now() - t);
  }
  one.sort((a, b) => a - b);
  const t = performance.now();
  await Promise.all(Array.from({ length: ROUNDS * 2 }, () => verifyPassword(stored, "measure-me")));
  const perSecond = (ROUNDS * 2 * 1000) / (performance.now() - t);
  console.log(`${algorithm}: ${one[ROUNDS / 2].toFixed(1)} ms per verification (median of ${ROUNDS}, one at a time); ${perSecond.toFixed(0)}/s through the default queue (${availableParallelism()} cores)`);
}
