// Browser tests of the dashboard against a running fleet. Run by tests/e2e/test_web_dashboard.py
// (pytest starts the fleet and passes its gateway and keys), or by hand against `make dev`:
//   TRADEOPT_WEB_URL=http://127.0.0.1:8080 TRADEOPT_API_KEY=$(cat ../.run/api-key) \
//   TRADEOPT_READ_KEY=<a read-only key> npx playwright test
// The browser is the system's Chromium (Debian package `chromium`); Playwright never downloads one.
import { defineConfig } from "@playwright/test";

const out = process.env.TRADEOPT_WEB_ARTIFACTS ?? "test-results";

export default defineConfig({
  testDir: "tests",
  outputDir: `${out}/playwright`,
  timeout: 480_000,
  expect: { timeout: 15_000 },
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL: process.env.TRADEOPT_WEB_URL ?? "http://127.0.0.1:8080",
    viewport: { width: 1360, height: 900 },
    // an action whose target never appears fails in 30 s, not at the test's timeout
    actionTimeout: 30_000,
    screenshot: "only-on-failure",
    trace: "off",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
      ],
    },
  },
});
