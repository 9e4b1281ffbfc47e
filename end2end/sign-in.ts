// Signing in to the dashboard as the account the server creates at start.
import type { Cookie, Page } from "@playwright/test";
import { ADMIN, BASE_URL } from "./e2e-env";

/** Fills and sends the sign-in form of the page at hand. */
export async function fillSignIn(page: Page, password = ADMIN.password) {
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

// The session of the last sign-in, reused by later tests of this worker:
// the server allows 10 sign-ins a minute per account, fewer than the tests.
let session: Cookie[] = [];

/** Opens `to` signed in: with the session of an earlier test if it still
 *  works, else through the sign-in page it sends to. */
export async function signInAt(page: Page, to: string) {
  if (session.length) await page.context().addCookies(session);
  await page.goto(`${BASE_URL}${to}`);
  if (new URL(page.url()).pathname === "/sign-in") {
    await fillSignIn(page);
    await page.waitForURL((u) => u.pathname !== "/sign-in");
    session = (await page.context().cookies()).filter((c) => c.name === "userdeck_session");
  }
}
