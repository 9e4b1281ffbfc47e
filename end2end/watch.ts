// Collects what would show a broken page: uncaught errors, console errors
// (hydration mismatches are logged there) and unexpected dialogs.
import type { Page } from "@playwright/test";

export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" || (m.type() === "warning" && /hydrat/i.test(m.text()))) errors.push(`console: ${m.text()}`);
  });
  page.on("dialog", (d) => errors.push(`dialog: ${d.message()}`));
  return errors;
}
