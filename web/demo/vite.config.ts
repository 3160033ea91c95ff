import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// The demo builds into cmd/ovation/demoassets, which the Go binary embeds
// (go:embed) and serves at /: the built files are committed so that
// `go build` works on a fresh clone without Node.
export default defineConfig({
  root: here("."),
  base: "/",
  resolve: { alias: { "@ovation/sdk": here("../sdk/src/index.ts") } },
  build: {
    outDir: here("../../cmd/ovation/demoassets"),
    emptyOutDir: true,
    target: "es2022",
    // Stable names without hashes keep the committed tree's diffs small;
    // the Go server sends no-cache so browsers revalidate.
    rollupOptions: {
      input: { index: here("index.html"), host: here("host.html") },
      output: { entryFileNames: "assets/[name].js", chunkFileNames: "assets/[name].js", assetFileNames: "assets/[name][extname]" },
    },
  },
  server: {
    // `npm run dev` with `ovation dev` running: the page reloads on edits.
    proxy: { "/v1": { target: "http://127.0.0.1:8080", ws: true } },
  },
});
