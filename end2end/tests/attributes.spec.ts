// The Attributes page: every key with type, sources, users and last
// received; sortable; each opens the users who have it.
import { test, expect } from "@playwright/test";
import { BASE_URL, keys } from "../e2e-env";
import { signInAt } from "../sign-in";
import { watchErrors } from "../watch";

test.beforeAll(async ({ request }) => {
  const res = await request.post(`${BASE_URL}/api/v1/batch`, {
    headers: { Authorization: `Bearer ${keys().secret_key}` },
    data: {
      batch: [
        { user_id: "attr-1", attributes: { attr_color: "red", attr_size: 3 } },
        { user_id: "attr-2", attributes: { attr_color: "blue" } },
        { user_id: "attr-3", attributes: { attr_color: "green", attr_size: 5 } },
      ],
    },
  });
  expect(res.status()).toBe(200);
});

const signIn = signInAt;

for (const js of [true, false]) {
  test.describe(js ? "with JavaScript" : "without JavaScript", () => {
    test.use({ javaScriptEnabled: js });

    test("keys with their type, sources and users; click through to the users", async ({ page, request }) => {
      const api = await request.get(`${BASE_URL}/api/v1/attributes`, { headers: { Authorization: `Bearer ${keys().secret_key}` } });
      const defs: { name: string; users: number }[] = (await api.json()).attributes;
      const errors = watchErrors(page);
      await signIn(page, "/attributes");
      await expect(page).toHaveURL(/\/attributes$/);
      const color = page.locator('tr[data-attribute="attr_color"]');
      await expect(color.locator("td").nth(0)).toHaveText("string");
      await expect(color.getByRole("img", { name: "userdeck (SDK or API)" })).toBeVisible();
      await expect(color.locator("td.num")).toHaveText("3");
      await expect(page.locator('tr[data-attribute="attr_size"] td').nth(0)).toHaveText("number");
      await expect(page.locator("table.attribute-keys tbody tr")).toHaveCount(defs.length);

      // Sorted by users, most first.
      await page.getByRole("table").getByRole("link", { name: /^Users/ }).click();
      await page.getByRole("table").getByRole("link", { name: /^Users/ }).click();
      await expect(page).toHaveURL(/sort=-users/);
      const most = Math.max(...defs.map((d) => d.users));
      await expect(page.locator("table.attribute-keys tbody tr").first().locator("td.num")).toHaveText(String(most));

      if (js) await page.screenshot({ path: test.info().outputPath("attributes.png"), fullPage: true });
      // The users who have it.
      await page.getByRole("link", { name: "attr_size", exact: true }).click();
      await expect(page).toHaveURL(/\/users\?has=attr_size$/);
      await expect(page.locator(".total")).toContainText("2 users with the attribute attr_size");
      await expect(page.locator("table.users tbody tr")).toHaveCount(2);
      expect(errors).toEqual([]);
    });
  });
}

for (const js of [true, false]) {
  test.describe(js ? "chart with JavaScript" : "chart without JavaScript", () => {
    test.use({ javaScriptEnabled: js });

    test("an attribute opens its distribution as a chart", async ({ page }) => {
      const errors = watchErrors(page);
      await signInAt(page, "/attributes");
      await page.getByRole("link", { name: "Distribution of attr_color" }).click();
      await expect(page).toHaveURL(/\/attributes\/attr_color$/);
      await expect(page.locator("h1")).toContainText("attr_color");
      const chart = page.getByRole("img", { name: "Top 3 values" });
      await expect(chart).toBeVisible();
      await expect(chart.locator("rect.bar")).toHaveCount(3);
      await expect(chart.locator("text")).toContainText(["blue", "1", "green", "1", "red", "1"]);
      await page.getByText("Show as a table").click();
      await expect(page.locator(".distribution tbody tr")).toHaveCount(3);
      if (js) await page.screenshot({ path: test.info().outputPath("attribute-chart.png"), fullPage: true });

      await page.goto(`${BASE_URL}/attributes/attr_size`);
      const histogram = page.getByRole("img", { name: /^Histogram in \d+ bins, from 3 – 4 to 5 – 6$/ });
      await expect(histogram).toBeVisible();
      await page.getByRole("link", { name: "See them" }).click();
      await expect(page).toHaveURL(/\/users\?has=attr_size$/);
      await expect(page.locator(".total")).toHaveAttribute("data-total", "2");

      await page.goto(`${BASE_URL}/attributes/no_such_thing`);
      await expect(page.locator("h1")).toHaveText("No such attribute");
      expect(errors).toEqual([]);
    });
  });
}
