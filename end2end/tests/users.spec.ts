// The Users list: total, search, sort and pages, with the state in the URL.
import { test, expect, type Page } from "@playwright/test";
import { BASE_URL, keys } from "../e2e-env";
import { signInAt } from "../sign-in";
import { watchErrors } from "../watch";

const PEOPLE = 60;

test.beforeAll(async ({ request }) => {
  const batch = Array.from({ length: PEOPLE }, (_, i) => ({
    user_id: `list-${String(i).padStart(3, "0")}`,
    name: `Listcheck ${String(i).padStart(2, "0")}`,
    email: `listcheck${i}@example.com`,
    attributes: { plan: i % 2 ? "Pro" : "Free" },
  }));
  // A hostile name must show as text.
  batch.push({ user_id: "list-hostile", name: "Listcheck <img src=x onerror=alert(1)>", email: "h@example.com", attributes: { plan: "Pro" } });
  const res = await request.post(`${BASE_URL}/api/v1/batch`, {
    headers: { Authorization: `Bearer ${keys().secret_key}` },
    data: { batch },
  });
  expect(res.status()).toBe(200);
});

const signIn = signInAt;

const rows = (page: Page) => page.locator("table.users tbody tr");

for (const js of [true, false]) {
  test.describe(js ? "with JavaScript" : "without JavaScript", () => {
    test.use({ javaScriptEnabled: js });

    test("search, sort and page through users; the URL keeps the state", async ({ page }) => {
      const errors = watchErrors(page);
      await signIn(page, "/users");
      await expect(page).toHaveURL(/\/users$/);
      await expect(page.locator("table.users thead th")).toHaveText([/^Name \/ ID/, /^Email/, /^Last activity/, /^Sessions/, /^Tags/, /^Columns/]);

      await page.getByLabel("Search users").fill("LISTCHECK");
      await page.getByRole("button", { name: "Search" }).click();
      await expect(page).toHaveURL(/[?&]q=LISTCHECK/);
      await expect(page.locator(".total")).toHaveText(`${PEOPLE + 1} users`);
      await expect(rows(page)).toHaveCount(50);

      // Sort by name, ascending: the header link says so.
      await page.getByRole("link", { name: /^Name \/ ID/ }).click();
      await expect(page).toHaveURL(/sort=-name/);
      await page.getByRole("link", { name: /^Name \/ ID/ }).click();
      await expect(page).toHaveURL(/sort=name/);
      await expect(rows(page).first().locator(".who")).toHaveText("Listcheck 00");
      await expect(page.locator('th[aria-sort="ascending"]')).toContainText("Name / ID");

      // The next page holds the rest; back and reload keep the view.
      await page.getByRole("link", { name: "Next page" }).click();
      await expect(rows(page)).toHaveCount(PEOPLE + 1 - 50);
      await expect(rows(page).last().locator(".who")).toHaveText("Listcheck <img src=x onerror=alert(1)>");
      await page.reload();
      await expect(rows(page)).toHaveCount(PEOPLE + 1 - 50);
      await page.goBack();
      await expect(rows(page)).toHaveCount(50);
      await expect(rows(page).first().locator(".who")).toHaveText("Listcheck 00");
      if (js) await page.screenshot({ path: test.info().outputPath("users.png"), fullPage: true });
      expect(errors).toEqual([]);
    });
  });
}
