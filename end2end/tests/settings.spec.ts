// Settings: the keys shown are the workspace's, the snippet carries the SDK
// key, a rotation needs a confirmation and changes the key, identify
// verification switches on and off.
import { test, expect, type Page } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { ADMIN, BASE_URL, BIN, DATABASE_URL } from "../e2e-env";
import { signInAt } from "../sign-in";
import { watchErrors } from "../watch";

/** What `userdeck keys` prints now (not cached: keys change here). */
function currentKeys(): Record<string, unknown> {
  const out = execFileSync(BIN, ["keys", "--database-url", DATABASE_URL], { encoding: "utf8", env: { ...process.env, RUST_LOG: "warn" } });
  return JSON.parse(out.slice(out.indexOf("{"), out.lastIndexOf("}") + 1));
}

async function signIn(page: Page) {
  await signInAt(page, "/settings");
  await expect(page).toHaveURL(/\/settings$/);
}

test("keys, snippet, rotation and identify verification", async ({ page }) => {
  const errors = watchErrors(page);
  await signIn(page);
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  const keys = currentKeys();
  await expect(page.locator('code[data-key="sdk_key"]')).toHaveText(String(keys.sdk_key));
  await expect(page.locator('code[data-key="secret_key"]')).toHaveText(String(keys.secret_key));
  await expect(page.locator("code[data-snippet]")).toContainText(`window.USERDECK_KEY = "${keys.sdk_key}"`);
  await expect(page.locator("code[data-snippet]")).toContainText(`${BASE_URL}/sdk.js`);
  await expect(page.getByRole("list").filter({ hasText: ADMIN.email })).toContainText("(you)");
  await page.screenshot({ path: test.info().outputPath("settings.png"), fullPage: true });

  // Rotation asks for a confirmation first.
  const row = page.locator(".key-row").filter({ has: page.locator('code[data-key="identify_secret"]') });
  const rotateButton = row.getByRole("button", { name: "Rotate the identify secret" });
  await rotateButton.click();
  expect(currentKeys().identify_secret).toBe(keys.identify_secret);
  await row.getByRole("checkbox").check();
  await rotateButton.click();
  await expect(page.locator('code[data-key="identify_secret"]')).not.toHaveText(String(keys.identify_secret));
  const rotated = currentKeys();
  expect(rotated.identify_secret).not.toBe(keys.identify_secret);
  await expect(page.locator('code[data-key="identify_secret"]')).toHaveText(String(rotated.identify_secret));
  expect(rotated.sdk_key).toBe(keys.sdk_key);

  // Identify verification on, then off again.
  await page.getByRole("button", { name: "Turn verification on" }).click();
  await expect(page.locator("[data-verification]")).toHaveAttribute("data-verification", "on");
  expect(currentKeys().identify_verification).toBe(true);
  await page.getByRole("button", { name: "Turn verification off" }).click();
  await expect(page.locator("[data-verification]")).toHaveAttribute("data-verification", "off");
  expect(currentKeys().identify_verification).toBe(false);
  expect(errors).toEqual([]);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("the settings page is rendered by the server", async ({ page }) => {
    await signIn(page);
    const keys = currentKeys();
    await expect(page.locator('code[data-key="sdk_key"]')).toHaveText(String(keys.sdk_key));
    await expect(page.locator("code[data-snippet]")).toContainText(String(keys.sdk_key));
  });
});
