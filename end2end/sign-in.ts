// Signing in to the dashboard as the account the server creates at start.
import type { Page } from "@playwright/test";
import { ADMIN, BASE_URL } from "./e2e-env";

/** Fills and sends the sign-in form of the page at hand. */
export async function fillSignIn(page: Page, password = ADMIN.password) {
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Opens `to` (which sends to the sign-in page first) and signs in. */
export async function signInAt(page: Page, to: string) {
  await page.goto(`${BASE_URL}${to}`);
  await fillSignIn(page);
}
