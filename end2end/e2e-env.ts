// Settings shared by playwright.config.ts (which starts the server) and the
// tests (which talk to it), so both agree on the binary, port and database.
import * as path from "node:path";
import { execFileSync } from "node:child_process";

/** The userdeck binary under test (the release build by default). */
export const BIN = path.resolve(process.env.USERDECK_BIN ?? path.join(__dirname, "..", "target", "release", "userdeck"));

/** Port of the userdeck server started for the tests. */
export const PORT = Number(process.env.USERDECK_E2E_PORT ?? 3917);

/** SQLite file of that server; deleted before every run. */
export const DB_FILE = path.resolve(process.env.USERDECK_E2E_DB ?? `/tmp/userdeck-e2e-${PORT}.db`);
export const DATABASE_URL = `sqlite://${DB_FILE}`;

export const BASE_URL = `http://127.0.0.1:${PORT}`;

/** The dashboard account the server creates at start. */
export const ADMIN = { email: "admin@example.com", password: "correct horse battery staple" };

export interface Keys {
  workspace: unknown;
  sdk_key: string;
  secret_key: string;
  identify_secret: string;
}

let cached: Keys | undefined;

/** The workspace keys, as `userdeck keys` prints them (SQLite WAL lets it run beside the server). */
export function keys(): Keys {
  if (!cached) {
    const out = execFileSync(BIN, ["keys", "--database-url", DATABASE_URL], {
      encoding: "utf8",
      env: { ...process.env, RUST_LOG: "warn" },
    });
    // Take the JSON object even if a log line slipped onto stdout.
    const json = out.slice(out.indexOf("{"), out.lastIndexOf("}") + 1);
    cached = JSON.parse(json) as Keys;
  }
  return cached;
}

/** Quote a string for the POSIX shell that Playwright runs webServer.command in. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
