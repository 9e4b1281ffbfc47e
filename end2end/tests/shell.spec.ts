// The dashboard shell: sign-in, served by the binary, hydrated by the wasm
// bundle, navigable, and free of console errors — with JavaScript on and off.
import { test, expect, type Page } from "@playwright/test";
import { BASE_URL } from "../e2e-env";
import { fillSignIn } from "../sign-in";

const PAGES = ["Users", "Segments", "Attributes", "Personalization", "Imports", "Settings"];

function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") errors.push(`${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  return errors;
}

const signIn = fillSignIn;

test("sign in, hydrate, navigate and sign out without console errors", async ({ page }) => {
  const errors = collectErrors(page);
  const failed: string[] = [];
  page.on("response", (r) => {
    if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
  });
  await page.goto(`${BASE_URL}/segments`);
  await expect(page).toHaveURL(/\/sign-in\?next=\/segments$/);
  await expect(page).toHaveTitle("Sign in · userdeck");
  await page.screenshot({ path: test.info().outputPath("sign-in.png") });

  await signIn(page, "not the password");
  await expect(page.getByRole("alert")).toHaveText("That email and password do not match an account.");
  await signIn(page);
  await expect(page).toHaveURL(/\/segments$/);
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");

  const nav = page.getByRole("navigation", { name: "Main" });
  for (const name of PAGES) {
    await nav.getByRole("link", { name }).click();
    await expect(page.getByRole("heading", { level: 1 })).toHaveText(name);
    await expect(nav.getByRole("link", { name })).toHaveAttribute("aria-current", "page");
    await expect(page).toHaveTitle(`${name} · userdeck`);
  }
  await page.screenshot({ path: test.info().outputPath("settings.png"), fullPage: true });

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("alert")).toHaveText("You are signed out.");
  await page.goto(`${BASE_URL}/users`);
  await expect(page).toHaveURL(/\/sign-in/);
  expect(failed).toEqual([]);
  expect(errors).toEqual([]);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("sign-in and every page work server-rendered", async ({ page }) => {
    await page.goto(`${BASE_URL}/users`);
    await signIn(page);
    await expect(page).toHaveURL(/\/users$/);
    for (const name of PAGES) {
      const res = await page.goto(`${BASE_URL}/${name.toLowerCase()}`);
      expect(res?.status()).toBe(200);
      await expect(page.getByRole("heading", { level: 1 })).toHaveText(name);
      await expect(page.getByRole("navigation", { name: "Main" }).getByRole("listitem")).toHaveCount(PAGES.length);
    }
    const res = await page.goto(`${BASE_URL}/no-such-page`);
    expect(res?.status()).toBe(404);
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Page not found");
  });
});
