import { defineConfig } from "vitest/config";

// Browser end-to-end tests: a real `ovation dev` (built from this
// repository) driven through Debian's Chromium with playwright-core.
export default defineConfig({
  test: {
    include: ["e2e/**/*.e2e.test.ts"],
    environment: "node",
    testTimeout: 180_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    reporters: ["verbose"],
  },
});
