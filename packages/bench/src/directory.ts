import { createHash, timingSafeEqual } from "node:crypto";

import type { Permissions } from "@natsflow/auth-callout";

/** The decisions every service in the benchmark makes: a users directory with per-user subjects. */
export interface DirectoryUser {
  pass: string;
  account: string;
}

export const USER_COUNT = 1000;

export function makeDirectory(): Map<string, DirectoryUser> {
  const users = new Map<string, DirectoryUser>();
  for (let i = 0; i < USER_COUNT; i++) users.set(`user${i}`, { pass: `pass${i}`, account: "APP" });
  // The Go reference service's one user: side-by-side runs send every service the same login.
  users.set("alice", { pass: "alice", account: "APP" });
  return users;
}

export function passwordMatches(stored: string, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  return timingSafeEqual(createHash("sha256").update(stored).digest(), createHash("sha256").update(presented).digest());
}

/** Subjects of the user's own; the Go reference's alice is not restricted (its default grant), and so here too. */
export function permissionsFor(name: string): Permissions | "all" {
  if (name === "alice") return "all";
  return { pub: { allow: [`users.${name}.>`] }, sub: { allow: [`users.${name}.>`, "_INBOX.>"] } };
}
