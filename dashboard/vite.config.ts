import { defineConfig } from "vite";

// The dashboard is served by petri itself (embedded at build time), so it
// talks to the same origin. `npm run dev` proxies the API to a local broker.
const broker = process.env.PETRI_BROKER ?? "http://127.0.0.1:50080";

export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: { target: "es2022", sourcemap: false, chunkSizeWarningLimit: 800 },
  server: {
    proxy: {
      "/api": broker,
      "/health": broker,
      "/pubsub": { target: broker.replace(/^http/, "ws"), ws: true },
    },
  },
});
