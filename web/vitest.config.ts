import { defineConfig } from "vitest/config";

// Unit tests only; the browser end-to-end tests have their own config
// (e2e/vitest.config.ts) because they need a built binary and Chromium.
export default defineConfig({
  test: {
    include: ["sdk/test/**/*.test.ts"],
    environment: "node",
    testTimeout: 10_000,
  },
});
