// Accounts: the first-run setup page (on a second, empty server), and
// inviting a colleague from Settings.
import { test, expect } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ADMIN, BASE_URL, BIN, PORT } from "../e2e-env";
import { signInAt } from "../sign-in";
import { watchErrors } from "../watch";

test("first run: the setup link from the log creates the first account, once", async ({ page }) => {
  const errors = watchErrors(page);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "userdeck-setup-"));
  const port = PORT + 100;
  const env: NodeJS.ProcessEnv = { ...process.env, RUST_LOG: "info" };
  delete env.USERDECK_ADMIN_EMAIL;
  delete env.USERDECK_ADMIN_PASSWORD;
  const server: ChildProcess = spawn(BIN, ["serve", "--addr", `127.0.0.1:${port}`, "--database-url", `sqlite://${dir}/first.db`], { env });
  try {
    let log = "";
    server.stdout?.on("data", (d) => (log += d));
    server.stderr?.on("data", (d) => (log += d));
    await expect.poll(() => /http:\/\/\S+\/setup\?token=\w+/.exec(log)?.[0], { timeout: 20_000 }).toBeTruthy();
    const link = /http:\/\/\S+\/setup\?token=\w+/.exec(log)![0];
    await page.goto(link);
    await page.getByLabel("Email").fill("first@example.com");
    await page.getByLabel("Password (10 characters or more)").fill("first account password");
    await page.getByRole("button", { name: "Create account" }).click();
    await expect(page).toHaveURL(/\/users$/);
    await expect(page.locator(".who-am-i .account")).toHaveText("first@example.com");
    // The link is spent.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.goto(link);
    await page.getByLabel("Email").fill("second@example.com");
    await page.getByLabel("Password (10 characters or more)").fill("second account password");
    await page.getByRole("button", { name: "Create account" }).click();
    await expect(page.getByRole("alert")).toContainText("The first account exists already");
    expect(errors).toEqual([]);
  } finally {
    server.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("invite a colleague: the link creates their account", async ({ page, browser }) => {
  const errors = watchErrors(page);
  await signInAt(page, "/settings");
  await page.getByLabel("Invite a colleague by email").fill("colleague@example.com");
  await page.getByRole("button", { name: "Create invitation link" }).click();
  const invite = page.locator('li[data-invite="colleague@example.com"]');
  await expect(invite).toContainText(`invited by ${ADMIN.email}`);
  const link = (await invite.locator("[data-invite-link]").textContent())!;
  expect(link).toMatch(new RegExp(`^${BASE_URL}/invite\\?token=\\w+$`));

  const other = await browser.newContext();
  const them = await other.newPage();
  const theirErrors = watchErrors(them);
  await them.goto(link);
  await them.getByLabel("Password (10 characters or more)").fill("colleague password 1");
  await them.getByRole("button", { name: "Create account" }).click();
  await expect(them).toHaveURL(/\/users$/);
  await expect(them.locator(".who-am-i .account")).toHaveText("colleague@example.com");
  await other.close();

  await page.reload();
  await expect(page.locator('li[data-invite="colleague@example.com"]')).toHaveCount(0);
  const account = page.locator('li[data-account="colleague@example.com"]');
  await expect(account).toBeVisible();
  await account.locator("summary", { hasText: "Remove" }).click();
  await account.getByLabel("Yes, colleague@example.com can no longer sign in").check();
  await account.getByRole("button", { name: "Remove account" }).click();
  await expect(page.locator('li[data-account="colleague@example.com"]')).toHaveCount(0);
  expect(errors).toEqual([]);
  expect(theirErrors).toEqual([]);
});
