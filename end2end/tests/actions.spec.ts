// What a person does to users from the dashboard: attribute columns, tags,
// delete, CSV export; and the workspace and account in the layout.
import { test, expect, type Page } from "@playwright/test";
import * as fs from "node:fs";
import { ADMIN, BASE_URL, keys } from "../e2e-env";
import { signInAt } from "../sign-in";
import { watchErrors } from "../watch";

test.beforeAll(async ({ request }) => {
  const batch = Array.from({ length: 8 }, (_, i) => ({
    user_id: `act-${i}`,
    name: `Actioncheck ${i}`,
    email: `actioncheck${i}@example.com`,
    attributes: { act_plan: i % 2 ? "Pro" : "Free", act_seats: i * 10, act_company: i === 3 ? "=HYPERLINK(\"http://evil.example\")" : `Co ${i}` },
  }));
  const res = await request.post(`${BASE_URL}/api/v1/batch`, {
    headers: { Authorization: `Bearer ${keys().secret_key}` },
    data: { batch },
  });
  expect(res.status()).toBe(200);
});

const rows = (page: Page) => page.locator("table.users tbody tr");
const row = (page: Page, name: string) => rows(page).filter({ has: page.locator(".who", { hasText: new RegExp(`^${name}$`) }) });

for (const js of [true, false]) {
  test.describe(js ? "with JavaScript" : "without JavaScript", () => {
    test.use({ javaScriptEnabled: js });

    test("add and remove attribute columns; the choice is remembered", async ({ page }) => {
      const errors = watchErrors(page);
      await signInAt(page, "/users?q=actioncheck&sort=name");
      await expect(page.locator(".who-am-i .account")).toHaveText(ADMIN.email);
      await expect(page.locator(".who-am-i .workspace")).not.toBeEmpty();
      await page.locator(".columns-menu summary").click();
      await page.getByLabel("Add the column").selectOption("act_seats");
      await page.getByRole("button", { name: "Add column" }).click();
      await expect(page.locator("th.attr-col")).toHaveText([/^act_seats\s*×$/]);
      await expect(row(page, "Actioncheck 2").locator("td").nth(5)).toHaveText("20");
      await expect(page).toHaveURL(/q=actioncheck/);
      // The column sorts: most seats first, then fewest.
      await page.locator("th.attr-col a").click();
      await expect(page).toHaveURL(/sort=-attr%3Aact_seats/);
      await expect(rows(page).first().locator(".who")).toHaveText("Actioncheck 7");
      await expect(page.locator("th.attr-col")).toHaveAttribute("aria-sort", "descending");
      await page.locator("th.attr-col a").click();
      await expect(page).toHaveURL(/sort=attr%3Aact_seats/);
      await expect(rows(page).first().locator(".who")).toHaveText("Actioncheck 0");
      await page.goto(`${BASE_URL}/users`);
      await expect(page.locator("th.attr-col")).toHaveText([/^act_seats\s*×$/]);
      await page.getByRole("button", { name: "Remove the column act_seats" }).click();
      await expect(page.locator("th.attr-col")).toHaveCount(0);
      expect(errors).toEqual([]);
    });

    test("tag a user from the list, see and remove the tag on the profile", async ({ page }) => {
      const errors = watchErrors(page);
      const tag = js ? "vip-js" : "vip-nojs";
      await signInAt(page, "/users?q=actioncheck&sort=name");
      const r = row(page, "Actioncheck 1");
      await r.locator("summary").click();
      await r.getByLabel("New tag for Actioncheck 1").fill(tag);
      await r.getByRole("button", { name: "Add tag" }).click();
      await expect(row(page, "Actioncheck 1").locator("td.tags .chip")).toContainText([tag]);
      await row(page, "Actioncheck 1").locator(".who").click();
      await expect(page.locator("h1")).toHaveText("Actioncheck 1");
      await expect(page.locator(".profile-head .tags .chip")).toContainText([tag]);
      await page.getByRole("button", { name: `Remove tag ${tag}` }).click();
      await expect(page.locator(".profile-head .tags .chip")).toHaveCount(0);
      await page.getByLabel("New tag for Actioncheck 1").fill("x".repeat(41));
      // The browser stops more than 40 characters; the server says why too.
      await expect(page.getByLabel("New tag for Actioncheck 1")).toHaveValue("x".repeat(40));
      expect(errors).toEqual([]);
    });

    test("delete a user after confirming", async ({ page }) => {
      const errors = watchErrors(page);
      const victim = js ? "Actioncheck 6" : "Actioncheck 7";
      await signInAt(page, "/users?q=actioncheck&sort=name");
      const before = Number(await page.locator(".total").getAttribute("data-total"));
      const r = row(page, victim);
      await r.locator("summary").click();
      const button = r.getByRole("button", { name: "Delete user" });
      if (js) {
        // Unticked, the browser refuses to send the form.
        await button.click();
        await expect(row(page, victim)).toHaveCount(1);
      }
      await r.getByLabel(`Yes, delete ${victim} and all their data`).check();
      await button.click();
      await expect(row(page, victim)).toHaveCount(0);
      await expect(page.locator(".total")).toHaveAttribute("data-total", String(before - 1));
      expect(errors).toEqual([]);
    });

    test("export the current view as CSV", async ({ page }) => {
      const errors = watchErrors(page);
      await signInAt(page, "/users?q=actioncheck&sort=name");
      const download = page.waitForEvent("download");
      await page.getByRole("link", { name: "Export CSV" }).click();
      const file = await (await download).path();
      const lines = fs.readFileSync(file, "utf8").trim().split("\n");
      expect(lines[0]).toBe("jimer_id,user_id,name,email,language,first_seen,last_activity,sessions,created,tags");
      const names = lines.slice(1).map((l) => l.split(",")[2]);
      expect(names).toEqual([...names].sort());
      expect(names.every((n) => n.startsWith("Actioncheck"))).toBe(true);
      const total = Number(await page.locator(".total").getAttribute("data-total"));
      expect(lines.length - 1).toBe(total);
      expect(errors).toEqual([]);
    });
  });
}

test("the CSV export keeps a formula as text", async ({ page }) => {
  await signInAt(page, "/users?q=actioncheck%203");
  await page.locator(".columns-menu summary").click();
  await page.getByLabel("Add the column").selectOption("act_company");
  await page.getByRole("button", { name: "Add column" }).click();
  await expect(page.locator("th.attr-col")).toHaveCount(1);
  const res = await page.request.get(`${BASE_URL}/users/export.csv?q=actioncheck%203`);
  expect(res.headers()["content-disposition"]).toMatch(/attachment; filename="users-\d{4}-\d\d-\d\d\.csv"/);
  const body = await res.text();
  expect(body).toContain(`"'=HYPERLINK(""http://evil.example"")"`);
  await page.getByRole("button", { name: "Remove the column act_company" }).click();
  await expect(page.locator("th.attr-col")).toHaveCount(0);
});
