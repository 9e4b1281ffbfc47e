import { defineConfig } from "@playwright/test";
import { ADMIN, BIN, PORT, DB_FILE, DATABASE_URL, BASE_URL, shellQuote } from "./e2e-env";

// Never run `npx playwright install`: the browser is Debian's chromium
// (apt-get install -y chromium), not a downloaded build.
export default defineConfig({
  testDir: "./tests",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: "list",
  timeout: 30_000,
  use: {
    headless: true,
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: {
    // The database is removed in the same shell command (not in this file:
    // Playwright also loads the config in its worker processes, which must
    // not delete the database of a running server).
    command:
      `test -x ${shellQuote(BIN)} || { echo ${shellQuote(`userdeck binary not found at ${BIN}: build the release binary or set USERDECK_BIN`)} >&2; exit 1; }; ` +
      `rm -f ${shellQuote(DB_FILE)} ${shellQuote(DB_FILE + "-wal")} ${shellQuote(DB_FILE + "-shm")} && ` +
      `exec ${shellQuote(BIN)} serve --addr 127.0.0.1:${PORT} --database-url ${shellQuote(DATABASE_URL)}`,
    url: `${BASE_URL}/healthz`,
    // The first account, made at start (the setup page is tested over HTTP).
    env: { RUST_LOG: "info", USERDECK_ADMIN_EMAIL: ADMIN.email, USERDECK_ADMIN_PASSWORD: ADMIN.password },
    // A server already on the port would have another database: fail instead.
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "ignore",
    stderr: "pipe",
  },
});
